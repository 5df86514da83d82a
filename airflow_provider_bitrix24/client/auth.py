"""Authentication strategies and token stores.

Three strategies share one small interface used by :class:`~.client.Bitrix24Client`:

* :class:`WebhookAuth` puts the user id and webhook code in the path
  (``<portal>/rest/<user_id>/<code>/<method>``); nothing expires.
* :class:`OAuth2Auth` sends ``auth=<access token>`` and, only when the portal answers 401
  ``expired_token``, exchanges the rotating refresh token at the token URL and persists the
  new pair in a :class:`TokenStore` so other threads, processes and later task runs use it.
* :class:`StaticTokenAuth` sends a fixed access token ("API key"); it cannot renew it.

Refresh is safe under concurrency: a thread-local "token I used" is compared with the current
token under a lock, so N threads hitting one expiry do one refresh. Across processes the store's
lock serialises refreshes, and a process whose refresh token was already rotated by another
(``invalid_grant``) re-reads the store and continues with the pair the winner saved.

The newest pair is never dropped: a refreshed pair is put to use before it is saved, and if the
store refuses it (full disk, Variable API down) the client keeps it in memory, logs an error
naming the store and saves it again on the next call. Tokens kept only in memory are shared per
process and application (:func:`shared_memory_store`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable
from urllib.parse import urlsplit

import requests

from .errors import (
    Bitrix24AuthError,
    Bitrix24ConfigError,
    Bitrix24Error,
    Bitrix24PortalMoved,
    Bitrix24RateLimited,
    Bitrix24ServerError,
    Bitrix24TokenExpired,
    Bitrix24TransportError,
    register_secret,
    scrub,
)
from .policy import Attempts, RetryPolicy

try:  # POSIX advisory locks; elsewhere the file store locks only within the process.
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

DEFAULT_TOKEN_URL = "https://oauth.bitrix.info/oauth/token/"


# --------------------------------------------------------------------------- token storage


@dataclass
class TokenPair:
    """An OAuth access/refresh pair. ``repr`` never shows the tokens."""

    access_token: str | None
    refresh_token: str
    expires_at: float | None = None
    extra: dict = field(default_factory=dict, repr=False)

    def __repr__(self) -> str:
        return f"TokenPair(access_token=***, refresh_token=***, expires_at={self.expires_at!r})"

    def to_json(self) -> dict:
        return {
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "expires_at": self.expires_at,
        }

    @classmethod
    def from_json(cls, data: Any) -> TokenPair | None:
        if not isinstance(data, dict) or not data.get("refresh_token"):
            return None
        return cls(data.get("access_token"), str(data["refresh_token"]), data.get("expires_at"))


@runtime_checkable
class TokenStore(Protocol):
    """Where the current token pair lives between calls, threads, processes and task runs."""

    def load(self) -> TokenPair | None: ...

    def save(self, pair: TokenPair) -> None: ...

    def lock(self) -> AbstractContextManager[None]:
        """Exclusive section for check-refresh-save; as wide (thread/process/host) as the store allows."""
        ...


class MemoryTokenStore:
    """Keeps the pair in this process only (scripts, tests, a single worker)."""

    # ``lock()`` covers every refresher of this pair: under it, invalid_grant means revoked.
    serialises_refresh = True

    def __init__(self, pair: TokenPair | None = None) -> None:
        self._pair = pair
        self._lock = threading.RLock()

    def load(self) -> TokenPair | None:
        return self._pair

    def save(self, pair: TokenPair) -> None:
        self._pair = pair

    def lock(self) -> AbstractContextManager[None]:
        return self._lock  # type: ignore[return-value]

    def __repr__(self) -> str:
        return "MemoryTokenStore()"


_SHARED_STORES: dict[tuple[str, str], MemoryTokenStore] = {}
_SHARED_STORES_LOCK = threading.Lock()


def shared_memory_store(portal_url: str, client_id: str) -> MemoryTokenStore:
    """The one in-memory store of this process for an application (``client_id``) on a portal.

    Bitrix24 rotates the refresh token on every refresh, so two private memory stores holding the
    same pair lose each other's rotation (``invalid_grant``). Every hook and client of the process
    that keeps this app's tokens in memory shares this store, its pair and its refresh lock.
    """
    key = (portal_url.strip().rstrip("/").lower(), client_id.strip())
    with _SHARED_STORES_LOCK:
        return _SHARED_STORES.setdefault(key, MemoryTokenStore())


class FileTokenStore:
    """A JSON file (mode 0600) plus an ``fcntl`` lock file beside it.

    Shared by every thread and process on one host that points at the same path: worker
    processes of a LocalExecutor, scripts, tests. Writes are atomic (temp file + rename).
    """

    serialises_refresh = True  # the flock spans every process on the host

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self._thread_lock = threading.RLock()
        self._depth = 0

    def load(self) -> TokenPair | None:
        try:
            with open(self.path, encoding="utf-8") as fh:
                return TokenPair.from_json(json.load(fh))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            log.warning("Ignoring unreadable token store %s: %s", self.path, type(exc).__name__)
            return None

    def save(self, pair: TokenPair) -> None:
        directory = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(directory, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tokens-", dir=directory)
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(pair.to_json(), fh)
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        with self._thread_lock:
            if self._depth or fcntl is None:  # re-entered by this thread, or no flock here
                self._depth += 1
                try:
                    yield
                finally:
                    self._depth -= 1
                return
            os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
            with open(self.path + ".lock", "a+") as fh:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
                self._depth += 1
                try:
                    yield
                finally:
                    self._depth -= 1
                    fcntl.flock(fh.fileno(), fcntl.LOCK_UN)

    def __repr__(self) -> str:
        return f"FileTokenStore({self.path!r})"


# --------------------------------------------------------------------------- strategies


class Auth:
    """Interface the client calls. ``prepare`` returns the body to send plus a marker of the
    credential used; after a 401 ``expired_token`` the client calls ``renew(marker)``, which
    either makes the next ``prepare`` use a fresh credential or raises."""

    kind: str = ""

    def rest_base(self, portal_url: str) -> str:
        return f"{portal_url}/rest"

    def prepare(self, body: dict) -> tuple[dict, Any]:
        return body, None

    def prepare_nowait(self, body: dict) -> tuple[dict, Any] | None:
        """:meth:`prepare` if it needs no I/O and no wait (an event loop may call it), else ``None``."""
        return self.prepare(body)

    def renew(self, used: Any) -> None:
        raise Bitrix24TokenExpired(
            "expired_token", "the portal reports the credential as expired", hint=self.expired_hint()
        )

    def expired_hint(self) -> str:
        return "Check the connection's credentials"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(***)"


class WebhookAuth(Auth):
    """Inbound webhook: ``<portal>/rest/<user_id>/<code>/<method>``."""

    kind = "webhook"

    def __init__(self, user_id: str | int, code: str) -> None:
        user_id = str(user_id).strip()
        code = str(code or "").strip().strip("/")
        if not user_id or not user_id.isdigit():
            raise Bitrix24ConfigError(description="webhook user id (login) must be a number, e.g. 1")
        if not code or "/" in code:
            raise Bitrix24ConfigError(description="webhook code (password) is missing or malformed")
        register_secret(code)
        self.user_id = user_id
        self._code = code

    def rest_base(self, portal_url: str) -> str:
        return f"{portal_url}/rest/{self.user_id}/{self._code}"

    def __repr__(self) -> str:
        return f"WebhookAuth(user_id={self.user_id!r}, code=***)"


def parse_webhook_url(url: str) -> tuple[str, str, str]:
    """Split a whole inbound-webhook URL into ``(portal_url, user_id, code)``.

    Accepts ``https://x.bitrix24.com/rest/1/abc123/`` with or without a trailing method name.
    """
    parts = urlsplit(url.strip() if "://" in url else "https://" + url.strip())
    segments = [s for s in parts.path.split("/") if s]
    try:
        i = segments.index("rest")
        user_id, code = segments[i + 1], segments[i + 2]
    except (ValueError, IndexError):
        raise Bitrix24ConfigError(
            description="webhook URL must look like https://<portal>/rest/<user_id>/<code>/"
        ) from None
    register_secret(code)
    prefix = "/".join(segments[:i])
    portal = f"{parts.scheme}://{parts.netloc}" + (f"/{prefix}" if prefix else "")
    return portal, user_id, code


class StaticTokenAuth(Auth):
    """A fixed access token sent as ``auth``; never refreshed."""

    kind = "api_key"

    def __init__(self, token: str) -> None:
        if not token or not str(token).strip():
            raise Bitrix24ConfigError(description="access token (password) is missing")
        self._token = str(token).strip()
        register_secret(self._token)

    def prepare(self, body: dict) -> tuple[dict, Any]:
        return {**body, "auth": self._token}, None

    def expired_hint(self) -> str:
        return (
            "The static access token (auth_type api_key) has expired and cannot be renewed by the "
            "provider. Put a fresh token in the connection's password, or use auth_type oauth2 with "
            "a refresh token (or a webhook) so access is renewed automatically"
        )


class OAuth2Auth(Auth):
    """OAuth 2.0 application token with refresh on 401 ``expired_token`` only.

    The refresh request is built with oauthlib's ``prepare_refresh_body`` and its reply is
    validated with ``parse_request_body_response``. ``OAuth2Session.refresh_token`` itself is
    not used: Bitrix24's token endpoint takes a GET with query parameters while that method
    always POSTs a form, refuses plain-http token URLs (the local emulator) and logs the request
    body - client secret and refresh token included - at DEBUG level.
    """

    kind = "oauth2"

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        refresh_token: str | None = None,
        access_token: str | None = None,
        *,
        token_url: str = DEFAULT_TOKEN_URL,
        store: TokenStore | None = None,
        timeout: float | tuple[float, float] = (10.0, 60.0),
        session: requests.Session | None = None,
        rotation_wait: float = 5.0,
        refresh_retries: int = 2,
        refresh_backoff: float = 0.5,
    ) -> None:
        if not client_id:
            raise Bitrix24ConfigError(description="OAuth client_id (login) is missing")
        if not client_secret:
            raise Bitrix24ConfigError(description="OAuth client_secret (password) is missing")
        parts = urlsplit(token_url or "")
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise Bitrix24ConfigError(description=f"token_url is not an http(s) URL: {token_url!r}")
        self.client_id = client_id
        self._client_secret = client_secret
        self.token_url = token_url
        self.store: TokenStore = store if store is not None else MemoryTokenStore()
        self.timeout = timeout
        self._session = session
        self._configured = TokenPair(access_token or None, refresh_token) if refresh_token else None
        if self._configured is None and self.store.load() is None:
            raise Bitrix24ConfigError(
                description="OAuth refresh_token is missing (connection extra 'refresh_token')"
            )
        for secret in (client_secret, refresh_token, access_token):
            register_secret(secret)
        self._pair: TokenPair | None = None
        self._lock = threading.Lock()
        self.refresh_count = 0  # refreshes performed by this object (observability, tests)
        # How long to wait for a pair that another host rotated but has not saved yet.
        self.rotation_wait = float(rotation_wait)
        # The retry budget of the refresh grant (shared policy) after a network error, 5xx or 503.
        self.refresh_retries, self.refresh_backoff = int(refresh_retries), float(refresh_backoff)
        self._reply_lost = False  # a refresh reply was lost: the server may have rotated anyway
        self._unsaved: TokenPair | None = None  # the newest pair, in use, that the store refused

    # -- current pair ---------------------------------------------------------

    def _current(self) -> TokenPair:
        """The pair to use now: the stored one (newest) or, the first time, the configured one."""
        if self._pair is None:
            stored = self.store.load()
            self._pair = stored if stored is not None else self._configured
            if self._pair is not None:
                register_secret(self._pair.access_token)
                register_secret(self._pair.refresh_token)
        assert self._pair is not None
        return self._pair

    def prepare(self, body: dict) -> tuple[dict, Any]:
        with self._lock:
            if self._unsaved is not None:
                with self.store.lock():
                    self._save_unsaved()
            pair = self._current()
            if not pair.access_token:
                pair = self._refresh_locked(None)
            token = pair.access_token
        return {**body, "auth": token}, token

    def prepare_nowait(self, body: dict) -> tuple[dict, Any] | None:
        """The current access token, or ``None`` while :meth:`prepare` would read or write the
        store, refresh, or wait for another thread that does."""
        if not self._lock.acquire(blocking=False):
            return None
        try:
            pair = self._pair
            if self._unsaved is not None or pair is None or not pair.access_token:
                return None
            return {**body, "auth": pair.access_token}, pair.access_token
        finally:
            self._lock.release()

    def renew(self, used: Any) -> None:
        with self._lock:
            if self._current().access_token != used:
                return  # another thread already replaced the token this request used
            self._refresh_locked(used)

    # -- refresh --------------------------------------------------------------

    def _refresh_locked(self, used: str | None) -> TokenPair:
        """Refresh under the store's lock; adopt a pair another process saved meanwhile."""
        with self.store.lock():
            self._save_unsaved()
            # While the store still lacks our newest pair, what it holds is older: do not adopt it.
            stored = self.store.load() if self._unsaved is None else None
            if stored is not None and stored.access_token and stored.access_token != used:
                # Another process refreshed since our request went out. If that pair is stale too,
                # the next expired_token reply lands here with used == stored and we refresh.
                return self._adopt(stored, "adopted the token pair saved by another worker")
            candidates = _unique(
                p.refresh_token for p in (stored, self._pair, self._configured) if p is not None
            )
            last_error: Bitrix24AuthError | None = None
            for refresh_token in candidates:
                try:
                    pair = self._exchange(refresh_token)
                except Bitrix24AuthError as exc:
                    if exc.code != "invalid_grant":
                        raise
                    last_error = exc
                    # Lost a race with another process that rotated this refresh token: re-read.
                    latest = self.store.load() if self._unsaved is None else None
                    if latest is not None and latest.refresh_token not in candidates and latest.access_token:
                        return self._adopt(
                            latest, "refresh token was rotated elsewhere; using the stored pair"
                        )
                    continue
                # The old refresh token is spent: use the new pair first, then try to keep it.
                self.refresh_count += 1
                self._adopt(pair, "refreshed the OAuth access token")
                self._unsaved = pair
                self._save_unsaved()
                return pair
            # Every known refresh token was refused. With a store that has no lock shared across
            # hosts (an Airflow Variable), another host may have rotated it and still be saving.
            latest = (
                None
                if getattr(self.store, "serialises_refresh", False) or self._unsaved is not None
                else self._await_rotated_pair(candidates)
            )
            if latest is not None:
                return self._adopt(latest, "refresh token was rotated elsewhere; using the stored pair")
            raise Bitrix24AuthError(
                "invalid_grant",
                "the refresh token was rejected by the authorization server",
                hint=(
                    (
                        "A refresh reply was lost on the network just before, so the server may have rotated "
                        "the token without the new one reaching us; otherwise it has expired (180 days) or was "
                        "revoked. "
                        if self._reply_lost
                        else "It has expired (180 days) or was revoked. "
                    )
                    + "Authorise the application again and put the new refresh token in the connection extra "
                    "'refresh_token'"
                ),
                http_status=last_error.http_status if last_error else None,
            )

    def _save_unsaved(self) -> None:
        """Save the pair the store refused before (called under the store's lock). On failure the
        pair stays in use from memory and the save is tried again on the next call."""
        pair = self._unsaved
        if pair is None:
            return
        try:
            self.store.save(pair)
        except Exception as exc:
            log.error(
                "Bitrix24 OAuth: could not save the rotated token pair to %r (%s: %s); using it from "
                "memory and saving it again on the next call. Until then other workers cannot see it.",
                self.store,
                type(exc).__name__,
                scrub(exc),
            )
            return
        self._unsaved = None

    def _await_rotated_pair(self, known: list[str]) -> TokenPair | None:
        deadline = time.monotonic() + self.rotation_wait
        while True:
            latest = self.store.load()
            if latest is not None and latest.access_token and latest.refresh_token not in known:
                return latest
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.1)

    def _adopt(self, pair: TokenPair, why: str) -> TokenPair:
        register_secret(pair.access_token)
        register_secret(pair.refresh_token)
        self._pair = pair
        log.info("Bitrix24 OAuth: %s", why)
        return pair

    def _exchange(self, refresh_token: str) -> TokenPair:
        """The refresh grant through the client's one transport (:meth:`.transport.Transport.token_request`),
        resent by the shared retry policy after a 503, a 5xx or a lost reply. Resending is harmless:
        if the first grant did rotate the token, the second is refused with invalid_grant."""
        from oauthlib.oauth2 import OAuth2Error, WebApplicationClient

        from .transport import Transport  # transport.py imports this module

        oauth_client = WebApplicationClient(self.client_id)
        query = oauth_client.prepare_refresh_body(
            refresh_token=refresh_token, client_id=self.client_id, client_secret=self._client_secret
        )
        # The token endpoint has no operating-time limit: a 429 there is refused, not waited out.
        policy = RetryPolicy(
            max_retries=self.refresh_retries, backoff_base=self.refresh_backoff, max_operation_wait=0.0
        )
        timeout = self.timeout if isinstance(self.timeout, tuple) else (float(self.timeout),) * 2
        transport = Transport.standalone(policy=policy, timeout=timeout, session=self._session)
        attempts = Attempts()
        try:
            data = transport.token_request(f"{self.token_url}?{query}", attempts=attempts)
        except (Bitrix24ServerError, Bitrix24RateLimited, Bitrix24AuthError, Bitrix24PortalMoved):
            raise  # 5xx and rate limits stay transient ("look again" for a trigger)
        except Bitrix24TransportError:
            self._reply_lost = True
            raise
        except Bitrix24Error as error:  # any other refusal means the credentials were refused
            raise Bitrix24AuthError(error.code, error.description, "oauth/token", error.http_status) from None
        finally:
            if attempts.unanswered:
                self._reply_lost = True
            if self._session is None:
                transport.close()
        try:
            token = oauth_client.parse_request_body_response(json.dumps(data))
        except OAuth2Error as exc:
            raise Bitrix24AuthError(exc.error or "", scrub(exc.description or ""), "oauth/token") from None
        if not token.get("refresh_token"):
            raise Bitrix24AuthError("", "token endpoint reply has no refresh_token", "oauth/token")
        expires_in = token.get("expires_in")
        expires_at = time.time() + float(expires_in) if expires_in else None
        register_secret(token["access_token"])
        register_secret(token["refresh_token"])
        return TokenPair(token["access_token"], token["refresh_token"], expires_at)

    def __repr__(self) -> str:
        return f"OAuth2Auth(client_id={self.client_id!r}, token_url={self.token_url!r}, store={self.store!r})"


def _unique(values: Iterator[str]) -> list[str]:
    seen: list[str] = []
    for value in values:
        if value and value not in seen:
            seen.append(value)
    return seen
