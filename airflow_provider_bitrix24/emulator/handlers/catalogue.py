"""Generic handlers for every catalogue method the emulator core does not model itself.

Two layers of data. The verb decides what happens to the stored records (:mod:`.catalogue_shapes`):
a create remembers the record and answers its new id, a get answers the stored record (or a
minimal one for an unknown id: these families do not model existence), a list answers a page of
what was created with the caller's filter and order applied, ``fields`` a field map, other verbs
``true``. Then the method's documented reply shape (``emulator/response_shapes.json``, extracted
from its doc page) decides the form: every documented key present, scalars typed as the page
shows them, and an id or ``true`` placed into the object the page returns.

Registration is order-independent: this module first imports the emulator core's batch method
and every sibling handler module, then registers only the names still unserved, so a module
that models a method for real always wins and nothing is registered twice.
"""

from __future__ import annotations

import importlib
import pkgutil
import time
from typing import Any

from airflow_provider_bitrix24.catalogue import actions

from .. import dispatch  # noqa: F401  (the core's ``batch``)
from .. import shapes as documented
from ..params import as_int, param
from ..registry import HANDLERS, ApiError, CallContext, Reply, method, raw_route
from ..state import RequestRecord
from ..table import FilterError, Table, filter_and_order
from . import catalogue_shapes as shapes

PAGE = 50
DOWNLOAD_PATH = "/documentgenerator/download"
LIST_FILE_PATH = "/bitrix/tools/disk/uf.php"


def _load_siblings() -> None:
    package = __name__.rsplit(".", 1)[0]
    for info in pkgutil.iter_modules(importlib.import_module(package).__path__):
        if not info.name.startswith("catalogue"):
            importlib.import_module(f"{package}.{info.name}")


def _family(name: str) -> str:
    return name.rsplit(".", 1)[0]


def _store(ctx: CallContext, family: str) -> dict[int, dict]:
    return ctx.portal.state.setdefault("catalogue", {}).setdefault(family, {})


def _id_key(family: str) -> str:
    return "id" if family in shapes.CAMEL_ID else "ID"


def _wrap(family: str, value: Any, many: bool) -> Any:
    keys = shapes.WRAPPED.get(family)
    return {keys[1 if many else 0]: value} if keys else value


def _requested_id(params: dict) -> int | None:
    for key in (
        "id",
        "ID",
        "taskId",
        "TASKID",
        "eventId",
        "CONFIG_ID",
        "BOT_ID",
        "COMMAND_ID",
        "MESSAGE_ID",
        "ELEMENT_ID",
    ):
        if key in params:
            return as_int(params[key])
    return None


def _record(family: str, new_id: int, params: dict) -> dict:
    body = (
        params.get("fields")
        or params.get("FIELDS")
        or params.get("field")
        or {k: v for k, v in params.items() if not isinstance(v, (dict, list))}
    )
    record = dict(body) if isinstance(body, dict) else {}
    record[_id_key(family)] = new_id
    record.setdefault(
        "createdTime" if family in shapes.CAMEL_ID else "DATE_CREATE",
        time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime()),
    )
    return record


def _create(ctx: CallContext, name: str, params: dict) -> Any:
    family = _family(name)
    store = _store(ctx, family)
    new_id = max(store, default=0) + 1
    store[new_id] = _record(family, new_id, params)
    if name in shapes.CREATE_RETURNS_TRUE:
        return True
    if name in shapes.CREATE_RETURNS_RECORD:
        return {**store[new_id], shapes.CREATE_RETURNS_RECORD[name]: new_id}
    if family in shapes.WRAPPED:
        return _wrap(family, store[new_id], many=False)
    return new_id


def _get(ctx: CallContext, name: str, params: dict) -> Any:
    family = _family(name)
    if name in shapes.LIST_GETS:
        return _list(ctx, name, params)
    wanted = _requested_id(params) or 1
    record = _store(ctx, family).get(wanted) or {_id_key(family): wanted}
    if family == "documentgenerator.document":
        record = {**record, **_document_links(ctx, wanted)}
    return _wrap(family, record, many=False)


def _update(ctx: CallContext, name: str, params: dict) -> Any:
    """``true``, or for the families that answer inside an object, the changed record."""
    family = _family(name)
    if family not in shapes.WRAPPED:
        return True
    wanted = _requested_id(params) or 1
    store = _store(ctx, family)
    record = {**store.get(wanted, {_id_key(family): wanted}), **_record(family, wanted, params)}
    store[wanted] = record
    return _wrap(family, record, many=False)


def _dialog(ctx: CallContext, params: dict) -> dict:
    """im.dialog.get / imbot.dialog.get: the chat behind ``chat<ID>`` (or a private dialog)."""
    dialog_id = str(params.get("DIALOG_ID") or "chat1")
    chat_id = as_int(dialog_id[4:], 1) if dialog_id.startswith("chat") else 0
    return {
        "id": chat_id,
        "name": f"Chat {chat_id}",
        "owner": ctx.user_id,
        "type": "chat" if chat_id else "private",
        "dialog_id": dialog_id,
        "entity_type": "",
        "entity_id": "",
        "message_type": "C" if chat_id else "P",
    }


def _call_finished(ctx: CallContext, params: dict) -> dict:
    return {
        "CALL_ID": params.get("CALL_ID"),
        "PORTAL_USER_ID": params.get("USER_ID", ctx.user_id),
        "CALL_DURATION": as_int(params.get("DURATION"), 0),
        "CALL_FAILED_CODE": params.get("STATUS_CODE", "200"),
    }


def _merge_batch(ctx: CallContext, params: dict) -> dict:
    """crm.entity.mergebatch: the records named in ``params[entityIds]`` merged without conflicts."""
    ids = (params.get("params") or {}).get("entityIds") if isinstance(params.get("params"), dict) else None
    return {"STATUS": "SUCCESS", "ENTITY_IDS": [as_int(i) for i in ids or []], "CONFLICTS": []}


SPECIAL = {
    "crm.entity.mergebatch": _merge_batch,
    "im.dialog.get": _dialog,
    "imbot.dialog.get": _dialog,
    "telephony.externalcall.finish": _call_finished,
}


def _list(ctx: CallContext, name: str, params: dict) -> Reply:
    """A page of what was created, with the caller's filter and order applied by the same table
    machinery as the modelled entities; what that machinery cannot apply is refused by name."""
    family = _family(name)
    table = Table(family, id_column=_id_key(family))
    table.insert_many(dict(record) for record in _store(ctx, family).values())
    start = as_int(param(params, "start"), 0) or 0
    try:
        flt, order = filter_and_order(params, order_names=("order", "sort", "element_order"))
        rows, total, _ = table.query(flt, order, max(start, 0), PAGE, count=True)
    except FilterError as exc:
        raise ApiError(400, "EMULATOR_NOT_IMPLEMENTED", f"{name}: {exc}") from None
    total = total or 0
    following = start + PAGE if start >= 0 and start + PAGE < total else None
    return Reply(_wrap(family, rows, many=True), next=following, total=total if start >= 0 else None)


def _document_links(ctx: CallContext, doc_id: int) -> dict:
    base = f"{ctx.portal.base_url}{DOWNLOAD_PATH}?id={doc_id}"
    return {
        "downloadUrl": f"{base}&format=docx",
        "downloadUrlMachine": f"{base}&format=docx",
        "pdfUrl": f"{base}&format=pdf",
        "pdfUrlMachine": f"{base}&format=pdf",
        "imageUrl": None,
        "publicUrl": None,
    }


def _generic(ctx: CallContext, params: dict) -> Any:
    """What the method does to the stored records, before the documented shape is applied."""
    name = ctx.method
    verb = name.rsplit(".", 1)[1]
    if name in shapes.FIXED:
        return shapes.FIXED[name]
    if name in SPECIAL:
        return SPECIAL[name](ctx, params)
    if name == "lists.element.get.file.url":
        return [f"{LIST_FILE_PATH}?attachedId={as_int(params.get('ELEMENT_ID'), 1) or 1}&action=download"]
    if verb in shapes.CREATE_VERBS:
        return _create(ctx, name, params)
    if verb in shapes.GET_VERBS:
        return _get(ctx, name, params)
    if verb in shapes.LIST_VERBS:
        return _list(ctx, name, params)
    if verb in shapes.FIELDS_VERBS:
        return shapes.FIELD_MAP
    if verb == "update":
        return _update(ctx, name, params)
    return True


def _in_shape(value: Any, shape: Any, params: dict) -> Any:
    """The generic answer in the method's documented shape (``response_shapes.json``).

    Where the generic verb logic answers a different JSON type than the page shows (``true``
    where the page returns the changed record, an id where it returns an object), the documented
    type wins: an id goes into the object's id key, a success flag into its boolean keys.
    """
    if isinstance(shape, dict) and not isinstance(value, (dict, list)):
        keys = [k for k in shape if k != documented.MAP_KEY]
        if len(keys) == 1 and isinstance(shape[keys[0]], dict):  # a wrapper such as {"task": {...}}
            return {keys[0]: _in_shape(value, shape[keys[0]], params)}
        filled = documented.placeholder(shape)
        for key in keys:
            if key in ("ID", "id") and isinstance(value, int) and not isinstance(value, bool):
                filled[key] = documented.fit(value, shape[key])
            elif shape[key] == "boolean":
                filled[key] = True
        return filled
    if shape == "integer" and isinstance(value, bool):
        return _requested_id(params) or 1
    if shape == "boolean" and not isinstance(value, bool):
        return True
    if isinstance(shape, list) and isinstance(value, dict):  # the page lists the rows unwrapped
        lists = [v for v in value.values() if isinstance(v, list)]
        value = lists[0] if len(value) == 1 and len(lists) == 1 else []
    if isinstance(shape, list) and not isinstance(value, list):
        return []
    return documented.fit(value, shape)


def answer(ctx: CallContext, params: dict) -> Any:
    """The one handler of every generic method: verb logic, then the documented shape."""
    reply = _generic(ctx, params)
    shape = documented.result_shape(ctx.method)
    if shape is None:
        return reply
    if isinstance(reply, Reply):
        return Reply(_in_shape(reply.result, shape, params), next=reply.next, total=reply.total)
    return _in_shape(reply, shape, params)


def _serve_bytes(handler: Any, portal: Any, name: str, body: bytes, content_type: str) -> None:
    started = time.time()
    handler._send(200, body, content_type)
    record = RequestRecord(
        method=name, params={}, auth_kind=None, http_method="GET", path=handler.path.split("?")[0]
    )
    record.duration = time.time() - started
    portal.log(record)


@raw_route("GET", DOWNLOAD_PATH)
def download_document(handler: Any, portal: Any, query: dict) -> None:
    kind = "pdf" if query.get("format") == "pdf" else "docx"
    body = f"emulated {kind} document {query.get('id', '')}".encode()
    _serve_bytes(handler, portal, "documentgenerator.download", body, "application/octet-stream")


@raw_route("GET", LIST_FILE_PATH)
def download_list_file(handler: Any, portal: Any, query: dict) -> None:
    _serve_bytes(
        handler,
        portal,
        "lists.file.download",
        f"emulated list file {query.get('attachedId', '')}".encode(),
        "application/octet-stream",
    )


def catalogue_methods() -> set[str]:
    return {m for a in actions() for m in a.methods if m != "*"}


def register_unserved() -> list[str]:
    """Serve every catalogue method no other module serves; return the names registered now."""
    _load_siblings()
    missing = sorted(name for name in catalogue_methods() if name not in HANDLERS)
    if missing:
        method(*missing)(answer)
    return missing


register_unserved()
