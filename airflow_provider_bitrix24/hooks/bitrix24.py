"""Bitrix24Hook: turns an Airflow connection into a :class:`Bitrix24Client`.

Connection fields (``conn_type="bitrix24"``):

============  =====================================================================
auth_type     extra ``auth_type``: ``webhook`` (default), ``oauth2`` or ``api_key``
webhook       host = portal URL (scheme optional, https assumed; http for local portals);
              login = user id; password = webhook code *or* the whole webhook URL
              (``https://x.bitrix24.com/rest/1/abc/``; then host and login may be empty)
oauth2        host = portal URL; login = client_id; password = client_secret;
              extra ``refresh_token`` (required), ``access_token`` (optional),
              ``token_url`` (default ``https://oauth.bitrix.info/oauth/token/``), ``token_store``
api_key       host = portal URL; password = access token (never refreshed)
============  =====================================================================

Optional extras for every mode: ``rate_limit`` (``{"burst": 50, "per_second": 2, "scope": "host"}``,
or flat ``rate_limit_burst``/``rate_limit_per_second``/``rate_limit_scope``; scope ``process`` (default)
or ``host`` = one bucket for all processes on the machine; ``false`` disables the client-side limiter),
``timeout`` (read, s), ``connect_timeout`` (s), ``max_retries``, ``max_operation_wait`` (longest
total wait, s, for an ``OPERATION_TIME_LIMIT`` to lift; default 660), ``paginate_parallel`` (chained
batches a whole-table read keeps in flight, 1-50, or ``auto`` (default): all windows at once
while they fit in the rate limiter's burst, else 8; 1 reads one chain at a time),
``paginate_buffer_mb`` (memory those windows may hold, default 128), ``batch_parallel``
(requests of 50 commands a batch without halt keeps in flight, 1-50, or ``auto`` (default): all
at once while they fit in the rate limiter's burst, else 8),
``operating_limit`` (the portal's operating-time limit per method, s per 10 minutes, default 480
as in the cloud; calls and batches are paced to stay under it; 0 or ``off`` turns pacing off).

Token store (oauth2): Bitrix24 rotates the refresh token on every refresh, so the new pair must
outlive the process. ``token_store`` selects where it lives:

* ``{"type": "variable", "key": ...}`` or ``"variable:<key>"`` - an Airflow Variable (default,
  key ``bitrix24_tokens_<portal host>_<client id>``, see :func:`default_token_key`; a pair saved
  under the earlier default ``bitrix24_tokens_<conn_id>`` is read until the next save moves it).
  Visible to every worker of the deployment: written through
  the Task SDK inside tasks and the triggerer, through the metadata database elsewhere; where
  neither is reachable (a bare script) the hook warns and keeps tokens in memory. Variables have
  no cross-process lock: two workers refreshing at the same instant are reconciled by the
  client's ``invalid_grant`` recovery (the loser re-reads the Variable).
* ``{"type": "file", "path": ...}`` or ``"file:<path>"`` - a JSON file with an ``fcntl`` lock:
  exact one-refresh-per-expiry for all processes on one host.
* ``"memory"`` - this process only, shared by all its hooks for one app on one portal (as is the
  in-memory fallback of ``variable``), so one expiry costs one refresh.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import re
import sys
import threading
from collections.abc import Iterable, Iterator, Mapping
from functools import cached_property
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from airflow.exceptions import AirflowNotFoundException
from airflow.sdk import BaseHook

from airflow_provider_bitrix24.client import (
    DEFAULT_TOKEN_URL,
    BatchResult,
    Bitrix24Client,
    Bitrix24ConfigError,
    Bitrix24Error,
    FileTokenStore,
    MemoryTokenStore,
    OAuth2Auth,
    StaticTokenAuth,
    TokenPair,
    TokenStore,
    WebhookAuth,
    normalize_portal_url,
)
from airflow_provider_bitrix24.client.auth import Auth, parse_webhook_url, shared_memory_store
from airflow_provider_bitrix24.client.errors import add_secret_listener, register_secret, scrub
from airflow_provider_bitrix24.client.ratelimit import SCOPES as RATE_LIMIT_SCOPES

if TYPE_CHECKING:
    from airflow_provider_bitrix24.client.aio import AsyncBitrix24Client

log = logging.getLogger(__name__)

AUTH_TYPES = ("webhook", "oauth2", "api_key")
DEFAULTS = {
    "timeout": 65.0,
    "connect_timeout": 10.0,
    "max_retries": 5,
    "max_operation_wait": 660.0,
    "paginate_buffer_mb": 128.0,
    "operating_limit": 480.0,
}


def _bridge_to_airflow_masker() -> None:
    """Every secret the client core learns (incl. rotated tokens) is masked in Airflow logs too."""
    try:
        from airflow.sdk.log import mask_secret
    except ImportError:  # pragma: no cover - very old task SDK
        return
    add_secret_listener(mask_secret)


_VARIABLE_KEY_MAX = 250  # Airflow's limit on a Variable key


def default_token_key(portal_url: str, client_id: str) -> str:
    """The Variable that keeps the OAuth pair of application ``client_id`` on a portal by default:
    ``bitrix24_tokens_<portal host>_<client id>``, other characters than letters, digits, ``.``,
    ``-`` and ``_`` replaced by ``_``.

    Named after the grant rather than the connection id, so that every connection of that grant
    renews one pair, including the copy the UI's Test button makes under a random id (a renewal
    there spends the refresh token the connection holds)."""
    parts = urlsplit(normalize_portal_url(portal_url))
    portal = (parts.netloc + parts.path).lower()
    key = re.sub(r"[^A-Za-z0-9._-]", "_", f"bitrix24_tokens_{portal}_{client_id.strip()}")
    if len(key) > _VARIABLE_KEY_MAX:
        digest = hashlib.sha256(key.encode()).hexdigest()[:16]
        key = f"{key[: _VARIABLE_KEY_MAX - len(digest) - 1]}_{digest}"
    return key


class VariableTokenStore:
    """Token pair kept in an Airflow Variable (JSON).

    Inside a task or the triggerer it goes through the Task SDK (``airflow.sdk.Variable``);
    elsewhere (API server "Test connection", scripts on a scheduler host) through the metadata
    database, so a refresh made there is not lost either.

    ``legacy_key``: a Variable read while ``key`` holds no pair (an earlier default key); the next
    save writes ``key``, and from then on only ``key`` is read.
    """

    _locks: dict[str, threading.RLock] = {}
    _locks_guard = threading.Lock()

    def __init__(self, key: str, legacy_key: str | None = None) -> None:
        self.key = key
        self.legacy_key = legacy_key
        with self._locks_guard:
            self._lock = self._locks.setdefault(key, threading.RLock())

    def load(self) -> TokenPair | None:
        raw = self._get(self.key)
        if not raw and self.legacy_key:
            raw = self._get(self.legacy_key)
        if not raw:
            return None
        try:
            return TokenPair.from_json(json.loads(raw) if isinstance(raw, str) else raw)
        except ValueError:
            log.warning("Variable %s does not hold a Bitrix24 token pair; ignoring it", self.key)
            return None

    @staticmethod
    def _get(key: str) -> Any:
        if _in_execution_context():
            from airflow.sdk import Variable

            return Variable.get(key, default=None)
        from airflow.models.variable import Variable as DbVariable

        return DbVariable.get(key, default_var=None)

    def save(self, pair: TokenPair) -> None:
        value = json.dumps(pair.to_json())
        description = "Bitrix24 OAuth tokens (rotated by the provider)"
        if _in_execution_context():
            from airflow.sdk import Variable

            Variable.set(self.key, value, description=description)
        else:
            from airflow.models.variable import Variable as DbVariable

            DbVariable.set(self.key, value, description=description)

    def lock(self) -> contextlib.AbstractContextManager[None]:
        return self._lock  # type: ignore[return-value]

    def __repr__(self) -> str:
        return f"VariableTokenStore({self.key!r})"


def _probe_metadata_db() -> None:
    """Raise unless the metadata database's variable table can be read (checked before a refresh
    could rotate a token that then has nowhere to go)."""
    from airflow.models.variable import Variable as DbVariable
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        session.execute(select(DbVariable.key).limit(1)).all()


def _in_execution_context() -> bool:
    """True inside a running task or the triggerer, where the Task SDK reaches Variables."""
    module = sys.modules.get("airflow.sdk.execution_time.task_runner")
    return getattr(module, "SUPERVISOR_COMMS", None) is not None


class Bitrix24Hook(BaseHook):
    """Interact with a Bitrix24 portal through the REST API.

    :param bitrix24_conn_id: Airflow connection of type ``bitrix24`` (see module docstring).
    """

    conn_name_attr = "bitrix24_conn_id"
    default_conn_name = "bitrix24_default"
    conn_type = "bitrix24"
    hook_name = "Bitrix24"

    def __init__(self, bitrix24_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.bitrix24_conn_id = bitrix24_conn_id

    # ------------------------------------------------------------------ connection -> client

    @cached_property
    def _connection(self):
        return self.get_connection(self.bitrix24_conn_id)

    @cached_property
    def _extra(self) -> dict:
        extra = self._connection.extra_dejson
        extra = extra if isinstance(extra, dict) else {}
        # Forms of older UIs store custom fields as extra__bitrix24__<name>; plain keys win.
        prefix = f"extra__{self.conn_type}__"
        legacy = {
            k[len(prefix) :]: v for k, v in extra.items() if k.startswith(prefix) and v not in (None, "")
        }
        return {**legacy, **{k: v for k, v in extra.items() if not k.startswith(prefix)}}

    @property
    def auth_type(self) -> str:
        """``webhook``, ``oauth2`` or ``api_key`` (validated)."""
        value = str(self._extra.get("auth_type") or "webhook").strip().lower()
        if value not in AUTH_TYPES:
            raise self._config_error(
                "extra.auth_type", f"unknown value {value!r}; use one of {', '.join(AUTH_TYPES)}"
            )
        return value

    def get_conn(self) -> Bitrix24Client:
        """The connection's client, built once per hook (keep-alive session, shared rate limiter)."""
        return self._client

    @cached_property
    def _client(self) -> Bitrix24Client:
        portal, auth, options = self._client_settings()
        try:
            return Bitrix24Client(
                portal,
                auth,
                paginate_parallel=self._paginate_parallel(),
                paginate_buffer_mb=self._number("paginate_buffer_mb", DEFAULTS["paginate_buffer_mb"]),
                **options,
            )
        except Bitrix24ConfigError as exc:
            raise self._config_error(_field_named(exc.description), exc.description) from None

    def async_client(self) -> AsyncBitrix24Client:
        """A new :class:`~airflow_provider_bitrix24.client.aio.AsyncBitrix24Client` of the
        connection, for an event loop (the triggerer): same auth (and token store), rate
        limiter, pacing and retry settings as :meth:`get_conn`. Reading the connection and
        opening the token store block, so call this in a worker thread once
        (``await asyncio.to_thread(hook.async_client)``); close the client with ``aclose``."""
        from airflow_provider_bitrix24.client.aio import AsyncBitrix24Client  # httpx: only where used

        portal, auth, options = self._client_settings()
        try:
            return AsyncBitrix24Client(portal, auth, **options)
        except Bitrix24ConfigError as exc:
            raise self._config_error(_field_named(exc.description), exc.description) from None

    def _client_settings(self) -> tuple[str, Auth, dict[str, Any]]:
        """The portal, the auth strategy and the options both clients take."""
        _bridge_to_airflow_masker()
        conn = self._connection
        for secret in (
            conn.password,
            *(self._extra.get(k) for k in ("refresh_token", "access_token", "application_token")),
        ):
            register_secret(secret)
        portal, auth = self._build_auth()
        options = {
            "timeout": (
                self._number("connect_timeout", DEFAULTS["connect_timeout"]),
                self._number("timeout", DEFAULTS["timeout"]),
            ),
            "rate_limit": self._rate_limit(),
            "max_retries": int(self._number("max_retries", DEFAULTS["max_retries"], allow_zero=True)),
            "max_operation_wait": self._number(
                "max_operation_wait", DEFAULTS["max_operation_wait"], allow_zero=True
            ),
            "batch_parallel": self._batch_parallel(),
            "operating_limit": self._operating_limit(),
        }
        return portal, auth, options

    def _build_auth(self) -> tuple[str, Auth]:
        conn = self._connection
        auth_type = self.auth_type
        password = (conn.password or "").strip()
        try:
            if auth_type == "webhook":
                if "/rest/" in password:
                    portal, user_id, code = parse_webhook_url(password)
                    return self._portal(default=portal), WebhookAuth(user_id, code)
                if not password:
                    raise self._config_error(
                        "password", "the webhook code (or the whole webhook URL) is missing"
                    )
                if not (conn.login or "").strip():
                    raise self._config_error("login", "the webhook user id is missing")
                return self._portal(), WebhookAuth(conn.login, password)
            if auth_type == "api_key":
                if not password:
                    raise self._config_error("password", "the access token is missing")
                return self._portal(), StaticTokenAuth(password)
            # oauth2
            if not (conn.login or "").strip():
                raise self._config_error("login", "the OAuth client_id is missing")
            if not password:
                raise self._config_error("password", "the OAuth client_secret is missing")
            store = self._token_store()
            if not self._extra.get("refresh_token") and store.load() is None:
                raise self._config_error("extra.refresh_token", "an OAuth refresh token is required")
            portal = self._portal()
            return portal, OAuth2Auth(
                conn.login.strip(),
                password,
                refresh_token=self._extra.get("refresh_token"),
                access_token=self._extra.get("access_token"),
                token_url=self._extra.get("token_url") or DEFAULT_TOKEN_URL,
                store=store,
                timeout=(
                    self._number("connect_timeout", DEFAULTS["connect_timeout"]),
                    self._number("timeout", DEFAULTS["timeout"]),
                ),
            )
        except Bitrix24ConfigError as exc:
            if exc.description.startswith(self._connection_label()):
                raise
            raise self._config_error(_field_named(exc.description), exc.description) from None

    def _portal(self, default: str | None = None) -> str:
        conn = self._connection
        host = (conn.host or "").strip()
        if not host:
            if default:
                return default
            raise self._config_error(
                "host", "the portal URL is missing, e.g. https://your-company.bitrix24.com"
            )
        if "://" not in host and conn.schema in ("http", "https"):
            host = f"{conn.schema}://{host}"
        if conn.port:
            parts = urlsplit(host if "://" in host else f"https://{host}")
            with contextlib.suppress(ValueError):
                if parts.port is None:
                    host = urlunsplit(parts._replace(netloc=f"{parts.netloc}:{conn.port}"))
        return host

    def token_store(self, portal: str | None = None, client_id: str | None = None) -> TokenStore:
        """Where this connection keeps its OAuth pair: extra ``token_store``, by default the Variable
        :func:`default_token_key` names. The authorize command saves the first pair there, also
        before the connection exists; it gives the ``portal`` and ``client_id`` it authorised,
        which then name the default Variable instead of the connection's host and login."""
        try:
            self._connection  # noqa: B018 - a missing connection gets the default store
        except AirflowNotFoundException:
            self._extra = {}
        return self._token_store((portal, client_id) if portal and client_id else None)

    def _token_store(self, grant: tuple[str, str] | None = None) -> TokenStore:
        raw = self._extra.get("token_store")
        if isinstance(raw, str):
            kind, _, arg = raw.partition(":")
            raw = {"type": kind.strip(), "path": arg.strip(), "key": arg.strip()}
        if raw is None:
            raw = {"type": "variable"}
        if not isinstance(raw, Mapping):
            raise self._config_error(
                "extra.token_store", "must be 'variable:<key>', 'file:<path>', 'memory' or an object"
            )
        kind = str(raw.get("type") or "variable").lower()
        if kind == "file":
            if not raw.get("path"):
                raise self._config_error("extra.token_store", "type 'file' needs a path")
            return FileTokenStore(raw["path"])
        if kind == "memory":
            return self._memory_store()
        if kind == "variable":
            if raw.get("key"):
                store = VariableTokenStore(raw["key"])
            else:
                portal, client_id = grant or (self._portal(), self._connection.login or "")
                store = VariableTokenStore(
                    default_token_key(portal, client_id),
                    legacy_key=f"bitrix24_tokens_{self.bitrix24_conn_id}",
                )
            if _in_execution_context():
                return store
            try:
                _probe_metadata_db()  # outside a task the Variable lives in the metadata database
            except Exception as exc:
                log.warning(
                    "Bitrix24 connection %r: token store 'variable' needs a running task or the Airflow "
                    "metadata database (%s); keeping rotated OAuth tokens in memory for this process. "
                    "Use token_store 'file:<path>' for scripts.",
                    self.bitrix24_conn_id,
                    type(exc).__name__,
                )
                return self._memory_store()
            return store
        raise self._config_error("extra.token_store", f"unknown type {kind!r}; use variable, file or memory")

    def _memory_store(self) -> MemoryTokenStore:
        """The in-memory store every hook of this process shares for this app on this portal, so
        that one expiry costs one refresh; a private one while the connection does not exist."""
        try:
            client_id = (self._connection.login or "").strip()
            portal = normalize_portal_url(self._portal())
        except (AirflowNotFoundException, Bitrix24ConfigError):
            return MemoryTokenStore()
        return shared_memory_store(portal, client_id) if client_id else MemoryTokenStore()

    def _rate_limit(self) -> Any:
        extra = self._extra
        value = extra.get("rate_limit", None)
        if value is False:
            return None
        if isinstance(value, Mapping):
            return dict(value)
        if value is not None:
            raise self._config_error("extra.rate_limit", 'must be {"burst": N, "per_second": R} or false')
        # The form's fields, saved as strings; empty ones mean the portal's documented defaults.
        flat: dict[str, Any] = {}
        for key in ("burst", "per_second"):
            if extra.get(f"rate_limit_{key}") not in (None, ""):
                flat[key] = self._number(f"rate_limit_{key}", 0)
        scope = extra.get("rate_limit_scope")
        if scope not in (None, ""):
            flat["scope"] = str(scope).strip().lower()
            if flat["scope"] not in RATE_LIMIT_SCOPES:
                raise self._config_error(
                    "extra.rate_limit_scope", f"must be one of {', '.join(RATE_LIMIT_SCOPES)}, got {scope!r}"
                )
        return flat

    def _batch_parallel(self) -> int | None:
        value = self._extra.get("batch_parallel")
        if value is None or str(value).strip().lower() in ("", "auto"):
            return None  # the client chooses: every request at once while they fit in the burst, else 8
        return int(self._number("batch_parallel", 0))

    def _paginate_parallel(self) -> int | None:
        value = self._extra.get("paginate_parallel")
        if value is None or str(value).strip().lower() in ("", "auto"):
            return None  # the client chooses from the export's size
        return int(self._number("paginate_parallel", 0))

    def _operating_limit(self) -> float | None:
        value = self._extra.get("operating_limit")
        if value is False or (isinstance(value, str) and value.strip().lower() in ("off", "false", "none")):
            return None  # pacing off: a refusal is waited out instead
        return self._number("operating_limit", DEFAULTS["operating_limit"], allow_zero=True) or None

    def _number(self, key: str, default: float, *, allow_zero: bool = False) -> float:
        value = self._extra.get(key)
        if value is None or value == "":
            return default
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise self._config_error(f"extra.{key}", f"must be a number, got {value!r}") from None
        if number < 0 or (number == 0 and not allow_zero):
            raise self._config_error(
                f"extra.{key}", "must not be negative" if allow_zero else "must be positive"
            )
        return number

    def _config_error(self, field: str, problem: str) -> Bitrix24ConfigError:
        return Bitrix24ConfigError(description=f"{self._connection_label()}, field {field}: {scrub(problem)}")

    # While test_connection runs, name the connection by its portal: the UI's Test button tests
    # a copy under a random temporary id the user has never seen.
    _named_by_portal = False

    def _connection_label(self) -> str:
        if not self._named_by_portal:
            return f"connection {self.bitrix24_conn_id!r}"
        try:
            host = (self._connection.host or "").strip()
        except AirflowNotFoundException:
            host = ""
        return f"connection to {host}" if host else "the connection under test"

    # ------------------------------------------------------------------ API

    def call(self, method: str, params: Mapping[str, Any] | None = None) -> Any:
        """Call a REST method; return its ``result``.

        A list method answers one page. When its reply says more rows follow (``next``), a warning
        names the ways to them: :meth:`paginate` / :meth:`get_all` for every row, :meth:`call_raw`
        for the whole envelope with ``next`` and ``total``."""
        envelope = self.get_conn().call_raw(method, params)
        if envelope.get("next") is not None:
            log.warning(
                "%s returned one page (next=%s, total=%s); use paginate() or get_all() for every row, "
                "or call_raw() for the envelope with next and total",
                method,
                envelope.get("next"),
                envelope.get("total"),
            )
        return envelope.get("result")

    def call_raw(self, method: str, params: Mapping[str, Any] | None = None) -> dict:
        """Call a REST method; return the whole envelope (``result``, ``next``, ``total``, ``time``)."""
        return self.get_conn().call_raw(method, params)

    def batch(self, commands: Mapping[str, Any] | Iterable[Any], halt: bool = False) -> BatchResult:
        """Run many commands via ``batch`` (chunked by 50).

        In ``(method, params)`` commands the values are sent as written: a ``"$result[0]"`` in
        them is stored as text. An intended reference to an earlier command of the same chunk is
        written ``result_ref("key", ...)`` (from ``airflow_provider_bitrix24.client``) or inside
        a ready ``"method?query"`` string. See :meth:`Bitrix24Client.batch`."""
        return self.get_conn().batch(commands, halt=halt)

    def paginate(
        self, method: str, params: Mapping[str, Any] | None = None, *, limit: int | None = None
    ) -> Iterator[dict]:
        """Yield every record of a list method (see :meth:`Bitrix24Client.paginate`)."""
        return self.get_conn().paginate(method, params, limit=limit)

    def get_all(
        self, method: str, params: Mapping[str, Any] | None = None, limit: int | None = None
    ) -> list[dict]:
        """All records of a list method as a list."""
        return list(self.paginate(method, params, limit=limit))

    def test_connection(self) -> tuple[bool, str]:
        """Call ``user.current`` (allowed for webhooks and applications alike). Messages name the
        connection by its portal, not by its id (see :meth:`_connection_label`)."""
        self._named_by_portal = True
        try:
            user = self.call("user.current")
        except Bitrix24Error as exc:
            return False, str(exc)
        except Exception as exc:  # surfaced in the UI; never let secrets through
            return False, scrub(f"{type(exc).__name__}: {exc}")
        name = (
            " ".join(str(user.get(k) or "") for k in ("NAME", "LAST_NAME")).strip()
            if isinstance(user, dict)
            else ""
        )
        who = (
            f"user {user.get('ID')}" + (f" ({name})" if name else "")
            if isinstance(user, dict)
            else "the portal"
        )
        return True, f"Connected to {self.get_conn().portal_url} as {who} ({self.auth_type})"


def _field_named(description: str) -> str:
    """Map a client-core config message to the connection field it is about."""
    for marker, field in (
        ("(login)", "login"),
        ("(password)", "password"),
        ("token_url", "extra.token_url"),
        ("refresh_token", "extra.refresh_token"),
        ("webhook URL", "password"),
        ("(host)", "host"),
        ("rate_limit", "extra.rate_limit"),
        ("max_retries", "extra.max_retries"),
        ("paginate_parallel", "extra.paginate_parallel"),
        ("paginate_buffer_mb", "extra.paginate_buffer_mb"),
        ("batch_parallel", "extra.batch_parallel"),
        ("operating_limit", "extra.operating_limit"),
    ):
        if marker in description:
            return field
    return "extra"
