"""Push path: an HTTP endpoint in the Airflow API server that turns Bitrix24 event calls into asset events.

Bitrix24 (an application's ``event.bind`` handler or an outgoing webhook) POSTs each event,
form-encoded, to ``<airflow>/bitrix24/events/<conn_id>/<asset name>``. The endpoint:

1. parses the body (``event``, ``event_handler_id``, ``data[...]``, ``ts``, ``auth[...]``);
2. checks ``auth[application_token]`` against the ``application_token`` in the extra of the
   Airflow connection ``conn_id`` (constant-time comparison);
3. checks that the connection allows this asset (extra ``push_assets``: a list of asset names,
   or ``["*"]``) and, when the extra has ``push_events``, this event name;
4. refuses a stale ``ts`` (older than ``max_age_seconds``) and a request already seen (same
   connection, event, handler, ``ts`` and ``data``) with a 4xx and no asset event;
5. records an asset event whose ``extra`` is ``{"bitrix24": {"event", "event_handler_id",
   "ts", "data", "domain", "member_id"}}``: never the tokens of ``auth``.

Replay memory is per API-server process (a worker of a multi-worker API server does not see
what another saw); the ``ts`` age limit bounds the window in any case. Nothing secret is logged.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import anyio
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 256 * 1024
# Event data is shallow (``data[FIELDS][ID]``); a deeper body is an attack on the parser.
MAX_DEPTH = 32
# Connection ids that do not exist: how long one is remembered, and how many new ones may be
# looked up per minute (each lookup may be a paid secrets-backend call).
UNKNOWN_CONNECTION_TTL = 300.0
UNKNOWN_LOOKUPS_PER_MINUTE = 5
DEFAULT_MAX_AGE_SECONDS = 900
FUTURE_SKEW_SECONDS = 300
_EVENT_NAME = re.compile(r"^[A-Z][A-Z0-9_]{1,127}$")
# Compared against when the connection is unknown, so both answers take the same path.
_NO_CONNECTION = hashlib.sha256(b"bitrix24-no-such-connection").hexdigest().encode()


class RejectedEvent(Exception):
    """A request that must not become an asset event: HTTP status and a reason safe to show."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


# ---------------------------------------------------------------------------------------------
# Request body
# ---------------------------------------------------------------------------------------------


def _key_path(key: str) -> list[str]:
    """``data[FIELDS][ID]`` -> ``["data", "FIELDS", "ID"]`` (``a[]`` -> ``["a", ""]``)."""
    head, _, rest = key.partition("[")
    if not rest:
        return [key]
    if not rest.endswith("]"):
        raise RejectedEvent(400, f"malformed form key {key[:64]!r}")
    if rest.count("[") >= MAX_DEPTH:
        raise RejectedEvent(400, "form key nested too deep")
    return [head, *rest[:-1].split("][")]


def _check_depth(body: Any) -> None:
    """Refuse structures nested deeper than :data:`MAX_DEPTH` (checked without recursion)."""
    level: list[Any] = [body]
    for _ in range(MAX_DEPTH + 1):
        level = [
            child
            for node in level
            for child in (node.values() if isinstance(node, dict) else node if isinstance(node, list) else ())
            if isinstance(child, (dict, list))
        ]
        if not level:
            return
    raise RejectedEvent(400, "body nested too deep")


def parse_form(body: str) -> dict:
    """A PHP-style form body into nested dicts (lists for ``[]`` keys)."""
    root: dict = {}
    for key, value in parse_qsl(body, keep_blank_values=True, strict_parsing=False, max_num_fields=2000):
        path = _key_path(key)
        node: Any = root
        for depth, part in enumerate(path):
            last = depth == len(path) - 1
            if isinstance(node, list):
                if part != "" or not last:
                    raise RejectedEvent(400, f"malformed form key {key[:64]!r}")
                node.append(value)
                break
            if last:
                node[part] = value
                break
            child = node.get(part)
            if child is None:
                child = [] if path[depth + 1] == "" else {}
                node[part] = child
            elif not isinstance(child, (dict, list)):
                raise RejectedEvent(400, f"form key {key[:64]!r} clashes with a scalar")
            node = child
    return root


@dataclass(frozen=True)
class OutboundEvent:
    """One Bitrix24 event call, validated. ``application_token`` is kept out of ``repr``."""

    event: str
    ts: int
    event_handler_id: str
    data: dict
    domain: str
    member_id: str
    application_token: str = field(repr=False)

    @staticmethod
    def from_body(body: dict) -> OutboundEvent:
        event = str(body.get("event") or "").upper()
        if not _EVENT_NAME.match(event):
            raise RejectedEvent(400, "missing or invalid 'event'")
        try:
            ts = int(str(body.get("ts", "")))
        except ValueError:
            raise RejectedEvent(400, "missing or invalid 'ts'") from None
        auth = body.get("auth")
        auth = auth if isinstance(auth, dict) else {}
        token = auth.get("application_token")
        if not token or not isinstance(token, str):
            raise RejectedEvent(400, "missing 'auth[application_token]'")
        data = body.get("data", {})
        if data in ("", None):
            data = {}
        if not isinstance(data, dict):
            raise RejectedEvent(400, "'data' must be a structure")
        return OutboundEvent(
            event=event,
            ts=ts,
            event_handler_id=str(body.get("event_handler_id") or ""),
            data=data,
            domain=str(auth.get("domain") or ""),
            member_id=str(auth.get("member_id") or ""),
            application_token=token,
        )

    def replay_key(self, conn_id: str) -> str:
        identity = json.dumps(
            [conn_id, self.event, self.event_handler_id, self.ts, self.data], sort_keys=True
        )
        return hashlib.sha256(identity.encode()).hexdigest()

    def asset_extra(self) -> dict:
        return {
            "bitrix24": {
                "event": self.event,
                "event_handler_id": self.event_handler_id,
                "ts": self.ts,
                "data": self.data,
                "domain": self.domain,
                "member_id": self.member_id,
            }
        }


# ---------------------------------------------------------------------------------------------
# Replay guard, secrets, recording
# ---------------------------------------------------------------------------------------------


class ReplayGuard:
    """Remembers request keys for ``ttl`` seconds (bounded; thread-safe)."""

    def __init__(self, ttl: float = DEFAULT_MAX_AGE_SECONDS, max_entries: int = 100_000) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def claim(self, key: str) -> bool:
        """True the first time ``key`` is seen within the TTL."""
        now = time.monotonic()
        with self._lock:
            while self._seen and (
                next(iter(self._seen.values())) < now - self.ttl or len(self._seen) > self.max_entries
            ):
                self._seen.popitem(last=False)
            if key in self._seen:
                return False
            self._seen[key] = now
            return True

    def release(self, key: str) -> None:
        with self._lock:
            self._seen.pop(key, None)


@dataclass(frozen=True)
class PushSettings:
    """What a connection allows the push path to do."""

    application_token: str = field(repr=False)
    assets: tuple[str, ...] = ()
    events: tuple[str, ...] = ()

    def allows_asset(self, name: str) -> bool:
        return "*" in self.assets or name in self.assets

    def allows_event(self, event: str) -> bool:
        return not self.events or event in self.events


def _names(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [v for v in value.replace(",", " ").split() if v]
    return tuple(str(v) for v in value or ())


def settings_from_extra(extra: dict) -> PushSettings | None:
    token = extra.get("application_token")
    if not token:
        return None
    return PushSettings(
        application_token=str(token),
        assets=_names(extra.get("push_assets")),
        events=tuple(n.upper() for n in _names(extra.get("push_events"))),
    )


class ConnectionLookup:
    """Connection settings for the push path, with ids that do not exist kept cheap.

    Every lookup may reach a secrets backend that bills per call. An id found missing is
    remembered for ``ttl`` seconds, and ids never seen to exist may cost at most
    ``unknown_per_minute`` lookups a minute together; beyond that they are refused unlooked-up.
    Ids that existed once are always looked up, so a rotated token takes effect at once.
    """

    def __init__(
        self,
        lookup: Callable[[str], PushSettings | None],
        ttl: float = UNKNOWN_CONNECTION_TTL,
        unknown_per_minute: int = UNKNOWN_LOOKUPS_PER_MINUTE,
        clock: Callable[[], float] = time.monotonic,
        max_entries: int = 10_000,
    ) -> None:
        self.lookup = lookup
        self.ttl = ttl
        self.unknown_per_minute = unknown_per_minute
        self.clock = clock
        self.max_entries = max_entries
        self._missing: OrderedDict[str, float] = OrderedDict()  # id -> when to forget it
        self._known: OrderedDict[str, None] = OrderedDict()
        self._unknown_lookups: list[float] = []
        self._lock = threading.Lock()

    def _may_look_up(self, conn_id: str, now: float) -> bool:
        if conn_id in self._known:
            return True
        forget_at = self._missing.get(conn_id)
        if forget_at is not None and forget_at > now:
            return False
        self._unknown_lookups = [t for t in self._unknown_lookups if t > now - 60.0]
        if len(self._unknown_lookups) >= self.unknown_per_minute:
            return False
        self._unknown_lookups.append(now)
        return True

    def __call__(self, conn_id: str) -> PushSettings | None:
        with self._lock:
            if not self._may_look_up(conn_id, self.clock()):
                return None
        settings = self.lookup(conn_id)
        with self._lock:
            if settings is None:
                self._missing[conn_id] = self.clock() + self.ttl
                self._missing.move_to_end(conn_id)
                while len(self._missing) > self.max_entries:
                    self._missing.popitem(last=False)
            else:
                self._missing.pop(conn_id, None)
                self._known[conn_id] = None
                while len(self._known) > self.max_entries:
                    self._known.popitem(last=False)
        return settings


def connection_settings(conn_id: str) -> PushSettings | None:
    """Push settings from an Airflow connection (metadata DB, secrets backends or env)."""
    from airflow.exceptions import AirflowNotFoundException
    from airflow.models.connection import Connection

    try:
        conn = Connection.get_connection_from_secrets(conn_id)
    except AirflowNotFoundException:
        return None
    return settings_from_extra(conn.extra_dejson)


def record_asset_event(asset_name: str, extra: dict) -> int | None:
    """Store an asset event the way Airflow's REST endpoint does; ``None`` when no such asset exists.

    Airflow has no public Python API for this (its public one is the REST route, which needs a
    user's token), so this is the one place that calls its asset manager; a test checks the
    call still fits the installed Airflow.
    """
    from airflow.assets.manager import asset_manager
    from airflow.models.asset import AssetActive, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        asset = session.scalar(
            select(AssetModel)
            .join(AssetActive, AssetActive.name == AssetModel.name)
            .where(AssetModel.name == asset_name)
            .limit(1)
        )
        if asset is None:
            return None
        event = asset_manager.register_asset_change(
            asset=asset, extra=extra, session=session, **_api_source_arguments()
        )
        return None if event is None else int(event.id)


def _api_source_arguments() -> dict[str, Any]:
    """Mark the event as coming through an API, as Airflow's REST route does, on the releases whose
    asset manager knows API sources (3.3+); 3.2 has no such arguments."""
    import inspect

    from airflow.assets.manager import asset_manager

    params = inspect.signature(asset_manager.register_asset_change).parameters
    return {"source_is_api": True, "api_user_teams": set()} if "source_is_api" in params else {}


# ---------------------------------------------------------------------------------------------
# The receiver and its FastAPI app
# ---------------------------------------------------------------------------------------------


@dataclass
class EventReceiver:
    """Decides on one request; the HTTP layer only translates. Collaborators are injectable."""

    settings_for: Callable[[str], PushSettings | None] = field(
        default_factory=lambda: ConnectionLookup(connection_settings)
    )
    recorder: Callable[[str, dict], int | None] = record_asset_event
    max_age_seconds: int = DEFAULT_MAX_AGE_SECONDS
    guard: ReplayGuard = field(default_factory=ReplayGuard)
    clock: Callable[[], float] = time.time

    def receive(self, conn_id: str, asset_name: str, body: dict) -> int:
        """Record the event and return the asset event id, or raise :class:`RejectedEvent`."""
        event = OutboundEvent.from_body(body)
        settings = self.settings_for(conn_id)
        # Unknown connection and wrong token answer alike, so the endpoint reveals nothing.
        expected = settings.application_token.encode() if settings else _NO_CONNECTION
        token_matches = hmac.compare_digest(expected, event.application_token.encode())
        if settings is None or not token_matches:
            log.warning(
                "Bitrix24 push: rejected %s for %s via %r: invalid application token",
                event.event,
                asset_name,
                conn_id,
            )
            raise RejectedEvent(403, "invalid application token")
        if not settings.allows_asset(asset_name):
            raise RejectedEvent(403, f"connection {conn_id!r} may not trigger asset {asset_name!r}")
        if not settings.allows_event(event.event):
            raise RejectedEvent(422, f"event {event.event} is not in this connection's push_events")
        age = self.clock() - event.ts
        if age > self.max_age_seconds or age < -FUTURE_SKEW_SECONDS:
            raise RejectedEvent(400, "stale or future 'ts'")
        key = event.replay_key(conn_id)
        if not self.guard.claim(key):
            log.warning("Bitrix24 push: replayed %s for %s via %r refused", event.event, asset_name, conn_id)
            raise RejectedEvent(409, "event already received")
        try:
            event_id = self.recorder(asset_name, event.asset_extra())
        except Exception:
            self.guard.release(key)  # not recorded: the same call may come again
            raise
        if event_id is None:
            self.guard.release(key)
            raise RejectedEvent(404, f"no active asset named {asset_name!r}")
        log.info("Bitrix24 push: %s recorded as asset event %s of %s", event.event, event_id, asset_name)
        return event_id


def create_app(receiver: EventReceiver | None = None) -> FastAPI:
    """The FastAPI app mounted by the plugin (under ``/bitrix24``)."""
    receiver = receiver or EventReceiver()
    app = FastAPI(title="Bitrix24 event receiver", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.receiver = receiver

    @app.post("/events/{conn_id}/{asset_name:path}")
    async def receive_event(conn_id: str, asset_name: str, request: Request) -> JSONResponse:
        try:
            body = await _read_body(request)
            event_id = await _in_thread(receiver.receive, conn_id, asset_name, body)
        except RejectedEvent as rejected:
            return JSONResponse(
                {"status": "rejected", "detail": rejected.reason}, status_code=rejected.status
            )
        return JSONResponse({"status": "recorded", "asset": asset_name, "asset_event_id": event_id})

    return app


async def _in_thread(fn: Callable, *args: Any) -> Any:
    # The receiver reads connections and writes to the metadata DB synchronously.
    return await anyio.to_thread.run_sync(fn, *args)


async def _read_body(request: Request) -> dict:
    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_BODY_BYTES:
            raise RejectedEvent(413, "request body too large")
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        text = raw.decode("utf-8")
        if content_type == "application/json":
            body = json.loads(text or "{}")
            _check_depth(body)
        elif content_type in ("application/x-www-form-urlencoded", ""):
            body = parse_form(text)
        else:
            raise RejectedEvent(415, "send application/x-www-form-urlencoded")
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise RejectedEvent(400, "unreadable body") from None
    if not isinstance(body, dict):
        raise RejectedEvent(400, "body must be a structure")
    return body
