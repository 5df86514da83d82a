"""CRM timeline operators: comments, notes, bindings, layout blocks, log messages."""

from airflow_provider_bitrix24.operators.base import Bitrix24ActionOperator


class TimelineGetCommentsOperator(Bitrix24ActionOperator):
    action_id = "timeline_get_comments"  # noqa: E701


class TimelineGetCommentOperator(Bitrix24ActionOperator):
    action_id = "timeline_get_comment"  # noqa: E701


class TimelineAddCommentOperator(Bitrix24ActionOperator):
    action_id = "timeline_add_comment"  # noqa: E701


class TimelineUpdateCommentOperator(Bitrix24ActionOperator):
    action_id = "timeline_update_comment"  # noqa: E701


class TimelineDeleteCommentOperator(Bitrix24ActionOperator):
    action_id = "timeline_delete_comment"  # noqa: E701


class TimelineGetCommentFieldsOperator(Bitrix24ActionOperator):
    action_id = "timeline_get_comment_fields"  # noqa: E701


class TimelineGetNoteOperator(Bitrix24ActionOperator):
    action_id = "timeline_get_note"  # noqa: E701


class TimelineSaveNoteOperator(Bitrix24ActionOperator):
    action_id = "timeline_save_note"  # noqa: E701


class TimelineDeleteNoteOperator(Bitrix24ActionOperator):
    action_id = "timeline_delete_note"  # noqa: E701


class TimelineBindOperator(Bitrix24ActionOperator):
    action_id = "timeline_bind"  # noqa: E701


class TimelineGetBindingsOperator(Bitrix24ActionOperator):
    action_id = "timeline_get_bindings"  # noqa: E701


class TimelineUnbindOperator(Bitrix24ActionOperator):
    action_id = "timeline_unbind"  # noqa: E701


class TimelineGetBindingsFieldsOperator(Bitrix24ActionOperator):
    action_id = "timeline_get_bindings_fields"  # noqa: E701


class TimelineSetLayoutBlocksOperator(Bitrix24ActionOperator):
    action_id = "timeline_set_layout_blocks"  # noqa: E701


class TimelineGetLayoutBlocksOperator(Bitrix24ActionOperator):
    action_id = "timeline_get_layout_blocks"  # noqa: E701


class TimelineDeleteLayoutBlocksOperator(Bitrix24ActionOperator):
    action_id = "timeline_delete_layout_blocks"  # noqa: E701


class TimelineAddLogMessageOperator(Bitrix24ActionOperator):
    action_id = "timeline_add_log_message"  # noqa: E701


class TimelineGetLogMessageOperator(Bitrix24ActionOperator):
    action_id = "timeline_get_log_message"  # noqa: E701


class TimelineGetLogMessagesOperator(Bitrix24ActionOperator):
    action_id = "timeline_get_log_messages"  # noqa: E701


class TimelineDeleteLogMessageOperator(Bitrix24ActionOperator):
    action_id = "timeline_delete_log_message"  # noqa: E701
