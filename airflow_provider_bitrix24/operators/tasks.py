"""Task operators (tasks.task.* and task comments)."""

from airflow_provider_bitrix24.operators.base import Bitrix24ActionOperator


class TaskCreateOperator(Bitrix24ActionOperator):
    action_id = "task_create"  # noqa: E701


class TaskGetOperator(Bitrix24ActionOperator):
    action_id = "task_get"  # noqa: E701


class TaskGetAllOperator(Bitrix24ActionOperator):
    action_id = "task_get_all"  # noqa: E701


class TaskUpdateOperator(Bitrix24ActionOperator):
    action_id = "task_update"  # noqa: E701


class TaskDeleteOperator(Bitrix24ActionOperator):
    action_id = "task_delete"  # noqa: E701


class TaskAddCommentOperator(Bitrix24ActionOperator):
    action_id = "task_add_comment"  # noqa: E701


class TaskCompleteOperator(Bitrix24ActionOperator):
    action_id = "task_complete"  # noqa: E701


class TaskStartOperator(Bitrix24ActionOperator):
    action_id = "task_start"  # noqa: E701


class TaskPauseOperator(Bitrix24ActionOperator):
    action_id = "task_pause"  # noqa: E701
