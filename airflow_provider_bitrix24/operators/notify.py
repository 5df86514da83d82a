"""Notification operators (im.notify.*)."""

from airflow_provider_bitrix24.operators.base import Bitrix24ActionOperator


class NotifySendSystemNotificationOperator(Bitrix24ActionOperator):
    action_id = "notify_send_system_notification"  # noqa: E701


class NotifySendPersonalNotificationOperator(Bitrix24ActionOperator):
    action_id = "notify_send_personal_notification"  # noqa: E701


class NotifySendPublicNotificationOperator(Bitrix24ActionOperator):
    action_id = "notify_send_public_notification"  # noqa: E701


class NotifyDeleteNotificationOperator(Bitrix24ActionOperator):
    action_id = "notify_delete_notification"  # noqa: E701


class NotifyMarkAsReadOperator(Bitrix24ActionOperator):
    action_id = "notify_mark_as_read"  # noqa: E701


class NotifyMarkAsUnreadOperator(Bitrix24ActionOperator):
    action_id = "notify_mark_as_unread"  # noqa: E701


class NotifyGetNotificationsOperator(Bitrix24ActionOperator):
    action_id = "notify_get_notifications"  # noqa: E701


class NotifyGetSchemaOperator(Bitrix24ActionOperator):
    action_id = "notify_get_schema"  # noqa: E701


class NotifyConfirmNotificationOperator(Bitrix24ActionOperator):
    action_id = "notify_confirm_notification"  # noqa: E701


class NotifyAnswerNotificationOperator(Bitrix24ActionOperator):
    action_id = "notify_answer_notification"  # noqa: E701
