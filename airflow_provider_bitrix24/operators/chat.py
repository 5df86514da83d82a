"""Messenger chat operators (im.*)."""

from airflow_provider_bitrix24.operators.base import Bitrix24ActionOperator


class ChatSendMessageOperator(Bitrix24ActionOperator): action_id = "chat_send_message"  # noqa: E701
class ChatGetMessagesOperator(Bitrix24ActionOperator): action_id = "chat_get_messages"  # noqa: E701
class ChatUpdateMessageOperator(Bitrix24ActionOperator): action_id = "chat_update_message"  # noqa: E701
class ChatDeleteMessageOperator(Bitrix24ActionOperator): action_id = "chat_delete_message"  # noqa: E701
class ChatCreateChatOperator(Bitrix24ActionOperator): action_id = "chat_create_chat"  # noqa: E701
class ChatGetChatOperator(Bitrix24ActionOperator): action_id = "chat_get_chat"  # noqa: E701
class ChatUpdateChatOperator(Bitrix24ActionOperator): action_id = "chat_update_chat"  # noqa: E701
class ChatGetChatUsersOperator(Bitrix24ActionOperator): action_id = "chat_get_chat_users"  # noqa: E701
