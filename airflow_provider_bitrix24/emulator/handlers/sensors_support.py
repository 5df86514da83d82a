"""Emulated methods the sensors wait on: the offline event queue and running workflows.

Offline events (``event.offline.get|list|clear|error``) answer only an application's OAuth
token, like the portal. The queue keeps one record per object (``EVENT_NAME`` + ``MESSAGE_ID``):
queuing the same change again moves its timestamp instead of adding a row. ``get`` with
``clear=0`` reserves rows under a ``process_id``; ``clear`` deletes reserved rows (all of a
process, or by ``id`` / ``message_id``); ``error`` flags rows so only ``error=1`` returns them.

Workflows (``bizproc.workflow.start|instances|terminate|kill``): an instance is listed by
``instances`` until it finishes; :func:`finish_workflow` (or ``runs_for`` seconds) ends it.

Test helpers take the :class:`~..state.Portal` (``emu.portal``). A method another module
already serves is not registered here again.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from typing import Any

from ..registry import HANDLERS, ApiError, CallContext, Reply, method
from ..table import FilterError, Table, format_datetime, split_filter_key

EVENTS_TABLE = "event.offline"
WORKFLOWS_TABLE = "bizproc.workflow"
PAGE = 50


def _serve(*names: str) -> Callable:
    """Register ``fn`` for the names no other handler module serves yet."""

    def register(fn: Callable) -> Callable:
        free = [n for n in names if n.lower() not in HANDLERS]
        return method(*free)(fn) if free else fn

    return register


def _table(portal: Any, name: str, datetime_columns: tuple[str, ...]) -> Table:
    table = portal.tables.get(name)
    if table is None:
        table = Table(name, "ID", datetime_columns, portal.tz)
        portal.tables[name] = table
    return table


def _ci(params: dict, name: str, default: Any = None) -> Any:
    for key, value in params.items():
        if str(key).lower() == name.lower():
            return value
    return default


def _order(raw: Any, default: list[tuple[str, bool]]) -> list[tuple[str, bool]]:
    if not isinstance(raw, dict) or not raw:
        return default
    return [(str(k).upper(), str(v).upper() == "DESC") for k, v in raw.items()]


def _upper_filter(raw: Any) -> dict:
    if not isinstance(raw, dict):
        return {}
    out = {}
    for key, value in raw.items():
        op, column = split_filter_key(str(key))
        out[f"{op if op != '=' or str(key).startswith('=') else ''}{column.upper()}"] = value
    return out


# ------------------------------------------------------------------------------------------
# Offline events
# ------------------------------------------------------------------------------------------


def _events(portal: Any) -> Table:
    return _table(portal, EVENTS_TABLE, ("TIMESTAMP_X",))


def queue_offline_event(
    portal: Any,
    event_name: str,
    data: Any = None,
    *,
    message_id: str | None = None,
    additional: Any = None,
    auth_connector: str = "",
) -> int:
    """Queue an event as the portal does after a change (test helper); returns the record ID.

    ``message_id`` names the changed object; a pending record for the same event and object is
    refreshed instead of duplicated.
    """
    with portal.lock:
        table = _events(portal)
        name = event_name.upper()
        message_id = message_id or secrets.token_hex(16)
        fields = {
            "TIMESTAMP_X": time.time(),
            "EVENT_NAME": name,
            "EVENT_DATA": data if data is not None else False,
            "EVENT_ADDITIONAL": additional if additional is not None else False,
            "MESSAGE_ID": message_id,
            "PROCESS_ID": "",
            "ERROR": 0,
            "AUTH_CONNECTOR": auth_connector,
        }
        rows, _, _ = table.query({"=EVENT_NAME": name, "=MESSAGE_ID": message_id}, [], 0, len(table), False)
        existing = [
            r for r in rows if not r.get("PROCESS_ID") and (r.get("AUTH_CONNECTOR") or "") == auth_connector
        ]
        if existing:
            table.update(int(existing[0]["ID"]), fields)
            return int(existing[0]["ID"])
        return table.insert(fields)


def offline_events(portal: Any) -> list[dict]:
    """Every queued record, reserved or not (test helper)."""
    with portal.lock:
        table = _events(portal)
        rows, _, _ = table.query({}, [], 0, len(table), False)
        return [_render_event(portal, r, with_process=True) for r in rows]


def _render_event(portal: Any, row: dict, with_process: bool = False) -> dict:
    out = {
        "ID": str(row["ID"]),
        "TIMESTAMP_X": format_datetime(row.get("TIMESTAMP_X"), portal.tz),
        "EVENT_NAME": row.get("EVENT_NAME"),
        "EVENT_DATA": row.get("EVENT_DATA"),
        "EVENT_ADDITIONAL": row.get("EVENT_ADDITIONAL"),
        "MESSAGE_ID": row.get("MESSAGE_ID"),
    }
    if with_process:
        out["PROCESS_ID"] = row.get("PROCESS_ID") or ""
        out["ERROR"] = str(row.get("ERROR") or 0)
    return out


def _require_app(ctx: CallContext) -> None:
    if not ctx.app:
        raise ApiError(403, "WRONG_AUTH_TYPE", "Current authorization type is denied for this method")


def _query_events(ctx: CallContext, params: dict, exact: dict, default_order: str = "ID") -> list[dict]:
    """Rows matching the caller's filter plus ``exact`` column values ("" included, which the
    table's filter would drop as empty), in the requested order."""
    table = _events(ctx.portal)
    exact = {**exact, "AUTH_CONNECTOR": str(_ci(params, "auth_connector", "") or "")}
    try:
        rows, _, _ = table.query(
            _upper_filter(_ci(params, "filter", {})),
            _order(_ci(params, "order"), [(default_order, False)]),
            0,
            len(table),
            False,
        )
    except FilterError as err:
        raise ApiError(400, "INVALID_REQUEST", str(err)) from None
    return [r for r in rows if all(str(r.get(k) or "") == str(v or "") for k, v in exact.items())]


@_serve("event.offline.list")
def offline_list(ctx: CallContext, params: dict) -> Reply:
    _require_app(ctx)
    start = max(0, int(_ci(params, "start", 0) or 0))
    rows = _query_events(ctx, params, {})
    nxt = start + PAGE if start + PAGE < len(rows) else None
    page = rows[start : start + PAGE]
    return Reply([_render_event(ctx.portal, r, with_process=True) for r in page], next=nxt, total=len(rows))


@_serve("event.offline.get")
def offline_get(ctx: CallContext, params: dict) -> dict:
    _require_app(ctx)
    limit = max(1, min(1000, int(_ci(params, "limit", PAGE) or PAGE)))
    clear = str(_ci(params, "clear", 1)) not in ("0", "N", "false", "False")
    process_id = _ci(params, "process_id")
    wants_errors = str(_ci(params, "error", 0)) in ("1", "Y", "true", "True")
    exact = {"ERROR": 1 if wants_errors else 0, "PROCESS_ID": process_id or ""}
    rows = _query_events(ctx, params, exact, default_order="TIMESTAMP_X")[:limit]
    table = _events(ctx.portal)
    if clear:
        for row in rows:
            table.delete(int(row["ID"]))
        return {"process_id": None, "events": [_render_event(ctx.portal, r) for r in rows]}
    if rows and not process_id:
        process_id = secrets.token_hex(16)
        for row in rows:
            table.update(int(row["ID"]), {"PROCESS_ID": process_id})
    return {
        "process_id": process_id if rows else None,
        "events": [_render_event(ctx.portal, r) for r in rows],
    }


def _on_reserved(ctx: CallContext, params: dict, by_id: bool, apply: Callable[[Table, int], Any]) -> bool:
    """Apply ``apply(table, row_id)`` to the rows reserved under ``process_id`` that the call
    names (by ``id`` when ``by_id``, else by ``message_id``; all of them when neither is given)."""
    _require_app(ctx)
    process_id = _ci(params, "process_id")
    if not process_id:
        raise ApiError(400, "INVALID_REQUEST", "process_id is required")
    table = _events(ctx.portal)
    rows, _, _ = table.query({"=PROCESS_ID": str(process_id)}, [], 0, len(table), False)
    ids = _ci(params, "id") if by_id else None
    message_ids = _ci(params, "message_id")
    if ids:
        wanted, column = ids, "ID"
    elif message_ids:
        wanted, column = message_ids, "MESSAGE_ID"
    else:
        wanted, column = None, "ID"
    if wanted is not None:
        names = {str(i) for i in (wanted if isinstance(wanted, list) else [wanted])}
        rows = [r for r in rows if str(r.get(column)) in names]
    for row in rows:
        apply(table, int(row["ID"]))
    return True


@_serve("event.offline.clear")
def offline_clear(ctx: CallContext, params: dict) -> bool:
    return _on_reserved(ctx, params, True, lambda table, row_id: table.delete(row_id))


@_serve("event.offline.error")
def offline_error(ctx: CallContext, params: dict) -> bool:
    return _on_reserved(
        ctx, params, False, lambda table, row_id: table.update(row_id, {"ERROR": 1, "PROCESS_ID": ""})
    )


# ------------------------------------------------------------------------------------------
# Workflows
# ------------------------------------------------------------------------------------------

WORKFLOW_COLUMNS = (
    "ID",
    "MODIFIED",
    "OWNED_UNTIL",
    "MODULE_ID",
    "ENTITY",
    "DOCUMENT_ID",
    "STARTED",
    "STARTED_BY",
    "TEMPLATE_ID",
)


def _workflows(portal: Any) -> Table:
    return _table(portal, WORKFLOWS_TABLE, ("MODIFIED", "OWNED_UNTIL", "STARTED", "FINISH_AT"))


def start_workflow(
    portal: Any,
    template_id: int = 1,
    document_id: list | None = None,
    *,
    user_id: int = 1,
    runs_for: float | None = None,
) -> str:
    """Start a workflow instance (test helper); it runs until finished, or for ``runs_for`` seconds."""
    document = list(document_id or ["crm", "CCrmDocumentDeal", "DEAL_1"])
    with portal.lock:
        now = time.time()
        workflow_id = f"{secrets.token_hex(7)}.{secrets.randbelow(10**8):08d}"
        row_id = _workflows(portal).insert(
            {
                "WORKFLOW_ID": workflow_id,
                "MODIFIED": now,
                "OWNED_UNTIL": None,
                "MODULE_ID": document[0],
                "ENTITY": document[1] if len(document) > 1 else "",
                "DOCUMENT_ID": document[2] if len(document) > 2 else "",
                "STARTED": now,
                "STARTED_BY": user_id,
                "TEMPLATE_ID": int(template_id),
                "FINISH_AT": now + runs_for if runs_for is not None else None,
            }
        )
        assert row_id
        return workflow_id


def finish_workflow(portal: Any, workflow_id: str) -> bool:
    """End a running instance (test helper): it disappears from bizproc.workflow.instances."""
    with portal.lock:
        table = _workflows(portal)
        rows, _, _ = table.query({"=WORKFLOW_ID": workflow_id}, [], 0, 1, False)
        return bool(rows) and table.delete(int(rows[0]["ID"]))


def _drop_finished(portal: Any) -> None:
    table = _workflows(portal)
    done, _, _ = table.query({"<=FINISH_AT": time.time()}, [], 0, len(table), False)
    for row in done:
        table.delete(int(row["ID"]))


def _render_workflow(portal: Any, row: dict, select: list[str]) -> dict:
    full = {
        "ID": row["WORKFLOW_ID"],
        "MODIFIED": format_datetime(row.get("MODIFIED"), portal.tz),
        "OWNED_UNTIL": format_datetime(row.get("OWNED_UNTIL"), portal.tz),
        "MODULE_ID": row.get("MODULE_ID"),
        "ENTITY": row.get("ENTITY"),
        "DOCUMENT_ID": row.get("DOCUMENT_ID"),
        "STARTED": format_datetime(row.get("STARTED"), portal.tz),
        "STARTED_BY": str(row.get("STARTED_BY")),
        "TEMPLATE_ID": str(row.get("TEMPLATE_ID")),
    }
    return {k: full[k] for k in select if k in full}


@_serve("bizproc.workflow.start")
def workflow_start(ctx: CallContext, params: dict) -> str:
    template_id = _ci(params, "TEMPLATE_ID")
    document_id = _ci(params, "DOCUMENT_ID")
    if not template_id or not isinstance(document_id, list) or len(document_id) != 3:
        raise ApiError(
            400, "ERROR_ARGUMENT", "TEMPLATE_ID and DOCUMENT_ID [module, entity, document] are required"
        )
    return start_workflow(ctx.portal, int(template_id), document_id, user_id=ctx.user_id)


@_serve("bizproc.workflow.instances")
def workflow_instances(ctx: CallContext, params: dict) -> Reply:
    portal = ctx.portal
    _drop_finished(portal)
    select = [str(s).upper() for s in (_ci(params, "SELECT") or ["ID", "MODIFIED", "OWNED_UNTIL"])]
    raw = _upper_filter(_ci(params, "FILTER", {}))
    filt = {}
    for key, value in raw.items():
        op, column = split_filter_key(key)
        filt[f"{op}{'WORKFLOW_ID' if column == 'ID' else column}"] = value
    order = [
        ("WORKFLOW_ID" if c == "ID" else c, d) for c, d in _order(_ci(params, "ORDER"), [("MODIFIED", True)])
    ]
    start = max(0, int(_ci(params, "start", 0) or 0))
    try:
        rows, total, _ = _workflows(portal).query(filt, order, start, PAGE, True)
    except FilterError as err:
        raise ApiError(400, "ERROR_ARGUMENT", str(err)) from None
    nxt = start + PAGE if total is not None and start + PAGE < total else None
    return Reply([_render_workflow(portal, r, select) for r in rows], next=nxt, total=total)


@_serve("bizproc.workflow.terminate", "bizproc.workflow.kill")
def workflow_stop(ctx: CallContext, params: dict) -> bool:
    workflow_id = _ci(params, "ID")
    if not workflow_id or not finish_workflow(ctx.portal, str(workflow_id)):
        raise ApiError(400, "ERROR_WRONG_WORKFLOW_ID", "workflow not found")
    return True
