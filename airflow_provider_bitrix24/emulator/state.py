"""Portal state: tables, credentials and tokens, limits, faults, cost model and the request log.

Everything mutable lives in :class:`Portal` and is guarded by ``portal.lock`` (handlers run under
it); the HTTP layer in ``server.py`` only translates between sockets and :meth:`Portal.handle`.
"""

from __future__ import annotations

import csv
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta, timezone
from importlib import resources
from typing import Any

from .entities import ENTITIES, seed_rows
from .limits import LeakyBucket, OperatingLimiter
from .table import Table, default_timezone

TRANSPORT_FAULTS = ("drop_before", "drop_after", "delay", "html", "truncated", "redirect")
FAULT_KINDS = ("error",) + TRANSPORT_FAULTS
TOKEN_ENDPOINT = "oauth/token"  # ``method`` value that targets faults at the token endpoint


@dataclass
class CostModel:
    """Modelled server cost, slept for real so benchmarks see honest wall-clock time.

    ``latency`` is paid once per HTTP request, ``per_call`` per executed method (batch sub-calls
    included), ``per_row`` per row returned or written and ``count_per_row`` per table row each
    time a list call runs its COUNT query (``start >= 0``). The defaults of :meth:`realistic`
    reproduce the huge-data guide's measurement: on 2.39 M rows a page with COUNT took 49.9 s
    and one without took 0.097 s. ``scale`` shrinks every term by the same factor.
    A reply is sent no earlier than the modelled time after the request arrived; the emulator's
    own processing counts toward it (only the remainder is slept).
    ``sleep=False`` only books the time (into ``time.processing`` and operating) without waiting.
    ``time_limit`` (off by default) is the cloud's 60 s cap on one request: a request whose booked
    time passes it is cut off there (batch commands after the cut are not run) and answered with
    a 504 gateway page.
    """

    latency: float = 0.0
    per_call: float = 0.0
    per_row: float = 0.0
    count_per_row: float = 0.0
    sleep: bool = True
    time_limit: float | None = None

    @classmethod
    def realistic(cls, scale: float = 1.0, sleep: bool = True, time_limit: bool = False) -> CostModel:
        count_rows = 2_387_743
        return cls(
            latency=0.03 * scale,
            per_call=0.02 * scale,
            per_row=0.001 * scale,  # 50 rows -> 0.05 s; with the rest ~0.1 s per page
            count_per_row=(49.9 - 0.097) / count_rows * scale,
            sleep=sleep,
            time_limit=60.0 * scale if time_limit else None,
        )

    def call_cost(self, rows: int, count_rows: int) -> float:
        return self.per_call + self.per_row * rows + self.count_per_row * count_rows


@dataclass
class Fault:
    kind: str  # one of FAULT_KINDS
    status: int = 500
    error: Any = "INTERNAL_SERVER_ERROR"
    description: str = ""
    count: int = 1
    method: str | None = None
    delay: float = 0.0
    location: str | None = None  # redirect target base URL
    skip: int = 0  # matching requests to let through before the fault fires

    def applies_to(self, method_name: str | None) -> bool:
        return self.method is None and method_name != TOKEN_ENDPOINT or self.method == method_name


@dataclass
class RequestRecord:
    """One HTTP request (or, inside ``sub_calls``, one batch command)."""

    method: str
    params: dict
    auth_kind: str | None  # "webhook" | "oauth" | None
    http_status: int = 200
    error: Any = None
    is_batch: bool = False
    sub_calls: list[RequestRecord] = field(default_factory=list)
    count_query: bool = False
    timestamp: float = field(default_factory=time.time)
    duration: float = 0.0
    http_method: str = "POST"
    path: str = ""  # the webhook code is masked: /rest/1/***/crm.deal.list
    key: str | None = None  # batch command key for sub-calls
    fault: str | None = None  # injected fault kind that shaped this reply

    @property
    def ok(self) -> bool:
        return self.error is None and self.http_status == 200


@dataclass
class AccessToken:
    user_id: int
    expires_at: float
    client_id: str


@dataclass
class Identity:
    """Who is calling; ``key`` groups operating-time accounting (one webhook or one app)."""

    kind: str
    user_id: int
    key: str


def load_catalogue_methods() -> frozenset[str]:
    text = resources.files("airflow_provider_bitrix24.catalogue").joinpath("methods.tsv").read_text("utf-8")
    rows = csv.reader(text.splitlines(), delimiter="\t")
    next(rows, None)
    return frozenset(row[0].strip().lower() for row in rows if row and row[0].strip())


DEFAULT_RATE = (50.0, 2.0)
DEFAULT_OPERATING_LIMIT = 480.0
DEFAULT_ACCESS_LIFETIME = 3600


class Portal:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.tz = default_timezone()
        self.domain = "emulator.bitrix24.local"
        self.member_id = secrets.token_hex(16)
        self.webhook_user_id = 1
        self.webhook_code = secrets.token_hex(8)
        self.client_id = f"local.{secrets.token_hex(7)}.{secrets.randbelow(10**8):08d}"
        self.client_secret = secrets.token_urlsafe(36)
        self.base_url = ""  # set by the server once bound
        self.catalogue = load_catalogue_methods()
        self.scope = "crm,user,task,imopenlines,im,disk,entity,lists,catalog,bizproc,department,placement,log"
        self.reset()

    # -- lifecycle -------------------------------------------------------------------------
    def reset(self) -> None:
        """Back to a fresh portal: empty tables, no tokens/faults/log, default limits; same credentials."""
        with self.lock:
            self.tables: dict[str, Table] = {}
            self.access_tokens: dict[str, AccessToken] = {}
            self.refresh_tokens: dict[str, int] = {}  # refresh token -> user id; removed once used
            self.refresh_count = 0
            self.count_queries = 0
            self.requests: list[RequestRecord] = []
            self.faults: list[Fault] = []
            self.rate: LeakyBucket | None = LeakyBucket(*DEFAULT_RATE)
            self.operating = OperatingLimiter(DEFAULT_OPERATING_LIMIT)
            self.cost: CostModel | None = None
            self.access_lifetime = DEFAULT_ACCESS_LIFETIME
            self.allowed_scopes: frozenset[str] | None = None
            self.state: dict[str, Any] = {}  # free space for handler modules (counters, options)
            self._seed_users()

    def _seed_users(self) -> None:
        from .handlers import load_all

        load_all()
        users = self.table("user")
        seed_rows(
            ENTITIES["user"],
            users,
            [
                {
                    "ID": self.webhook_user_id,
                    "NAME": "Portal",
                    "LAST_NAME": "Admin",
                    "EMAIL": "admin@example.com",
                    "ADMIN": True,
                }
            ],
            self.webhook_user_id,
        )

    def configure(self, **options: Any) -> None:
        with self.lock:
            for name, value in options.items():
                if name == "rate_limit":
                    self.rate = _bucket(value)
                elif name == "operating_limit":
                    if isinstance(value, OperatingLimiter):  # a prepared one (tests pass a fake clock)
                        self.operating = value
                    else:
                        self.operating.limit = value
                elif name == "operating_basket_seconds":
                    self.operating.basket_seconds = float(value)
                elif name == "operating_baskets":
                    self.operating.baskets = int(value)
                elif name == "cost":
                    self.cost = value
                elif name == "access_token_lifetime":
                    self.access_lifetime = int(value)
                elif name == "scopes":
                    self.allowed_scopes = None if value is None else frozenset(value)
                elif name == "timezone_hours":
                    self.tz = timezone(timedelta(hours=value))
                    for table in self.tables.values():
                        table.tz = self.tz
                else:
                    raise TypeError(f"unknown emulator option {name!r}")

    # -- tables ----------------------------------------------------------------------------
    def table(self, name: str) -> Table:
        table = self.tables.get(name)
        if table is None:
            spec = ENTITIES.get(name.split("#", 1)[0])
            if spec is None:
                table = Table(name, tz=self.tz)
            else:
                table = Table(name, spec.id_field, spec.datetime_fields, self.tz)
            self.tables[name] = table
        return table

    # -- OAuth -----------------------------------------------------------------------------
    def issue_tokens(self, user_id: int | None = None, expires_in: int | None = None) -> tuple[str, str, int]:
        with self.lock:
            lifetime = self.access_lifetime if expires_in is None else expires_in
            access = secrets.token_hex(35)
            refresh = secrets.token_hex(35)
            uid = self.webhook_user_id if user_id is None else user_id
            self.access_tokens[access] = AccessToken(uid, time.time() + lifetime, self.client_id)
            self.refresh_tokens[refresh] = uid
            return access, refresh, lifetime

    def expire_access_tokens(self) -> None:
        with self.lock:
            for token in self.access_tokens.values():
                token.expires_at = 0.0

    def token_reply(self, user_id: int, access: str, refresh: str, lifetime: int) -> dict:
        return {
            "access_token": access,
            "expires": int(time.time()) + lifetime,
            "expires_in": lifetime,
            "scope": self.scope,
            "domain": "oauth.bitrix.info",
            "server_endpoint": f"{self.base_url}/rest/",
            "status": "L",
            "client_endpoint": f"{self.base_url}/rest/",
            "member_id": self.member_id,
            "user_id": user_id,
            "refresh_token": refresh,
        }

    # -- faults ----------------------------------------------------------------------------
    def take_fault(
        self, method_name: str | None, kinds: tuple[str, ...], exact: bool = False
    ) -> Fault | None:
        """Consume one pending fault of one of ``kinds`` that targets this method (``exact``: only
        faults naming it, as for batch commands)."""
        with self.lock:
            for fault in self.faults:
                if fault.kind in kinds and (
                    fault.method == method_name if exact else fault.applies_to(method_name)
                ):
                    if fault.skip > 0:
                        fault.skip -= 1
                        continue
                    fault.count -= 1
                    if fault.count <= 0:
                        self.faults.remove(fault)
                    return fault
        return None

    def log(self, record: RequestRecord) -> None:
        with self.lock:
            self.requests.append(record)


def _bucket(value: Any) -> LeakyBucket | None:
    if value is None:
        return None
    if isinstance(value, LeakyBucket):
        return value
    if isinstance(value, dict):
        return LeakyBucket(float(value.get("burst", 50)), float(value.get("per_second", 2)))
    burst, per_second = value
    return LeakyBucket(float(burst), float(per_second))
