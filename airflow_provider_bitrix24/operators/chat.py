"""Messenger chat operators (im.*)."""

from __future__ import annotations

from typing import Any

from airflow_provider_bitrix24.catalogue.params import ParameterError, find
from airflow_provider_bitrix24.operators.base import Bitrix24ActionOperator


class ChatUpdateChatOperator(Bitrix24ActionOperator):
    """Change a group chat's title, colour and/or avatar: one setter call per value given
    (``files={"AVATAR": path}`` encodes an image). Returns ``{"TITLE": true, ...}``."""

    action_id = "chat_update_chat"

    def run(self, hook: Any, params: dict) -> Any:
        target = {k: params[k] for k in (find(params, "CHAT_ID"), find(params, "DIALOG_ID")) if k}
        calls = []
        for (setter,) in self.action.steps:  # im.chat.updatetitle -> TITLE
            key = find(params, setter.rsplit(".update", 1)[1].upper())
            if key:
                calls.append((setter, key.upper(), {**target, key: params[key]}))
        if not calls:
            names = ", ".join(s.rsplit(".update", 1)[1].upper() for (s,) in self.action.steps)
            raise ParameterError(
                self.action_id, f"nothing to change: give at least one of {names}", self.action.doc()
            )
        return {name: hook.call(setter, body) for setter, name, body in calls}


class ChatSendMessageOperator(Bitrix24ActionOperator):
    action_id = "chat_send_message"  # noqa: E701


class ChatGetMessagesOperator(Bitrix24ActionOperator):
    action_id = "chat_get_messages"  # noqa: E701


class ChatUpdateMessageOperator(Bitrix24ActionOperator):
    action_id = "chat_update_message"  # noqa: E701


class ChatDeleteMessageOperator(Bitrix24ActionOperator):
    action_id = "chat_delete_message"  # noqa: E701


class ChatCreateChatOperator(Bitrix24ActionOperator):
    action_id = "chat_create_chat"  # noqa: E701


class ChatGetChatOperator(Bitrix24ActionOperator):
    action_id = "chat_get_chat"  # noqa: E701


class ChatGetChatUsersOperator(Bitrix24ActionOperator):
    action_id = "chat_get_chat_users"  # noqa: E701
