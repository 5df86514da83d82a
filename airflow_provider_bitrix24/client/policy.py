"""What the client does with each reply and each failed exchange, as pure functions.

No I/O and no clock here: a shell (the sync :class:`~.transport.Transport`, or an async one)
sends the request, hands the reply or the exception to :func:`classify_reply` /
:func:`classify_failure`, asks :meth:`RetryPolicy.decide` what to do, and does it (sleep and
resend, renew the credential, raise). The shell supplies the time and the randomness, so every
rule can be tested with plain values.

The rules:

* a 3xx is never followed: the request carried credentials, and a redirect is the portal
  saying its address changed (:class:`~.errors.Bitrix24PortalMoved`);
* 503 ``QUERY_LIMIT_EXCEEDED`` was refused, not run: back off with jitter and resend;
* 429 ``OPERATION_TIME_LIMIT``: wait until the method's limit resets (bounded in total);
* 401 ``expired_token``: renew the credential and resend;
* a 5xx, an unreadable body or a reply lost after the request left: resend only what is safe
  to resend; anything else may have been applied and raises
  :class:`~.errors.Bitrix24WriteMayHaveSucceeded`;
* a connect timeout: the request never left, resend with backoff;
* connection refused: retried briefly (``connect_retry_budget`` seconds in all);
* what retrying cannot heal fails at once with a hint: an unknown host name, a certificate the
  client does not trust, a TLS handshake with a plain-HTTP port.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from .errors import (
    Bitrix24Error,
    Bitrix24OperationLimit,
    Bitrix24PortalMoved,
    Bitrix24RateLimited,
    Bitrix24ServerError,
    Bitrix24TokenExpired,
    Bitrix24TransportError,
    Bitrix24WriteMayHaveSucceeded,
    classify,
    scrub,
)


def _fast_json_decoder() -> Callable[[bytes], Any] | None:
    """Airflow ships msgspec: it decodes a 2,500-record page about twice as fast as ``json``."""
    try:
        from msgspec.json import decode
    except ImportError:  # pragma: no cover - the core also runs without it
        return None
    return decode


_decode_json_bytes = _fast_json_decoder()

# Reply kinds (:attr:`Verdict.kind`).
OK = "ok"
MOVED = "moved"
THROTTLED = "throttled"
OPERATING_LIMIT = "operating_limit"
TOKEN_EXPIRED = "token_expired"
TRANSIENT = "transient"  # 5xx or an unreadable body: the method may have run
PERMANENT = "permanent"

# Failure kinds (:attr:`Failure.kind`).
NOT_SENT = "not_sent"  # the connection was never made (connect timeout): the request did not leave
REFUSED = "refused"  # nothing listens on the port (yet): a restarting portal or proxy
FATAL = "fatal"  # retrying cannot heal it: DNS, certificate, TLS with a plain-HTTP port
MAYBE_SENT = "maybe_sent"  # the request may have reached the portal and run

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_QUERY_VALUE = re.compile(r"([?&][^=&\s\"'#]+=)[^&\s\"'#]+")
PLAIN_HTTP_HINT = "the portal answered plain HTTP: use http:// for a local portal"
# OpenSSL's words for "the peer did not speak TLS" (a plain-HTTP server answering a ClientHello).
_NOT_TLS = (
    "wrong_version_number",
    "wrong version number",
    "record layer failure",
    "packet length too long",
    "http_request",
    "unknown protocol",
)


@dataclass(frozen=True)
class Verdict:
    """One reply, classified: ``kind``, the decoded ``envelope`` and the ``error`` it stands for."""

    kind: str
    envelope: Any = None
    error: Bitrix24Error | None = None


@dataclass(frozen=True)
class Failure:
    """An exchange that produced no reply: ``kind``, a scrubbed ``reason`` and, if known, a ``hint``."""

    kind: str
    reason: str
    hint: str | None = None


@dataclass(frozen=True)
class Retry:
    """Sleep ``delay`` seconds, then send again. ``operating``: the wait counts toward
    ``max_operation_wait`` rather than toward ``max_retries``; ``throttled``: the portal refused
    the rate (the shell's limiter should slow down)."""

    delay: float
    reason: str
    operating: bool = False
    throttled: bool = False
    refused: bool = False  # the connection was refused: counts toward ``connect_retry_budget``
    error: Bitrix24Error | None = None  # what to raise if the request cannot be sent again


@dataclass(frozen=True)
class Renew:
    """Renew the credential the request used, then send again."""

    error: Bitrix24Error | None = None  # what to raise if the request cannot be sent again


@dataclass(frozen=True)
class Raise:
    error: Bitrix24Error


@dataclass(frozen=True)
class Done:
    envelope: Any


Decision = Retry | Renew | Raise | Done


@dataclass
class Attempts:
    """What one request has used of its budgets so far (kept by the shell, read by the policy)."""

    retries: int = 0
    renewals: int = 0
    operating_waited: float = 0.0
    refusals: int = 0
    refused_waited: float = 0.0
    unanswered: int = 0  # resends after an exchange that got no reply (it may have been applied)

    def count(self, decision: Decision) -> None:
        if isinstance(decision, Retry):
            if isinstance(decision.error, Bitrix24TransportError):
                self.unanswered += 1
            if decision.operating:
                self.operating_waited += decision.delay
            elif decision.refused:
                self.refusals += 1
                self.refused_waited += decision.delay
            else:
                self.retries += 1
        elif isinstance(decision, Renew):
            self.renewals += 1


# ----------------------------------------------------------------------------- replies


def mask_query_values(text: str) -> str:
    """``text`` with the value of every URL query parameter replaced by ``***``: a signed link
    is rebuilt from any one of them (``token``, ``auth``, ...), not only from ``auth``."""
    return _QUERY_VALUE.sub(r"\1***", text)


def decode_body(content: bytes, encoding: str | None = None) -> Any:
    """The reply's JSON, or its text when it is not JSON (:func:`classify_reply` decides what that means)."""
    if _decode_json_bytes is not None:
        with contextlib.suppress(ValueError):  # not UTF-8 JSON: the general path below decides
            return _decode_json_bytes(content)
    try:
        return json.loads(content)  # detects a BOM and UTF-16/32, as ``Response.json()`` does
    except ValueError:
        return content.decode(encoding or "utf-8", errors="replace")


def moved_error(status: int, location: str | None, what: str | None) -> Bitrix24PortalMoved:
    """A redirect as an error naming the new address, never its query (a signed link's
    query is a credential) nor the path (it may repeat a webhook code)."""
    parts = urlsplit(location or "")
    new_portal = f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else None
    err = Bitrix24PortalMoved(
        "PORTAL_MOVED",
        f"the portal redirects to {new_portal or 'an unknown address'}; the redirect was not followed",
        what,
        status,
        hint="Its address changed: update the connection host to the new address",
    )
    err.new_url = new_portal
    return err


def classify_reply(
    status: int, content: bytes, what: str | None, *, location: str | None = None, encoding: str | None = None
) -> Verdict:
    """What one reply means. ``content`` is the whole body (ignored for a redirect)."""
    if status in REDIRECT_STATUSES:
        return Verdict(MOVED, error=moved_error(status, location, what))
    envelope = decode_body(content, encoding)
    error = classify(envelope, status, what)
    if error is None:
        return Verdict(OK, envelope)
    if isinstance(error, Bitrix24TokenExpired):
        kind = TOKEN_EXPIRED
    elif isinstance(error, Bitrix24RateLimited):
        kind = THROTTLED
    elif isinstance(error, Bitrix24OperationLimit):
        kind = OPERATING_LIMIT
    elif isinstance(error, Bitrix24ServerError) and (status >= 500 or not isinstance(envelope, dict)):
        kind = TRANSIENT  # a 5xx, or a success status whose body did not arrive whole
    else:
        kind = PERMANENT
    return Verdict(kind, envelope, error)


# ----------------------------------------------------------------------------- failures


def _chain(exc: BaseException) -> list[Any]:
    """``exc`` and everything it wraps: causes, contexts, ``args`` and urllib3's ``reason``."""
    seen: list[Any] = []
    todo: list[Any] = [exc]
    while todo and len(seen) < 20:
        item = todo.pop()
        if item is None or any(item is s for s in seen):
            continue
        seen.append(item)
        if isinstance(item, BaseException):
            todo.extend([item.__cause__, item.__context__, getattr(item, "reason", None)])
            todo.extend(a for a in item.args if isinstance(a, BaseException))
    return seen


def classify_failure(exc: BaseException, *, connect_failed: bool, tls_failed: bool = False) -> Failure:
    """What an exchange that raised ``exc`` means. The shell says what its HTTP library knows:
    ``connect_failed`` (the connection was never made, so nothing was sent) and ``tls_failed``
    (the TLS handshake failed)."""
    reason = mask_query_values(scrub(f"{type(exc).__name__}: {exc}"))
    chain = _chain(exc)
    if (
        any(isinstance(e, ssl.SSLCertVerificationError) for e in chain)
        or "certificate verify failed" in reason
    ):
        return Failure(
            FATAL,
            reason,
            "the portal's TLS certificate is not trusted: check the portal URL, or point "
            "REQUESTS_CA_BUNDLE at the certificate authority that signed it",
        )
    if tls_failed or any(isinstance(e, ssl.SSLError) for e in chain):
        lowered = reason.lower() + " ".join(str(e).lower() for e in chain if isinstance(e, ssl.SSLError))
        if any(marker in lowered for marker in _NOT_TLS):
            return Failure(FATAL, reason, PLAIN_HTTP_HINT)
        return Failure(
            FATAL, reason, "the TLS handshake with the portal failed: check the portal URL and port"
        )
    if any(isinstance(e, socket.gaierror) for e in chain):
        return Failure(
            FATAL, reason, "the portal's host name does not resolve: check the portal URL (connection host)"
        )
    if any(isinstance(e, ConnectionRefusedError) for e in chain):
        return Failure(REFUSED, reason)
    if connect_failed:
        return Failure(NOT_SENT, reason)
    return Failure(MAYBE_SENT, reason)


# ----------------------------------------------------------------------------- decisions


def write_hint(what: str) -> str:
    return (
        f"The request may have been applied by the portal, so it was not resent. Check whether {what} "
        "took effect (e.g. with the matching .get/.list method) before running it again"
    )


# Operating time is booked in one-minute baskets: refused again after the announced reset, a
# call retries this often until the next basket drops out.
OPERATION_POLL = 10.0


@dataclass(frozen=True)
class RetryPolicy:
    """The budgets of one request.

    :param max_retries: resends after a rate limit, a 5xx or a lost reply (where resending is safe).
    :param max_operation_wait: longest total wait (s) for an ``OPERATION_TIME_LIMIT`` to lift.
    :param connect_retry_budget: seconds, in all, to keep resending while the connection is refused.
    :param max_renewals: credential renewals per request (adopt a pair another worker saved,
        then refresh it if that one is stale too).
    """

    max_retries: int = 5
    backoff_base: float = 1.0
    backoff_max: float = 30.0
    max_operation_wait: float = 660.0
    connect_retry_budget: float = 3.0
    max_renewals: int = 2

    def backoff(self, retry: int, jitter: float) -> float:
        """Delay before resend number ``retry`` (1-based); ``jitter`` in [0, 1) spreads workers."""
        return min(self.backoff_max, self.backoff_base * 2 ** (retry - 1)) * (0.5 + jitter / 2)

    def decide(
        self,
        verdict: Verdict,
        attempts: Attempts,
        what: str,
        *,
        resend_safe: bool,
        now: float,
        reset_at: float | None,
        jitter: float,
    ) -> Decision:
        """What to do with a reply. ``now`` is the wall clock (the portal's reset times are epoch
        seconds); ``reset_at`` the method's last known ``operating_reset_at``."""
        error = verdict.error
        if verdict.kind == OK or error is None:
            return Done(verdict.envelope)
        if verdict.kind == TOKEN_EXPIRED:
            return Renew(error) if attempts.renewals < self.max_renewals else Raise(error)
        if verdict.kind == THROTTLED and attempts.retries < self.max_retries:
            retry = attempts.retries + 1
            return Retry(self.backoff(retry, jitter), error.code, throttled=True, error=error)
        if verdict.kind == OPERATING_LIMIT and isinstance(error, Bitrix24OperationLimit):
            wait = self.operating_wait(error, attempts.operating_waited, now, reset_at, jitter)
            return Raise(error) if wait is None else Retry(wait, error.code, operating=True, error=error)
        if verdict.kind == TRANSIENT:
            if not resend_safe:
                return Raise(
                    Bitrix24WriteMayHaveSucceeded(
                        error.code, error.description, what, error.http_status, hint=write_hint(what)
                    )
                )
            if attempts.retries < self.max_retries:
                retry = attempts.retries + 1
                return Retry(self.backoff(retry, jitter), error.code or str(error.http_status), error=error)
        return Raise(error)

    def decide_failure(
        self,
        failure: Failure,
        attempts: Attempts,
        what: str,
        *,
        resend_safe: bool,
        jitter: float,
    ) -> Decision:
        """What to do after an exchange that produced no reply."""
        if failure.kind == FATAL:
            return Raise(Bitrix24TransportError("", failure.reason, what, None, hint=failure.hint))
        if failure.kind == MAYBE_SENT and not resend_safe:
            return Raise(
                Bitrix24WriteMayHaveSucceeded(
                    "", f"no reply ({failure.reason.split(':', 1)[0]})", what, None, hint=write_hint(what)
                )
            )
        retry = attempts.retries + 1
        error = Bitrix24TransportError("", failure.reason, what, None)
        if failure.kind == REFUSED:
            # A refused connect returns at once: the waits are the time spent, near enough.
            delay = min(0.25 * 2**attempts.refusals, 1.0) * (0.75 + jitter / 4)
            if attempts.refused_waited + delay <= self.connect_retry_budget:
                return Retry(delay, "connection refused", refused=True, error=error)
            hint = (
                f"the connection was refused for {attempts.refused_waited:.1f} s: "
                "is the portal running, and is the portal URL (host and port) right?"
            )
            return Raise(Bitrix24TransportError("", failure.reason, what, None, hint=hint))
        if attempts.retries >= self.max_retries:
            hint = f"gave up after {attempts.retries + 1} attempts"
            return Raise(Bitrix24TransportError("", failure.reason, what, None, hint=hint))
        return Retry(self.backoff(retry, jitter), failure.reason.split(":", 1)[0], error=error)

    def operating_wait(
        self, error: Bitrix24OperationLimit, waited: float, now: float, reset_at: float | None, jitter: float
    ) -> float | None:
        """Seconds to wait before resending a call refused with ``OPERATION_TIME_LIMIT``, or
        ``None`` once the request would wait more than ``max_operation_wait`` in all.

        As the limits page advises, the first wait runs to ``operating_reset_at`` (from the error,
        else from the method's last successful reply), when the oldest one-minute basket drops
        out. Refused again after that, later baskets still hold too much: the call retries every
        ``OPERATION_POLL`` seconds, as the next basket drops out within a minute.
        """
        reset = error.reset_at or reset_at
        until = (reset - now) if reset is not None else 0.0
        if until > 0:
            # The portal sends whole seconds: the basket really resets within one second after it.
            wait = until + 1.0 + 0.25 * jitter
        else:
            wait = OPERATION_POLL * (0.8 + 0.2 * jitter)
        if waited + wait > self.max_operation_wait:
            error.hint = (
                f"waiting for the method's operating time to reset would take {waited + wait:.0f} s in all, "
                f"more than max_operation_wait={self.max_operation_wait:.0f} s; retry later or spread the calls"
            )
            return None
        return wait
