"""Event handler operators (event.*); they need an OAuth application."""

from airflow_provider_bitrix24.operators.base import Bitrix24ActionOperator


class EventsRegisterHandlerOperator(Bitrix24ActionOperator):
    action_id = "events_register_handler"  # noqa: E701


class EventsUnregisterHandlerOperator(Bitrix24ActionOperator):
    action_id = "events_unregister_handler"  # noqa: E701


class EventsGetHandlersOperator(Bitrix24ActionOperator):
    action_id = "events_get_handlers"  # noqa: E701
