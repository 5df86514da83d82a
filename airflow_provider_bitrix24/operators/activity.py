"""CRM activity operators (crm.activity.*)."""

from airflow_provider_bitrix24.operators.base import Bitrix24ActionOperator


class ActivityCreateOperator(Bitrix24ActionOperator):
    action_id = "activity_create"  # noqa: E701


class ActivityUpdateOperator(Bitrix24ActionOperator):
    action_id = "activity_update"  # noqa: E701


class ActivityDeleteOperator(Bitrix24ActionOperator):
    action_id = "activity_delete"  # noqa: E701


class ActivityGetOperator(Bitrix24ActionOperator):
    action_id = "activity_get"  # noqa: E701


class ActivityGetAllOperator(Bitrix24ActionOperator):
    action_id = "activity_get_all"  # noqa: E701


class ActivityGetFieldsOperator(Bitrix24ActionOperator):
    action_id = "activity_get_fields"  # noqa: E701
