"""Chatbot operators (imbot.*, first generation)."""

from airflow_provider_bitrix24.operators.base import Bitrix24ActionOperator


class ChatbotRegisterBotOperator(Bitrix24ActionOperator):
    action_id = "chatbot_register_bot"  # noqa: E701


class ChatbotUnregisterBotOperator(Bitrix24ActionOperator):
    action_id = "chatbot_unregister_bot"  # noqa: E701


class ChatbotUpdateBotOperator(Bitrix24ActionOperator):
    action_id = "chatbot_update_bot"  # noqa: E701


class ChatbotRegisterCommandOperator(Bitrix24ActionOperator):
    action_id = "chatbot_register_command"  # noqa: E701


class ChatbotUnregisterCommandOperator(Bitrix24ActionOperator):
    action_id = "chatbot_unregister_command"  # noqa: E701


class ChatbotUpdateCommandOperator(Bitrix24ActionOperator):
    action_id = "chatbot_update_command"  # noqa: E701


class ChatbotAnswerCommandOperator(Bitrix24ActionOperator):
    action_id = "chatbot_answer_command"  # noqa: E701


class ChatbotSendMessageOperator(Bitrix24ActionOperator):
    action_id = "chatbot_send_message"  # noqa: E701


class ChatbotUpdateMessageOperator(Bitrix24ActionOperator):
    action_id = "chatbot_update_message"  # noqa: E701


class ChatbotDeleteMessageOperator(Bitrix24ActionOperator):
    action_id = "chatbot_delete_message"  # noqa: E701


class ChatbotSendTypingOperator(Bitrix24ActionOperator):
    action_id = "chatbot_send_typing"  # noqa: E701


class ChatbotGetChatOperator(Bitrix24ActionOperator):
    action_id = "chatbot_get_chat"  # noqa: E701


class ChatbotLeaveChatOperator(Bitrix24ActionOperator):
    action_id = "chatbot_leave_chat"  # noqa: E701


class ChatbotSetChatOwnerOperator(Bitrix24ActionOperator):
    action_id = "chatbot_set_chat_owner"  # noqa: E701


class ChatbotUpdateChatAvatarOperator(Bitrix24ActionOperator):
    action_id = "chatbot_update_chat_avatar"  # noqa: E701


class ChatbotUpdateChatColorOperator(Bitrix24ActionOperator):
    action_id = "chatbot_update_chat_color"  # noqa: E701


class ChatbotUpdateChatTitleOperator(Bitrix24ActionOperator):
    action_id = "chatbot_update_chat_title"  # noqa: E701


class ChatbotAddChatUserOperator(Bitrix24ActionOperator):
    action_id = "chatbot_add_chat_user"  # noqa: E701


class ChatbotListChatUsersOperator(Bitrix24ActionOperator):
    action_id = "chatbot_list_chat_users"  # noqa: E701


class ChatbotDeleteChatUserOperator(Bitrix24ActionOperator):
    action_id = "chatbot_delete_chat_user"  # noqa: E701
