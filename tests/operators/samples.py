"""Sample inputs for running every catalogue action against the emulator.

``sample_parameters(action)`` builds the smallest parameter set the action's required column
asks for; ``OVERRIDES`` replaces values where the emulator core models real records (their ids
come from :func:`seed`) or where a row needs a specific value to reach all of its calls.
"""

from __future__ import annotations

from typing import Any

import requests

from airflow_provider_bitrix24.catalogue import Action, methods
from airflow_provider_bitrix24.catalogue.params import STRUCTURED_NAMES, OneOf, Param
from airflow_provider_bitrix24.emulator.handlers.disk import drive
from airflow_provider_bitrix24.emulator.handlers.sensors_support import start_workflow

SPA_TYPE_ID = 1038


def _scalar(name: str) -> Any:
    lowered = name.lower()
    if lowered == "email":
        return "someone@example.com"
    if lowered in ("dialog_id",):
        return "chat1"
    if lowered.endswith("id") or lowered in ("id", "number"):
        return 1
    return "x"


def _value(param: Param) -> Any:
    if param.choices:
        return param.choices[0]
    if param.is_array:
        return [_scalar(param.name)]
    if param.is_object or param.name.casefold() in STRUCTURED_NAMES:
        return {p.name: _value(p) for p in _first_options(param.keys) if p.value is None} or {"TITLE": "x"}
    return _scalar(param.name)


def _first_options(terms: tuple) -> list[Param]:
    return [t.options[0] if isinstance(t, OneOf) else t for t in terms]


def sample_parameters(action: Action, ids: dict[str, Any], variant: str | None = None) -> dict:
    params = {
        p.name: _value(p) for p in _first_options(action.required.terms) if p.value is None or p.is_object
    }
    if action.webhook_client_id:
        params["CLIENT_ID"] = "walk-bot"  # the bot methods need it over a webhook
    if action.module == "disk":
        params.update(_drive_parameters(action, ids, variant))
    override = OVERRIDES.get(action.action_id)
    if override:
        params.update(override(ids) if callable(override) else override)
    return params


def operator_kwargs(action: Action, ids: dict[str, Any], tmp_path: Any, variant: str | None = None) -> dict:
    """Constructor arguments that run ``action`` through all of its calls."""
    if action.action_id == "direct_api_call":
        return {"method": "user.current"}
    if action.action_id == "direct_api_batch":
        return {"commands": {"me": ["user.current", {}], "time": ["user.current", {}]}}
    kwargs: dict[str, Any] = {"parameters": sample_parameters(action, ids, variant)}
    if variant is not None:
        kwargs[action.selector] = variant
    if action.binary_down:
        target = tmp_path / "download"
        if action.action_id == "lists_get_element_file":
            target.mkdir()
        kwargs["output_path"] = str(target)
    if action.action_id in UPLOADS:
        source = tmp_path / (
            "record.mp3" if action.action_id == "telephony_attach_call_record" else "upload.txt"
        )
        source.write_bytes(UPLOAD_BYTES)
        kwargs["files"] = {
            path: [str(source)] if many else str(source) for path, many in UPLOADS[action.action_id].items()
        }
        kwargs["parameters"].pop("fileContent", None)
    return kwargs


UPLOAD_BYTES = b"hello bitrix24"
# BINARY-UP rows: parameter path that receives the file -> whether it takes a list of files.
UPLOADS: dict[str, dict[str, bool]] = {
    "file_upload_file": {"fileContent": False},
    "disk_upload_file": {"fileContent": False},
    "telephony_attach_call_record": {"FILE_CONTENT": False},
    "document_generator_create_template": {"fields.file": False},
    "chatbot_update_chat_avatar": {"AVATAR": False},
    "timeline_add_comment": {"fields.FILES": True},
    "lists_add_element": {"FIELDS.PROPERTY_1": False},
}


# Drive rows: which kind of object their ``id`` names (variants override by their own kind).
_FILE_ROWS = {
    "file_get_file",
    "file_download_file",
    "file_delete_file",
    "file_move_file",
    "file_copy_file",
    "disk_download_file",
    "disk_delete_file",
    "disk_get_file_info",
    "disk_get_file",
    "disk_copy_file",
    "disk_move_file",
    "disk_rename_file",
}
_STORAGE_ROWS = {"disk_get_storage_info", "disk_get_storage"}
_VARIANT_KIND = {"storage": "storage", "file_link": "file", "user": "folder", "folder_link": "folder"}


def _drive_parameters(action: Action, ids: dict[str, Any], variant: str | None) -> dict:
    kind = _VARIANT_KIND.get(variant or "") or (
        "file"
        if action.action_id in _FILE_ROWS
        else "storage"
        if action.action_id in _STORAGE_ROWS
        else "folder"
    )
    params: dict[str, Any] = {}
    names = {p.name for p in action.required.params()} | {p.name for p in action.optional.params()}
    if "id" in names:
        params["id"] = ids[f"drive.{kind}"]
    if "targetFolderId" in names:
        params["targetFolderId"] = ids["drive.target"]
    if "newName" in names:
        params["newName"] = "renamed.txt"
    if "taskName" in names:
        params.update(userId=1, taskName="disk_access_read")
    if "data" in names:
        params["data"] = {"NAME": "created"}
    if "generateUniqueName" in names:
        params["generateUniqueName"] = True  # no name-conflict lookup before the upload
    return params


def seed(emu: Any) -> dict[str, Any]:
    """Records the core-modelled methods need; returns their ids."""
    ids: dict[str, Any] = {}
    for entity in ("crm.deal", "crm.lead", "crm.contact", "crm.company"):
        ids[entity] = emu.seed(
            entity,
            [
                {
                    "TITLE": "sample",
                    "NAME": "Sam",
                    "PHONE": [{"VALUE": "+100", "VALUE_TYPE": "WORK"}],
                    "EMAIL": [{"VALUE": "sam@example.com", "VALUE_TYPE": "WORK"}],
                }
            ],
        )[0]
    ids["invoice"] = emu.seed("crm.item", [{"title": "invoice"}], entity_type_id=31)[0]
    ids["spa_item"] = emu.seed("crm.item", [{"title": "item"}], entity_type_id=SPA_TYPE_ID)[0]
    ids["task"] = emu.seed("tasks.task", [{"TITLE": "sample", "RESPONSIBLE_ID": 1}])[0]
    ids["session"] = emu.seed("imopenlines.session", [{"CHAT_ID": 7, "USER_CODE": "livechat|1|1|1"}])[0]
    ids["workflow"] = start_workflow(emu.portal)
    state = drive(emu.portal)
    storage = state.add_storage("user", 1, "My drive")
    folder, target = (
        requests.post(
            f"{emu.webhook_url}disk.storage.addfolder",
            json={"id": storage["ID"], "data": {"NAME": name}},
            timeout=10,
        ).json()["result"]
        for name in ("Work", "Archive")
    )
    ids.update(
        {
            "drive.storage": storage["ID"],
            "drive.folder": folder["ID"],
            "drive.target": target["ID"],
            "drive.file": state.add_file(folder["ID"], "notes.txt", b"hello")["ID"],
        }
    )
    return ids


def _crm(entity: str, key: str = "id"):
    return lambda ids: {key: ids[f"crm.{entity}"]}


OVERRIDES: dict[str, Any] = {
    "crm_invoice_update": lambda ids: {"id": ids["invoice"], "fields": {"title": "changed"}},
    "crm_invoice_get": lambda ids: {"id": ids["invoice"]},
    "crm_invoice_delete": lambda ids: {"id": ids["invoice"]},
    "spa_get_fields": {"entityTypeId": SPA_TYPE_ID},
    "spa_get_items": {"entityTypeId": SPA_TYPE_ID},
    "spa_get_item": lambda ids: {"entityTypeId": SPA_TYPE_ID, "id": ids["spa_item"]},
    "spa_create_item": {"entityTypeId": SPA_TYPE_ID, "fields": {"title": "new"}},
    "spa_update_item": lambda ids: {
        "entityTypeId": SPA_TYPE_ID,
        "id": ids["spa_item"],
        "fields": {"title": "changed"},
    },
    "spa_delete_item": lambda ids: {"entityTypeId": SPA_TYPE_ID, "id": ids["spa_item"]},
    "spa_get_spa_status": {"entityTypeId": SPA_TYPE_ID},
    "spa_get_spa_settings": {"entityTypeId": SPA_TYPE_ID},
    "spa_get_spa_info": {"entityTypeId": SPA_TYPE_ID},
    "task_create": {"fields": {"TITLE": "new", "RESPONSIBLE_ID": 1}},
    "user_get": {"FILTER": {"ID": 1}},
    "user_update": {"ID": 1},
    "chat_update_chat": {"CHAT_ID": 1, "TITLE": "t", "COLOR": "RED", "AVATAR": "aGVsbG8="},
    "duplicate_find_duplicates": lambda ids: {"entityTypeId": 3, "id": ids["crm.contact"]},
    "duplicate_find_by_communication": {"type": "EMAIL", "values": ["sam@example.com"]},
    "duplicate_enable_duplicate_control": {"entityTypeId": "3", "fieldCode": "NAME"},
    "open_lines_finish_session": lambda ids: {"SESSION_ID": ids["session"]},
    "open_lines_transfer_session": lambda ids: {"SESSION_ID": ids["session"], "TRANSFER_ID": 2},
    "open_lines_close_session": lambda ids: {"SESSION_ID": ids["session"]},
    "open_lines_get_session": lambda ids: {"SESSION_ID": ids["session"]},
    "open_lines_get_messages": lambda ids: {"SESSION_ID": ids["session"]},
    "open_lines_start_session": {"CHAT_ID": 7},
    "user_field_config_add_multiple": {
        "moduleId": "crm",
        "fields": [
            {"entityId": "CRM_DEAL", "fieldName": "UF_CRM_A", "userTypeId": "string"},
            {"entityId": "CRM_DEAL", "fieldName": "UF_CRM_B", "userTypeId": "string"},
        ],
    },
    "workflow_kill_workflow": lambda ids: {"ID": ids["workflow"]},
    "open_lines_send_message": {"CHAT_ID": 7, "MESSAGE": "hello"},
    "workflow_start_workflow": {"TEMPLATE_ID": 1, "DOCUMENT_ID": ["crm", "CCrmDocumentDeal", "DEAL_1"]},
    "calendar_add_event": {
        "type": "user",
        "ownerId": 1,
        "from": "2026-01-01",
        "to": "2026-01-02",
        "section": 1,
        "name": "e",
    },
}
for _entity in ("contact", "deal", "lead", "company"):
    for _op in ("get", "delete"):
        OVERRIDES[f"crm_{_entity}_{_op}"] = _crm(_entity)
    OVERRIDES[f"crm_{_entity}_update"] = (
        lambda e: lambda ids: {"id": ids[f"crm.{e}"], "fields": {"TITLE": "changed"}}
    )(_entity)
for _op in ("get", "update", "delete", "complete", "start", "pause"):
    OVERRIDES[f"task_{_op}"] = (
        lambda op: (
            lambda ids: {"taskId": ids["task"], **({"fields": {"TITLE": "t"}} if op == "update" else {})}
        )
    )(_op)
OVERRIDES["task_add_comment"] = lambda ids: {"TASKID": ids["task"], "FIELDS": {"POST_MESSAGE": "hi"}}


def rest_calls(emu) -> list[str]:
    """REST methods the emulator executed, batch commands flattened, file links left out."""
    return [r.method for r in emu.calls() if r.http_method == "POST" and r.method in methods()]


def distinct(seq: list[str]) -> list[str]:
    """``seq`` with consecutive repeats collapsed (pages of one list method count once)."""
    return [m for i, m in enumerate(seq) if i == 0 or seq[i - 1] != m]
