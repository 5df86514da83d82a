"""Telephony operators (telephony.*, voximplant.*)."""

from airflow_provider_bitrix24.operators.base import Bitrix24ActionOperator


class TelephonyRegisterExternalCallOperator(Bitrix24ActionOperator): action_id = "telephony_register_external_call"  # noqa: E701
class TelephonyFinishExternalCallOperator(Bitrix24ActionOperator): action_id = "telephony_finish_external_call"  # noqa: E701
class TelephonyHideExternalCallOperator(Bitrix24ActionOperator): action_id = "telephony_hide_external_call"  # noqa: E701
class TelephonyShowExternalCallOperator(Bitrix24ActionOperator): action_id = "telephony_show_external_call"  # noqa: E701
class TelephonySearchCrmEntitiesOperator(Bitrix24ActionOperator): action_id = "telephony_search_crm_entities"  # noqa: E701
class TelephonyAttachCallRecordOperator(Bitrix24ActionOperator): action_id = "telephony_attach_call_record"  # noqa: E701
class TelephonyGetExternalLineOperator(Bitrix24ActionOperator): action_id = "telephony_get_external_line"  # noqa: E701
class TelephonyAddExternalLineOperator(Bitrix24ActionOperator): action_id = "telephony_add_external_line"  # noqa: E701
class TelephonyUpdateExternalLineOperator(Bitrix24ActionOperator): action_id = "telephony_update_external_line"  # noqa: E701
class TelephonyDeleteExternalLineOperator(Bitrix24ActionOperator): action_id = "telephony_delete_external_line"  # noqa: E701
class TelephonyGetVoximplantStatisticsOperator(Bitrix24ActionOperator): action_id = "telephony_get_voximplant_statistics"  # noqa: E701
class TelephonyGetVoximplantLineOperator(Bitrix24ActionOperator): action_id = "telephony_get_voximplant_line"  # noqa: E701
class TelephonyGetVoximplantSipConnectorOperator(Bitrix24ActionOperator): action_id = "telephony_get_voximplant_sip_connector"  # noqa: E701
class TelephonyGetVoximplantSipLineOperator(Bitrix24ActionOperator): action_id = "telephony_get_voximplant_sip_line"  # noqa: E701
class TelephonyAddVoximplantSipLineOperator(Bitrix24ActionOperator): action_id = "telephony_add_voximplant_sip_line"  # noqa: E701
class TelephonyUpdateVoximplantSipLineOperator(Bitrix24ActionOperator): action_id = "telephony_update_voximplant_sip_line"  # noqa: E701
class TelephonyDeleteVoximplantSipLineOperator(Bitrix24ActionOperator): action_id = "telephony_delete_voximplant_sip_line"  # noqa: E701
