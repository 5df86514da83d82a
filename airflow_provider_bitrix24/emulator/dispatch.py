"""REST semantics between the HTTP layer and the handlers: authentication, method lookup, limits,
injected API errors, cost accounting, envelopes and ``batch``."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .params import as_bool, parse_php_query
from .registry import HANDLERS, ApiError, CallContext, Reply, method
from .shapes import fit, result_shape
from .state import TOKEN_ENDPOINT, Identity, Portal, RequestRecord

MAX_BATCH = 50
# Methods any token may call whatever its scopes (scope "basic" and friends).
BASIC_METHODS = frozenset(
    {
        "batch",
        "app.info",
        "user.current",
        "server.time",
        "scope",
        "methods",
        "method.get",
        "user.access",
        "access.name",
        "profile",
    }
)
SCOPE_OF_PREFIX = {"tasks": "task", "task": "task", "sonet_group": "sonet_group"}


@dataclass
class Outcome:
    """What one method execution produced (before it is put into an envelope)."""

    result: Any = None
    next: int | None = None
    total: int | None = None
    status: int = 200
    error: Any = None
    description: str = ""
    time: dict = field(default_factory=dict)
    cost: float = 0.0  # modelled seconds still to sleep
    count_query: bool = False
    timed_out: bool = False  # booked time passed the cost model's per-request limit

    @property
    def ok(self) -> bool:
        return self.error is None

    def envelope(self) -> dict:
        if not self.ok:
            return {"error": self.error, "error_description": self.description}
        body: dict = {"result": self.result}
        if self.next is not None:
            body["next"] = self.next
        if self.total is not None:
            body["total"] = self.total
        body["time"] = self.time
        return body


def failure(status: int, code: Any, description: str = "") -> Outcome:
    return Outcome(status=status, error=code, description=description)


def time_block(
    portal: Portal, start: float, finish: float, processing: float, operating: tuple[float, int | None] | None
) -> dict:
    block = {
        "start": start,
        "finish": finish,
        "duration": finish - start,
        "processing": processing,
        "date_start": datetime.fromtimestamp(start, portal.tz).isoformat(timespec="seconds"),
        "date_finish": datetime.fromtimestamp(finish, portal.tz).isoformat(timespec="seconds"),
    }
    if operating is not None:
        spent, reset_at = operating
        if reset_at is not None:
            block["operating_reset_at"] = reset_at
        block["operating"] = spent
    return block


# -- authentication ----------------------------------------------------------------------------
def authenticate_webhook(portal: Portal, user_id: str, code: str) -> Identity | Outcome:
    if str(portal.webhook_user_id) != user_id or code != portal.webhook_code:
        return failure(401, "NO_AUTH_FOUND", "Wrong authorization data")
    return Identity("webhook", portal.webhook_user_id, f"webhook:{user_id}")


def authenticate_token(portal: Portal, token: Any) -> Identity | Outcome:
    if not token or not isinstance(token, str):
        return failure(401, "NO_AUTH_FOUND", "Wrong authorization data")
    with portal.lock:
        record = portal.access_tokens.get(token)
    if record is None:
        return failure(401, "NO_AUTH_FOUND", "Wrong authorization data")
    if record.expires_at <= time.time():
        return failure(401, "expired_token", "The access token provided has expired.")
    return Identity("oauth", record.user_id, f"app:{record.client_id}")


def scope_of(method_name: str) -> str:
    prefix = method_name.split(".", 1)[0]
    return SCOPE_OF_PREFIX.get(prefix, prefix)


def is_allowed(portal: Portal, name: str) -> bool:
    """Whether the granted scopes (``configure(scopes=...)``) cover this method."""
    return portal.allowed_scopes is None or name in BASIC_METHODS or scope_of(name) in portal.allowed_scopes


# -- one method --------------------------------------------------------------------------------
def execute(
    portal: Portal,
    identity: Identity,
    method_name: str,
    params: dict,
    record: RequestRecord,
    in_batch: bool = False,
) -> Outcome:
    """Run one REST method (top level or batch command) with every check a portal makes."""
    name = method_name.lower()
    handler = HANDLERS.get(name)
    if handler is None or name not in portal.catalogue:
        return failure(404, "ERROR_METHOD_NOT_FOUND", "Method not found!")
    if in_batch and name == "batch":
        return failure(405, "ERROR_BATCH_METHOD_NOT_ALLOWED", "Method is not allowed for batch usage")
    if not is_allowed(portal, name):
        return failure(
            403,
            "insufficient_scope",
            "The request requires higher privileges than provided by the webhook token",
        )
    if in_batch:  # API faults may target one method inside a batch
        fault = portal.take_fault(name, ("error",), exact=True)
        if fault is not None:
            record.fault = fault.kind
            return failure(fault.status, fault.error, fault.description)
    metered = name != "batch"  # the outer batch call is not counted in operating
    if metered and portal.operating.blocked(identity.key, name):
        return failure(429, "OPERATION_TIME_LIMIT", "Method is blocked due to operation time limit.")
    ctx = CallContext(
        portal=portal,
        auth_kind=identity.kind,
        user_id=identity.user_id,
        method=name,
        app=identity.kind == "oauth",
    )
    ctx.extra["identity"] = identity
    ctx.extra["record"] = record
    started = time.time()
    try:
        if name == "batch":
            reply = handler(ctx, params)
        else:
            with portal.lock:
                reply = handler(ctx, params)
    except ApiError as exc:
        if metered:  # a failed call has still used the server's time
            portal.operating.record(identity.key, name, time.time() - started)
        return failure(exc.status, exc.code, exc.description)
    except Exception as exc:  # a handler bug must look like a portal 500, not kill the server
        return failure(500, "INTERNAL_SERVER_ERROR", f"{type(exc).__name__}: {exc}")
    real = time.time() - started
    outcome = reply_outcome(in_documented_shape(name, reply))
    outcome.count_query = bool(ctx.extra.get("count_query"))
    if outcome.count_query:
        with portal.lock:
            portal.count_queries += 1
    if name == "batch":
        outcome.cost = ctx.extra.get("cost", 0.0)
        outcome.timed_out = bool(ctx.extra.get("timed_out"))
        outcome.time = time_block(portal, started, time.time(), real, None)
        return outcome
    cost = (
        portal.cost.call_cost(ctx.extra.get("rows", 0), ctx.extra.get("count_rows", 0))
        if portal.cost
        else 0.0
    )
    outcome.cost = cost
    processing = real + cost
    portal.operating.record(identity.key, name, processing)
    outcome.time = time_block(
        portal, started, started + processing, processing, portal.operating.state(identity.key, name)
    )
    return outcome


def in_documented_shape(name: str, reply: Any) -> Any:
    """A one-object reply gets every key its doc page shows (``shapes``), unset ones as ``null``.
    Values are the handler's own (it models the method, types included); list replies
    (``Reply``) are left to their handlers, which render rows in bulk."""
    if not isinstance(reply, dict) or name == "batch":
        return reply
    shape = result_shape(name)
    return fit(reply, shape, convert=False) if isinstance(shape, dict) else reply


def reply_outcome(reply: Any) -> Outcome:
    if isinstance(reply, Reply):
        return Outcome(result=reply.result, next=reply.next, total=reply.total)
    return Outcome(result=reply)


# -- batch -------------------------------------------------------------------------------------
_REFERENCE = re.compile(r"\$(result|result_next|result_total|result_error|result_time)((?:\[[^\[\]]*\])+)")


def php_array(mapping: dict) -> Any:
    """Encode a PHP array the way json_encode does: empty or 0..n-1 keyed -> JSON list."""
    keys = list(mapping)
    if all(str(k).isdigit() for k in keys) and [int(k) for k in keys] == list(range(len(keys))):
        return list(mapping.values())
    return mapping


def _lookup(sections: dict[str, dict], section: str, path: list[str]) -> Any:
    node: Any = sections[section]
    for part in path:
        if isinstance(node, dict):
            node = node.get(part, node.get(int(part)) if part.isdigit() else None)
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return ""
        if node is None:
            return ""
    return node


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else ""
    if isinstance(value, (dict, list)):
        return ""
    return str(value)


def resolve_references(value: Any, sections: dict[str, dict]) -> Any:
    """Replace ``$result[key][...]`` in string values; an unknown path becomes an empty string."""
    if isinstance(value, dict):
        return {k: resolve_references(v, sections) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve_references(v, sections) for v in value]
    if not isinstance(value, str) or "$result" not in value:
        return value
    whole = _REFERENCE.fullmatch(value)
    if whole:  # a whole-value reference keeps its structure (a list becomes an IN filter)
        return _lookup(sections, whole.group(1), re.findall(r"\[([^\[\]]*)\]", whole.group(2)))
    return _REFERENCE.sub(
        lambda m: _scalar(_lookup(sections, m.group(1), re.findall(r"\[([^\[\]]*)\]", m.group(2)))), value
    )


def parse_command(command: Any) -> tuple[str, dict]:
    if not isinstance(command, str):
        raise ApiError(400, "INVALID_REQUEST", "Batch command must be a string 'method?query'")
    name, _, query = command.partition("?")
    return name.strip(), parse_php_query(query)


@method("batch")
def batch(ctx: CallContext, params: dict) -> Any:
    portal: Portal = ctx.portal
    identity: Identity = ctx.extra["identity"]
    record: RequestRecord = ctx.extra["record"]
    record.is_batch = True
    cmd = params.get("cmd")
    if isinstance(cmd, list):
        cmd = {str(i): c for i, c in enumerate(cmd)}
    if not isinstance(cmd, dict) or not cmd:
        raise ApiError(400, "INVALID_REQUEST", "Parameter 'cmd' must be a non-empty array")
    if len(cmd) > MAX_BATCH:
        raise ApiError(400, "ERROR_BATCH_LENGTH_EXCEEDED", "Max batch length exceeded")
    halt = as_bool(params.get("halt", False))
    sections: dict[str, dict] = {
        "result": {},
        "result_error": {},
        "result_total": {},
        "result_next": {},
        "result_time": {},
    }
    cost = 0.0
    limit = portal.cost.time_limit if portal.cost else None
    for key, command in cmd.items():
        if limit is not None and cost > limit:  # the request was cut off: later commands never ran
            ctx.extra["timed_out"] = True
            break
        try:
            name, sub_params = parse_command(command)
        except ApiError as exc:
            sections["result_error"][key] = {"error": exc.code, "error_description": exc.description}
            if halt:
                break
            continue
        sub_params = resolve_references(sub_params, sections)
        sub_record = RequestRecord(
            method=name.lower(), params=sub_params, auth_kind=identity.kind, key=str(key)
        )
        outcome = execute(portal, identity, name, sub_params, sub_record, in_batch=True)
        sub_record.http_status, sub_record.error, sub_record.count_query = (
            outcome.status,
            outcome.error,
            outcome.count_query,
        )
        sub_record.duration = outcome.time.get("duration", 0.0)
        record.sub_calls.append(sub_record)
        cost += outcome.cost
        if not outcome.ok:
            sections["result_error"][key] = {"error": outcome.error, "error_description": outcome.description}
            if halt:
                break
            continue
        sections["result"][key] = outcome.result
        sections["result_time"][key] = outcome.time
        if outcome.total is not None:
            sections["result_total"][key] = outcome.total
        if outcome.next is not None:
            sections["result_next"][key] = outcome.next
    ctx.extra["cost"] = cost
    return {name: php_array(values) for name, values in sections.items()}


# -- OAuth token endpoint ------------------------------------------------------------------------
def token_endpoint(portal: Portal, params: dict) -> Outcome:
    """``/oauth/token/``: refresh_token grant with rotation (a refresh token works once)."""
    grant = params.get("grant_type")
    if grant != "refresh_token":
        return failure(
            400, "invalid_request", "Unsupported grant_type" if grant else "grant_type is required"
        )
    if params.get("client_id") != portal.client_id or params.get("client_secret") != portal.client_secret:
        return failure(401, "invalid_client", "Invalid client credentials")
    with portal.lock:
        user_id = portal.refresh_tokens.pop(str(params.get("refresh_token") or ""), None)
        if user_id is None:
            return failure(400, "invalid_grant", "Invalid refresh token")
        portal.refresh_count += 1
        access, refresh, lifetime = portal.issue_tokens(user_id)
    return Outcome(result=portal.token_reply(user_id, access, refresh, lifetime))


__all__ = [
    "execute",
    "token_endpoint",
    "authenticate_webhook",
    "authenticate_token",
    "Outcome",
    "TOKEN_ENDPOINT",
]
