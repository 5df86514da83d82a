"""Open line operators (imopenlines.*)."""

from __future__ import annotations

from typing import Any

from airflow_provider_bitrix24.catalogue.params import find
from airflow_provider_bitrix24.operators.base import Bitrix24ActionOperator


class SessionChatOperator(Bitrix24ActionOperator):
    """Base of the session actions that work on the open-line chat: resolve ``CHAT_ID`` from
    ``SESSION_ID`` with the row's first method (skipped when ``CHAT_ID`` is given), then call the
    row's second method, picked by the row's selector where it has alternatives."""

    def run(self, hook: Any, params: dict) -> Any:
        params = dict(params)
        chat_key, session_key = find(params, "CHAT_ID"), find(params, "SESSION_ID")
        session_id = params.pop(session_key) if session_key else None
        chat_id = params.pop(chat_key) if chat_key else None
        if chat_id is None:
            dialog = hook.call(self.method(0), {"SESSION_ID": session_id})
            chat_id = dialog["id"]
        return hook.call(self.method(1), {"CHAT_ID": chat_id, **params})


class OpenLinesGetOpenLinesOperator(Bitrix24ActionOperator):
    action_id = "open_lines_get_open_lines"  # noqa: E701


class OpenLinesGetSessionOperator(Bitrix24ActionOperator):
    action_id = "open_lines_get_session"  # noqa: E701


class OpenLinesStartSessionOperator(Bitrix24ActionOperator):
    action_id = "open_lines_start_session"  # noqa: E701


class OpenLinesFinishSessionOperator(SessionChatOperator):
    action_id = "open_lines_finish_session"  # noqa: E701


class OpenLinesSendMessageOperator(Bitrix24ActionOperator):
    action_id = "open_lines_send_message"  # noqa: E701


class OpenLinesGetMessagesOperator(Bitrix24ActionOperator):
    action_id = "open_lines_get_messages"  # noqa: E701


class OpenLinesTransferSessionOperator(SessionChatOperator):
    action_id = "open_lines_transfer_session"  # noqa: E701


class OpenLinesCloseSessionOperator(SessionChatOperator):
    action_id = "open_lines_close_session"  # noqa: E701


# A second public name of the close action's class.
CloseOpenLineSessionOperator = OpenLinesCloseSessionOperator
