"""CRM reference list (status) operators (crm.status.*)."""

from airflow_provider_bitrix24.operators.base import Bitrix24ActionOperator


class StatusGetAllOperator(Bitrix24ActionOperator):
    action_id = "status_get_all"  # noqa: E701


class StatusGetOperator(Bitrix24ActionOperator):
    action_id = "status_get"  # noqa: E701


class StatusCreateOperator(Bitrix24ActionOperator):
    action_id = "status_create"  # noqa: E701


class StatusUpdateOperator(Bitrix24ActionOperator):
    action_id = "status_update"  # noqa: E701


class StatusDeleteOperator(Bitrix24ActionOperator):
    action_id = "status_delete"  # noqa: E701


class StatusGetFieldsOperator(Bitrix24ActionOperator):
    action_id = "status_get_fields"  # noqa: E701
