"""Tasks: ``tasks.task.*`` (UPPER_CASE parameters in, camelCase string values out, replies
wrapped in ``task`` / ``tasks``)."""

from __future__ import annotations

from ..entities import EntitySpec, register_entity

_BASE_TIME = 1_700_000_000.0
_STATUSES = (2, 3, 5)  # pending, in progress, completed

TASK = register_entity(
    EntitySpec(
        name="tasks.task",
        fields={
            "ID": "integer",
            "PARENT_ID": "integer",
            "TITLE": "string",
            "DESCRIPTION": "string",
            "MARK": "string",
            "PRIORITY": "enum",
            "STATUS": "enum",
            "MULTITASK": "char",
            "GROUP_ID": "integer",
            "STAGE_ID": "integer",
            "CREATED_BY": "integer",
            "CREATED_DATE": "datetime",
            "RESPONSIBLE_ID": "integer",
            "CHANGED_BY": "integer",
            "CHANGED_DATE": "datetime",
            "CLOSED_DATE": "datetime",
            "DEADLINE": "datetime",
            "START_DATE_PLAN": "datetime",
            "END_DATE_PLAN": "datetime",
            "TIME_ESTIMATE": "integer",
            "ACTIVITY_DATE": "datetime",
        },
        required=("TITLE", "RESPONSIBLE_ID"),
        defaults={
            "PARENT_ID": None,
            "DESCRIPTION": "",
            "MARK": None,
            "PRIORITY": 1,
            "STATUS": 2,
            "MULTITASK": "N",
            "GROUP_ID": 0,
            "STAGE_ID": 0,
            "TIME_ESTIMATE": 0,
        },
        id_param="taskId",
        case="camel",
        list_key="tasks",
        item_key="task",
        add_returns="item",
        update_returns="item",
        delete_result={"task": True},
        fields_key="fields",
        get_missing=[],  # the documented reply for a task that does not exist or is not visible
        not_found=(400, "0", "Action on the task is not allowed (internal error)"),
        created_field="CREATED_DATE",
        modified_field="CHANGED_DATE",
        created_by_field="CREATED_BY",
        modified_by_field="CHANGED_BY",
        methods={"fields": "tasks.task.getfields"},
        sample=lambda row_id: {
            "TITLE": f"Task #{row_id}",
            "RESPONSIBLE_ID": 1,
            "CREATED_BY": 1,
            "CHANGED_BY": 1,
            "PRIORITY": 1,
            "STATUS": _STATUSES[row_id % len(_STATUSES)],
            "CREATED_DATE": _BASE_TIME + row_id * 60.0,
            "CHANGED_DATE": _BASE_TIME + row_id * 60.0 + 30.0,
        },
    )
)
