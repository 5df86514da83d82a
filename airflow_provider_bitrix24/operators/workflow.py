"""Business process operators (bizproc.workflow.*, bizproc.task.*)."""

from airflow_provider_bitrix24.operators.base import Bitrix24ActionOperator


class WorkflowStartWorkflowOperator(Bitrix24ActionOperator):
    action_id = "workflow_start_workflow"  # noqa: E701


class WorkflowGetTaskOperator(Bitrix24ActionOperator):
    action_id = "workflow_get_task"  # noqa: E701


class WorkflowGetTasksOperator(Bitrix24ActionOperator):
    action_id = "workflow_get_tasks"  # noqa: E701


class WorkflowCompleteTaskOperator(Bitrix24ActionOperator):
    action_id = "workflow_complete_task"  # noqa: E701


class WorkflowGetWorkflowOperator(Bitrix24ActionOperator):
    action_id = "workflow_get_workflow"  # noqa: E701


class WorkflowGetWorkflowsOperator(Bitrix24ActionOperator):
    action_id = "workflow_get_workflows"  # noqa: E701


class WorkflowKillWorkflowOperator(Bitrix24ActionOperator):
    action_id = "workflow_kill_workflow"  # noqa: E701


class WorkflowGetTemplatesOperator(Bitrix24ActionOperator):
    action_id = "workflow_get_templates"  # noqa: E701
