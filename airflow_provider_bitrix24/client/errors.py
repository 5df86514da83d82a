"""Typed errors of the client core and the one place that turns a reply into an exception.

Every message goes through :func:`scrub`, so an exception can be logged, shown in the Airflow
UI or pushed to XCom without leaking the webhook code, a token or the client secret.
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Callable
from typing import Any

_MASK = "***"
_SECRETS: set[str] = set()
_SECRETS_LOCK = threading.Lock()
# Secrets shorter than this are not registered: masking "1" would mangle every message.
_MIN_SECRET_LEN = 4

# Shapes that carry credentials even when the value was never registered. Each masks a value
# that follows a credential key directly, never the words after a "key: " in a message
# ("field extra.refresh_token: an OAuth refresh token is required" stays as it is).
_CREDENTIAL_KEY = r"(?:auth|access_token|refresh_token|client_secret)"
_SECRET_PATTERNS = (
    re.compile(r"(/rest/[^/\s?#]+/)[^/\s?#]+"),  # webhook path /rest/<user>/<code>
    # a query or form value: refresh_token=<value>
    re.compile(rf"(\b{_CREDENTIAL_KEY}=)[^&\s\"',}}]+", re.IGNORECASE),
    # a quoted value under a quoted key (JSON, a Python repr): "auth": "<value>"
    re.compile(rf"([\"']{_CREDENTIAL_KEY}[\"']\s*:\s*[\"'])[^\"']+", re.IGNORECASE),
    # an OAuth authorization code in a URL query; not "error code: 502" in a portal's message
    re.compile(r"([?&]code=)[^&\s\"']+", re.IGNORECASE),
)


_LISTENERS: list[Callable[[str], None]] = []


def register_secret(value: str | None) -> None:
    """Remember ``value`` so that :func:`scrub` masks it from now on (process-wide).

    Listeners (e.g. the hook's bridge to Airflow's log masker) hear about every new secret,
    including tokens that arrive later through a refresh.
    """
    if not value or len(value) < _MIN_SECRET_LEN:
        return
    with _SECRETS_LOCK:
        if value in _SECRETS:
            return
        _SECRETS.add(value)
        listeners = list(_LISTENERS)
    _notify(listeners, [value])


def add_secret_listener(listener: Callable[[str], None]) -> None:
    """Call ``listener(secret)`` for every secret registered from now on and every one known already."""
    with _SECRETS_LOCK:
        if listener in _LISTENERS:
            return
        _LISTENERS.append(listener)
        known = list(_SECRETS)
    _notify([listener], known)


def _notify(listeners: list[Callable[[str], None]], values: list[str]) -> None:
    for listener in listeners:
        for value in values:
            with contextlib.suppress(Exception):  # a masking bridge must never break a call
                listener(value)


def scrub(text: Any) -> str:
    """Return ``text`` as a string with every known secret and credential-shaped value masked."""
    out = str(text)
    with _SECRETS_LOCK:
        secrets = sorted(_SECRETS, key=len, reverse=True)
    for secret in secrets:
        out = out.replace(secret, _MASK)
    for pattern in _SECRET_PATTERNS:
        out = pattern.sub(lambda m: m.group(1) + _MASK, out)
    return out


def snippet(text: str, limit: int = 300) -> str:
    """A trimmed, scrubbed, single-line excerpt of a response body for an error message."""
    flat = " ".join(str(text).split())
    if len(flat) > limit:
        flat = flat[:limit] + "..."
    return scrub(flat)


class Bitrix24Error(Exception):
    """A failed Bitrix24 call: ``code`` and ``description`` from the portal, the ``method`` and HTTP status."""

    def __init__(
        self,
        code: str = "",
        description: str = "",
        method: str | None = None,
        http_status: int | None = None,
        *,
        hint: str | None = None,
    ) -> None:
        self.code = scrub(code) if code else ""
        self.description = scrub(description) if description else ""
        self.method = method
        self.http_status = http_status
        self.hint = scrub(hint) if hint else None
        super().__init__(self._message())

    def _message(self) -> str:
        head = self.method or "Bitrix24"
        status = f"HTTP {self.http_status}" if self.http_status is not None else None
        what = ", ".join(p for p in (self.code or None, status) if p)
        text = f"{head}: {what}" if what else head
        if self.description:
            text += f": {self.description}"
        if self.hint:
            text += f". {self.hint}"
        return text

    def __str__(self) -> str:  # reflects a hint added after construction
        return self._message()

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "hint" and value:
            value = scrub(value)
        super().__setattr__(name, value)

    def __reduce__(self):  # keep pickling (Airflow, multiprocessing) working with keyword args
        return (_rebuild, (type(self), self.__dict__.copy()))


def _rebuild(cls: type[Bitrix24Error], state: dict) -> Bitrix24Error:
    err = cls.__new__(cls)
    err.__dict__.update(state)
    Exception.__init__(err, err._message())
    return err


class Bitrix24AuthError(Bitrix24Error):
    """Credentials rejected (bad webhook code, unknown token, refresh failed)."""


class Bitrix24TokenExpired(Bitrix24AuthError):
    """The access token expired (``expired_token``)."""


class Bitrix24AccessDenied(Bitrix24Error):
    """Authenticated, but the user, scope or plan does not allow this call."""


class Bitrix24NotFound(Bitrix24Error):
    """The method or the requested object does not exist."""


class Bitrix24BadRequest(Bitrix24Error):
    """The portal rejected the parameters."""


class Bitrix24RateLimited(Bitrix24Error):
    """``QUERY_LIMIT_EXCEEDED``: too many requests per second for this portal."""


class Bitrix24OperationLimit(Bitrix24Error):
    """``OPERATION_TIME_LIMIT``: the method used up its execution-time budget; see ``reset_at``."""

    reset_at: float | None = None


class Bitrix24ServerError(Bitrix24Error):
    """A 5xx reply or an unparseable body."""


class Bitrix24TransportError(Bitrix24Error):
    """The HTTP exchange failed (connection refused, timeout, broken connection)."""


class Bitrix24WriteMayHaveSucceeded(Bitrix24TransportError):
    """A write was sent but no reply arrived; it was not resent because it may have been applied."""


class Bitrix24PortalMoved(Bitrix24Error):
    """The portal answered with a redirect: its address changed. ``new_url`` names the new address."""

    new_url: str | None = None


class Bitrix24ConfigError(Bitrix24Error, ValueError):
    """The connection or client configuration is invalid; raised before any request is sent."""


class Bitrix24NotSupported(Bitrix24Error):
    """The client cannot do this for this method (e.g. paginate a method that does not page)."""


# One table from error code to class; HTTP status decides when the code is unknown.
_BY_CODE: dict[str, type[Bitrix24Error]] = {
    "expired_token": Bitrix24TokenExpired,
    "no_auth_found": Bitrix24AuthError,
    "invalid_token": Bitrix24AuthError,
    "invalid_grant": Bitrix24AuthError,
    "invalid_client": Bitrix24AuthError,
    "wrong_auth_type": Bitrix24AuthError,
    "authorization_error": Bitrix24AuthError,
    "access_denied": Bitrix24AccessDenied,
    "insufficient_scope": Bitrix24AccessDenied,
    "invalid_scope": Bitrix24AccessDenied,
    "invalid_credentials": Bitrix24AccessDenied,
    "user_access_error": Bitrix24AccessDenied,
    "payment_required": Bitrix24AccessDenied,
    "error_method_not_found": Bitrix24NotFound,
    "not_found": Bitrix24NotFound,
    "error_not_found": Bitrix24NotFound,
    "error_manifest_is_not_available": Bitrix24NotFound,
    "query_limit_exceeded": Bitrix24RateLimited,
    "operation_time_limit": Bitrix24OperationLimit,
    "internal_server_error": Bitrix24ServerError,
    "error_unexpected_answer": Bitrix24ServerError,
    "portal_deleted": Bitrix24ServerError,
    "overload_limit": Bitrix24ServerError,
    "invalid_request": Bitrix24BadRequest,
    "error_batch_length_exceeded": Bitrix24BadRequest,
    "error_batch_method_not_allowed": Bitrix24BadRequest,
}


def _class_for_status(status: int | None) -> type[Bitrix24Error]:
    if status is None or status < 400:
        return Bitrix24Error
    if status == 401:
        return Bitrix24AuthError
    if status == 403:
        return Bitrix24AccessDenied
    if status == 404:
        return Bitrix24NotFound
    if status == 429:
        return Bitrix24OperationLimit
    if status >= 500:
        return Bitrix24ServerError
    return Bitrix24BadRequest


def classify(envelope: Any, http_status: int | None, method: str | None = None) -> Bitrix24Error | None:
    """Return the exception an envelope stands for, or ``None`` when it is a success.

    Handles an ``error`` inside an HTTP 200 body, numeric or empty codes and replies that are not
    JSON objects (then ``envelope`` is the raw text and the HTTP status decides).
    """
    if isinstance(envelope, dict):
        if "error" not in envelope:
            if http_status is not None and http_status >= 400:
                return _class_for_status(http_status)(
                    "",
                    f"unexpected reply without an error code: {snippet(repr(envelope))}",
                    method,
                    http_status,
                )
            return None
        raw_code = envelope.get("error")
        code = "" if raw_code is None else str(raw_code)
        description = envelope.get("error_description") or envelope.get("error_message") or ""
        cls = _BY_CODE.get(code.lower()) or _class_for_status(http_status)
        if cls is Bitrix24Error and code == "":
            cls = Bitrix24BadRequest
        err = cls(code or "(empty error code)", str(description), method, http_status)
        if isinstance(err, Bitrix24OperationLimit):
            err.reset_at = _reset_at(envelope)
        return err
    if envelope is not None and not isinstance(envelope, str):  # JSON, but not an envelope object
        body = f"reply is not a JSON object: {snippet(repr(envelope))}"
    else:
        text = "" if envelope is None else str(envelope)
        body = f"reply is not JSON: {snippet(text)}" if text.strip() else "empty reply body"
    cls = _class_for_status(http_status)
    if cls is Bitrix24Error:
        cls = Bitrix24ServerError
    return cls("", body, method, http_status)


def _reset_at(envelope: dict) -> float | None:
    time_block = envelope.get("time")
    value = time_block.get("operating_reset_at") if isinstance(time_block, dict) else None
    value = value if value is not None else envelope.get("operating_reset_at")
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None
