"""Message service operators (messageservice.*)."""

from airflow_provider_bitrix24.operators.base import Bitrix24ActionOperator


class MessageServiceSendMessageOperator(Bitrix24ActionOperator):
    action_id = "message_service_send_message"  # noqa: E701


class MessageServiceGetProvidersOperator(Bitrix24ActionOperator):
    action_id = "message_service_get_providers"  # noqa: E701


class MessageServiceGetProviderLimitsOperator(Bitrix24ActionOperator):
    action_id = "message_service_get_provider_limits"  # noqa: E701


class MessageServiceGetMessageStatusOperator(Bitrix24ActionOperator):
    action_id = "message_service_get_message_status"  # noqa: E701
