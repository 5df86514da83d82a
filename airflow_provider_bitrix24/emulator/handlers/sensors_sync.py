"""Emulated methods the sync jobs and example DAGs need: crm.duplicate.findbycomm (the import
job matches records by phone or e-mail with it) and im.message.add (the deal-won example posts to a chat).

Phones match on their digits (extensions and formatting ignored), e-mails case-insensitively.
Registered only when no other handler module serves the method.
"""

from __future__ import annotations

import re
from typing import Any

from ..registry import ApiError, CallContext
from .sensors_support import _ci, _serve

ENTITY_TABLES = {"LEAD": "crm.lead", "CONTACT": "crm.contact", "COMPANY": "crm.company"}
MAX_VALUES = 20
DUPLICATE_CAP = 20


def _phone_key(value: Any) -> str:
    text = str(value or "").split(" ext", 1)[0].split("#", 1)[0]
    return re.sub(r"\D", "", text)


def _email_key(value: Any) -> str:
    return str(value or "").strip().casefold()


def _values_of(stored: Any) -> list[Any]:
    if isinstance(stored, list):
        return [v.get("VALUE") if isinstance(v, dict) else v for v in stored]
    return [stored] if stored else []


@_serve("crm.duplicate.findbycomm")
def find_by_comm(ctx: CallContext, params: dict) -> Any:
    kind = str(_ci(params, "type", "")).upper()
    if kind not in ("EMAIL", "PHONE"):
        raise ApiError(400, "ERROR_CORE", "Communication type is not defined or invalid.")
    values = _ci(params, "values")
    values = values if isinstance(values, list) else ([values] if values else [])
    if not values:
        raise ApiError(400, "ERROR_CORE", "Communication values is not defined.")
    if len(values) > MAX_VALUES:
        raise ApiError(400, "ERROR_CORE", f"Too many communication values. Maximum is {MAX_VALUES}.")
    normalise = _phone_key if kind == "PHONE" else _email_key
    wanted = {normalise(v) for v in values} - {""}
    entity_type = str(_ci(params, "entity_type", "") or "").upper()
    types = [entity_type] if entity_type else list(ENTITY_TABLES)
    if any(t not in ENTITY_TABLES for t in types):
        raise ApiError(400, "ERROR_CORE", "Entity type is not supported.")
    found: dict[str, list[int]] = {}
    for name in types:
        table = ctx.portal.table(ENTITY_TABLES[name])
        rows, _, _ = table.query({}, [], 0, len(table), False)
        ids = [int(r["ID"]) for r in rows if any(normalise(v) in wanted for v in _values_of(r.get(kind)))]
        if ids:
            found[name] = ids
            if len(ids) >= DUPLICATE_CAP:
                break  # the portal stops looking at other types once one has 20 or more
    return found or []


@_serve("im.message.add")
def message_add(ctx: CallContext, params: dict) -> int:
    """Store a chat message (the example DAGs notify a chat); returns the message ID."""
    dialog_id = str(_ci(params, "DIALOG_ID", "") or "")
    message = _ci(params, "MESSAGE")
    if not dialog_id:
        raise ApiError(400, "DIALOG_ID_EMPTY", "Dialog ID can't be empty")
    if not message and not _ci(params, "ATTACH"):
        raise ApiError(400, "MESSAGE_EMPTY", "Message can't be empty")
    table = ctx.portal.table("im.message")
    return table.insert({"DIALOG_ID": dialog_id, "MESSAGE": message, "AUTHOR_ID": ctx.user_id})
