"""Open lines: sessions as data (seed ``imopenlines.session`` rows) and the dialog/operator/bot
methods that read or close them. One session row per chat conversation; ``ID`` is the session id.
"""

from __future__ import annotations

import time
from typing import Any

from ..entities import EntitySpec, register_entity
from ..params import as_bool, as_int
from ..registry import ApiError, CallContext, method
from ..table import Table, format_datetime

SESSION = register_entity(
    EntitySpec(
        name="imopenlines.session",
        fields={
            "ID": "integer",
            "CHAT_ID": "integer",
            "USER_CODE": "string",
            "LINE_ID": "integer",
            "OPERATOR_ID": "integer",
            "STATUS": "string",
            "CLOSED": "char",
            "PINNED": "char",
            "SILENT": "char",
            "NAME": "string",
            "DATE_CREATE": "datetime",
            "DATE_MODIFY": "datetime",
            "DATE_CLOSE": "datetime",
        },
        defaults={
            "LINE_ID": 1,
            "OPERATOR_ID": 1,
            "STATUS": "open",
            "CLOSED": "N",
            "PINNED": "N",
            "SILENT": "N",
            "NAME": "Guest",
        },
        created_by_field=None,
        modified_by_field=None,
        operations=(),  # no generic REST methods: sessions are reached through the methods below
    )
)


def _sessions(ctx: CallContext) -> Table:
    return ctx.portal.table(SESSION.name)


def _latest(table: Table, conditions: dict) -> dict | None:
    rows, _, _ = table.query(conditions, [("ID", True)], 0, 1, False)
    return rows[0] if rows else None


def _chat_id(
    params: dict, code: str = "CHAT_ID", description: str = "The specified chat identifier is invalid"
) -> int:
    chat_id = as_int(params.get("CHAT_ID", params.get("chat_id")))
    if chat_id is None or chat_id <= 0:
        raise ApiError(400, code, "Chat ID can't be empty" if code == "CHAT_ID_EMPTY" else description)
    return chat_id


def _open_session(ctx: CallContext, chat_id: int) -> dict:
    row = _latest(_sessions(ctx), {"CHAT_ID": chat_id})
    if row is None:
        raise ApiError(400, "CHAT_TYPE", "The specified chat is not an open line")
    return row


def _close(ctx: CallContext, chat_id: int, only_own: bool) -> bool:
    row = _open_session(ctx, chat_id)
    if only_own and row.get("OPERATOR_ID") not in (None, ctx.user_id):
        raise ApiError(
            400,
            "ACCESS_DENIED",
            "You cannot open this conversation because you do not have sufficient permissions",
        )
    now = time.time()
    _sessions(ctx).update(
        row["ID"], {"STATUS": "closed", "CLOSED": "Y", "DATE_CLOSE": now, "DATE_MODIFY": now}
    )
    return True


@method("imopenlines.operator.finish")
def operator_finish(ctx: CallContext, params: dict) -> bool:
    return _close(ctx, _chat_id(params), only_own=True)


@method("imopenlines.operator.another.finish")
def operator_another_finish(ctx: CallContext, params: dict) -> bool:
    return _close(ctx, _chat_id(params), only_own=False)


@method("imopenlines.bot.session.finish")
def bot_session_finish(ctx: CallContext, params: dict) -> bool:
    return _close(ctx, _chat_id(params, "CHAT_ID_EMPTY"), only_own=False)


def _set_on_session(ctx: CallContext, params: dict, **fields: Any) -> bool:
    row = _open_session(ctx, _chat_id(params))
    _sessions(ctx).update(row["ID"], {**fields, "DATE_MODIFY": time.time()})
    return True


@method("imopenlines.operator.answer", "imopenlines.session.join", "imopenlines.session.intercept")
def take_over(ctx: CallContext, params: dict) -> bool:
    return _set_on_session(ctx, params, OPERATOR_ID=ctx.user_id, STATUS="answered")


@method("imopenlines.operator.skip")
def operator_skip(ctx: CallContext, params: dict) -> bool:
    return _set_on_session(ctx, params, STATUS="skipped")


@method("imopenlines.operator.spam")
def operator_spam(ctx: CallContext, params: dict) -> bool:
    return _set_on_session(ctx, params, STATUS="spam", CLOSED="Y", DATE_CLOSE=time.time())


@method("imopenlines.operator.transfer", "imopenlines.bot.session.transfer")
def transfer(ctx: CallContext, params: dict) -> bool:
    target = as_int(params.get("TRANSFER_ID", params.get("USER_ID")))
    return _set_on_session(ctx, params, OPERATOR_ID=target, STATUS="transferred")


@method("imopenlines.bot.session.operator")
def bot_to_operator(ctx: CallContext, params: dict) -> bool:
    return _set_on_session(ctx, params, STATUS="waiting")


@method("imopenlines.session.mode.pin")
def mode_pin(ctx: CallContext, params: dict) -> bool:
    return _set_on_session(ctx, params, PINNED="Y" if as_bool(params.get("ACTIVATE", "Y")) else "N")


@method("imopenlines.session.mode.silent")
def mode_silent(ctx: CallContext, params: dict) -> bool:
    return _set_on_session(ctx, params, SILENT="Y" if as_bool(params.get("ACTIVATE", "Y")) else "N")


@method("imopenlines.session.start")
def session_start(ctx: CallContext, params: dict) -> bool:
    chat_id = _chat_id(params)
    previous = _open_session(ctx, chat_id)
    now = time.time()
    _sessions(ctx).insert(
        {
            **SESSION.defaults,
            "CHAT_ID": chat_id,
            "USER_CODE": previous.get("USER_CODE"),
            "OPERATOR_ID": ctx.user_id,
            "DATE_CREATE": now,
            "DATE_MODIFY": now,
        }
    )
    return True


@method("imopenlines.session.open")
def session_open(ctx: CallContext, params: dict) -> dict:
    code = params.get("USER_CODE")
    row = _latest(_sessions(ctx), {"USER_CODE": code}) if code else None
    if row is None:
        raise ApiError(
            400,
            "ACCESS_DENIED",
            "You cannot open this conversation because you do not have sufficient permissions",
        )
    return {"chatId": str(row["CHAT_ID"])}


def _find_dialog(ctx: CallContext, params: dict) -> dict:
    table = _sessions(ctx)
    chat_id = as_int(params.get("CHAT_ID"))
    dialog_id = str(params.get("DIALOG_ID") or "")
    if chat_id is None and dialog_id.startswith("chat"):
        chat_id = as_int(dialog_id[4:])
    if chat_id is not None:
        row = _latest(table, {"CHAT_ID": chat_id})
    elif params.get("SESSION_ID"):
        row = table.get(as_int(params.get("SESSION_ID"), 0) or 0)
    elif params.get("USER_CODE"):
        row = _latest(table, {"USER_CODE": params["USER_CODE"]})
    else:
        row = None
    if row is None:
        raise ApiError(400, "ACCESS_ERROR", "You do not have access to the specified dialog")
    return row


@method("imopenlines.dialog.get")
def dialog_get(ctx: CallContext, params: dict) -> dict:
    row = _find_dialog(ctx, params)
    chat_id = row["CHAT_ID"]
    return {
        "id": chat_id,
        "parent_chat_id": 0,
        "name": f"{row.get('NAME') or 'Guest'} - Open Channel",
        "owner": row.get("OPERATOR_ID") or 0,
        "type": "lines",
        "entity_type": "LINES",
        "entity_id": row.get("USER_CODE") or "",
        "entity_data_1": f"{'Y' if row.get('CLOSED') == 'N' else 'N'}|NONE|0|N|N|{row['ID']}",
        "date_create": format_datetime(row.get("DATE_CREATE"), ctx.portal.tz),
        "message_type": "L",
        "dialog_id": f"chat{chat_id}",
        "session_id": row["ID"],
        "session_status": row.get("STATUS"),
        "session_closed": row.get("CLOSED") == "Y",
    }


@method("imopenlines.session.history.get")
def session_history_get(ctx: CallContext, params: dict) -> dict:
    row = _find_dialog(ctx, params)
    return {
        "chatId": row["CHAT_ID"],
        "canJoin": "Y",
        "canVoteHead": "Y",
        "sessionId": row["ID"],
        "sessionVoteHead": 0,
        "sessionCommentHead": None,
        "userId": f"chat{row['CHAT_ID']}",
        "message": [],
        "users": [],
    }
