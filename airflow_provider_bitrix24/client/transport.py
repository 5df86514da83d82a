"""The one HTTP path of the client core: a thin sync shell over ``requests`` and :mod:`.policy`.

Every request the package sends goes through :meth:`Transport.exchange`: REST calls and batch
requests, streamed uploads (a method call with a streamed base64 argument, a multipart POST to
an ``uploadUrl``), downloads of signed file links and the OAuth token endpoint's refresh grant.
Each one waits for the operating-time pacer (REST methods) and the rate limiter (not the token
endpoint, which is outside the portal's limits), is sent with ``allow_redirects=False`` and the
client's timeouts, and its reply or failure is handed to the policy, which decides: done,
resend after a delay, renew the credential, or raise. Nothing here decides anything itself.
"""

from __future__ import annotations

import contextlib
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import requests
import urllib3.exceptions
from requests.adapters import HTTPAdapter

from .. import __version__
from .auth import Auth
from .errors import Bitrix24Error, Bitrix24OperationLimit, Bitrix24PortalMoved, scrub
from .operating import OperatingPacer
from .policy import (
    Attempts,
    Done,
    Raise,
    Renew,
    Retry,
    RetryPolicy,
    classify_failure,
    classify_reply,
    mask_query_values,
)
from .ratelimit import LeakyBucket

log = logging.getLogger(__name__)

USER_AGENT = f"airflow-provider-bitrix24/{__version__}"  # the docs ask for a real integration name


class _ScrubFilter(logging.Filter):
    """urllib3 logs request lines at DEBUG: a webhook URL carries its code in the path and a
    signed file link its credentials in the query."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = mask_query_values(scrub(message))
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        return True


logging.getLogger("urllib3.connectionpool").addFilter(_ScrubFilter())


def book_operating(
    pacer: OperatingPacer,
    bucket: LeakyBucket | None,
    operating_reset: dict[str, float],
    method: str,
    time_block: Any,
) -> None:
    """Book a successful call's ``time`` block (both shells): the pacer's bound and the method's
    reset time. When the method's time comes near the limit, an adaptive rate limiter falls."""
    if pacer.record(method, time_block) and bucket is not None:
        bucket.ease_off()
    if isinstance(time_block, Mapping) and time_block.get("operating_reset_at") is not None:
        with contextlib.suppress(TypeError, ValueError):
            # Replies of parallel requests land out of order; the oldest basket's reset only
            # moves forward, so an earlier value is stale.
            key = method.lower()
            reset_at = float(time_block["operating_reset_at"])
            operating_reset[key] = max(reset_at, operating_reset.get(key, reset_at))


@dataclass
class Outgoing:
    """One attempt of a request: what to send and, for REST calls, the credential it carries
    (to renew after ``expired_token``). ``close`` releases what the body holds open."""

    verb: str
    url: str
    kwargs: dict = field(default_factory=dict)
    credential: Any = None
    close: Callable[[], None] | None = None


class Transport:
    """Sends requests for one portal and one identity under one :class:`.policy.RetryPolicy`."""

    def __init__(
        self,
        portal_url: str,
        auth: Auth,
        *,
        policy: RetryPolicy,
        timeout: tuple[float, float],
        bucket: LeakyBucket | None,
        pacer: OperatingPacer,
        session: requests.Session | None = None,
        pool_size: int = 10,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.portal_url = portal_url
        self.auth = auth
        self.policy = policy
        self.timeout = timeout
        self.bucket = bucket
        self.pacer = pacer
        if session is None:
            session = requests.Session()
            # requests keeps 10 connections per host; more requests in flight would reconnect each time.
            for prefix in ("https://", "http://"):
                session.mount(prefix, HTTPAdapter(pool_connections=pool_size, pool_maxsize=pool_size))
        self.session = session
        self.session.headers.update({"Accept": "application/json", "User-Agent": USER_AGENT})
        self._sleep = sleep
        self._clock = clock
        self._lock = threading.Lock()
        self.requests_sent = 0  # HTTP requests sent (observability, tests)
        # Last ``operating_reset_at`` seen per method: the portal's 429 reply itself has none.
        self.operating_reset: dict[str, float] = {}

    @classmethod
    def standalone(
        cls, *, policy: RetryPolicy, timeout: tuple[float, float], session: requests.Session | None = None
    ) -> Transport:
        """A transport for requests outside a portal's REST API (the OAuth token endpoint): no
        credential of its own, no rate limiter, no operating-time pacing."""
        return cls(
            "",
            Auth(),
            policy=policy,
            timeout=timeout,
            bucket=None,
            pacer=OperatingPacer(None),
            session=session,
        )

    def close(self) -> None:
        self.session.close()

    def rest_url(self, method: str) -> str:
        return f"{self.auth.rest_base(self.portal_url)}/{method}"

    # ------------------------------------------------------------------ kinds of request

    def call(
        self,
        method: str,
        params: dict,
        *,
        resend_safe: bool,
        pace: Mapping[str, int] | None = None,
        job: Mapping[str, int] | None = None,
    ) -> dict:
        """A REST call (JSON body, credentials from the auth strategy); returns the envelope.
        ``pace``: the method calls this request runs, held back by the operating-time pacer
        (``job``: the calls of the whole job it belongs to)."""

        def prepare() -> Outgoing:
            body, credential = self.auth.prepare(params)
            return Outgoing("POST", self.rest_url(method), {"json": body}, credential)

        with self._paced(pace, job):
            return self.exchange(method, prepare, resend_safe=resend_safe, rest_method=method)

    def call_with_body(
        self,
        method: str,
        params: dict,
        make_body: Callable[[dict], tuple[Any, str, Callable[[], None]] | None],
        *,
        timeout: tuple[float, float] | None = None,
    ) -> dict:
        """A REST call whose body is streamed: ``make_body(prepared_params)`` returns
        ``(body, content type, close)``, or ``None`` when the body cannot be produced again.
        Never resent once it may have been applied."""

        def prepare() -> Outgoing | None:
            prepared, credential = self.auth.prepare(params)
            made = make_body(prepared)
            if made is None:
                return None
            body, content_type, close = made
            kwargs = {"data": body, "headers": {"Content-Type": content_type}}
            return Outgoing("POST", self.rest_url(method), kwargs, credential, close)

        with self._paced({method: 1}, None):
            return self.exchange(method, prepare, resend_safe=False, rest_method=method, timeout=timeout)

    def post(
        self,
        url: str,
        make_body: Callable[[], tuple[Any, str, Callable[[], None]] | None],
        what: str,
        *,
        timeout: tuple[float, float] | None = None,
    ) -> Any:
        """POST a streamed body to a URL the portal handed out (an ``uploadUrl``, which carries
        its own credentials); never resent once it may have been applied."""

        def prepare() -> Outgoing | None:
            made = make_body()
            if made is None:
                return None
            body, content_type, close = made
            return Outgoing(
                "POST", url, {"data": body, "headers": {"Content-Type": content_type}}, None, close
            )

        return self.exchange(what, prepare, resend_safe=False, timeout=timeout)

    def download(
        self,
        url: str,
        consume: Callable[[requests.Response], int],
        what: str,
        *,
        headers: Mapping[str, str] | None = None,
        timeout: tuple[float, float] | None = None,
    ) -> int:
        """GET a file link; ``consume(response)`` streams a 2xx reply to its destination. A
        refused or failed GET is resent like any read (nothing was written before a 2xx)."""

        def prepare() -> Outgoing:
            return Outgoing("GET", url, {"headers": dict(headers or {})})

        return self.exchange(what, prepare, resend_safe=True, consume=consume, timeout=timeout)

    def token_request(self, url: str, *, attempts: Attempts | None = None, resend_safe: bool = True) -> Any:
        """GET an OAuth token endpoint ``url`` (the grant in its query); returns the decoded reply.

        Outside the portal's limits (no rate limiter, no pacing) and never renewed: this request
        is the renewal. Resent like a read after a 503, a 5xx or a lost reply: a grant whose
        refresh token the first one already rotated is refused (``invalid_grant``), never applied
        twice. ``attempts`` tells the caller afterwards whether a reply was lost on the way. A grant
        that works once (an authorization code) passes ``resend_safe=False``."""

        def prepare() -> Outgoing:
            return Outgoing("GET", url)

        try:
            return self.exchange(
                "oauth/token",
                prepare,
                resend_safe=resend_safe,
                limited=False,
                renewable=False,
                attempts=attempts,
            )
        except Bitrix24PortalMoved as exc:
            exc.hint = "The token endpoint's address changed: check the connection's token_url"
            raise

    # ------------------------------------------------------------------ the one loop

    def exchange(
        self,
        what: str,
        prepare: Callable[[], Outgoing | None],
        *,
        resend_safe: bool,
        rest_method: str | None = None,
        consume: Callable[[requests.Response], Any] | None = None,
        timeout: tuple[float, float] | None = None,
        limited: bool = True,
        renewable: bool = True,
        attempts: Attempts | None = None,
    ) -> Any:
        """Send what ``prepare`` builds until the policy says done or raise.

        ``rest_method``: the REST method the request calls (its operating-time bookkeeping);
        ``consume``: takes a 2xx reply as a stream instead of a JSON envelope; ``limited``: waits
        for the rate limiter; ``renewable``: an expired credential is renewed (else raised)."""
        attempts = attempts if attempts is not None else Attempts()
        last_error: Bitrix24Error | None = None
        while True:
            outgoing = prepare()
            if outgoing is None:  # a streamed body that cannot be read a second time
                raise last_error or Bitrix24Error("", "the request body cannot be read a second time", what)
            if limited and self.bucket is not None:
                self.bucket.acquire()
            with self._lock:
                self.requests_sent += 1
            try:
                decision, result = self._attempt(
                    outgoing, what, attempts, resend_safe, rest_method, consume, timeout
                )
            finally:
                if outgoing.close is not None:
                    outgoing.close()
            if decision is None:
                return result
            if isinstance(decision, Done):
                if rest_method is not None and isinstance(decision.envelope, dict):
                    self.note_operating(rest_method, decision.envelope.get("time"))
                return decision.envelope
            if isinstance(decision, Raise):
                raise decision.error
            attempts.count(decision)
            last_error = decision.error or last_error
            if isinstance(decision, Renew):
                if not renewable and decision.error is not None:
                    raise decision.error
                if rest_method is None and decision.error is not None:
                    # A link the portal handed out carries its own credential: ours cannot renew it.
                    decision.error.hint = "the link has expired: request it again from the portal"
                    raise decision.error
                self.auth.renew(outgoing.credential)  # raises with a hint when the strategy cannot renew
                continue
            assert isinstance(decision, Retry)
            if decision.throttled and self.bucket is not None:
                self.bucket.penalize()
            if decision.operating:
                log.warning(
                    "%s hit OPERATION_TIME_LIMIT; waiting %.1f s for the limit to reset", what, decision.delay
                )
            else:
                log.warning(
                    "%s: %s, retry %d/%d in %.2f s",
                    what,
                    decision.reason,
                    attempts.retries,
                    self.policy.max_retries,
                    decision.delay,
                )
            self._sleep(decision.delay)

    def _attempt(
        self,
        outgoing: Outgoing,
        what: str,
        attempts: Attempts,
        resend_safe: bool,
        rest_method: str | None,
        consume: Callable[[requests.Response], Any] | None,
        timeout: tuple[float, float] | None,
    ) -> tuple[Any, Any]:
        """One send: ``(decision, None)``, or ``(None, result)`` when ``consume`` took a 2xx reply."""
        try:
            with self.session.request(
                outgoing.verb,
                outgoing.url,
                timeout=timeout or self.timeout,
                allow_redirects=False,
                stream=True,
                **outgoing.kwargs,
            ) as response:
                if consume is not None and 200 <= response.status_code < 300:
                    return None, consume(response)
                # The body in one read: requests' default 10 KB chunks cost about 1 ms of Python
                # per 500 KB page, which adds up when dozens of windows land together.
                content = b"".join(response.iter_content(chunk_size=None))
                status, location, encoding = (
                    response.status_code,
                    response.headers.get("Location"),
                    response.encoding,
                )
        except requests.RequestException as exc:
            failure = classify_failure(
                exc,
                connect_failed=_never_reached_server(exc),
                tls_failed=isinstance(exc, requests.exceptions.SSLError),
            )
            decision = self.policy.decide_failure(
                failure,
                attempts,
                what,
                resend_safe=resend_safe,
                jitter=random.random(),
            )
            return decision, None
        verdict = classify_reply(status, content, what, location=location, encoding=encoding)
        reset_at = self.operating_reset.get(rest_method.lower()) if rest_method else None
        decision = self.policy.decide(
            verdict,
            attempts,
            what,
            resend_safe=resend_safe,
            now=self._clock(),
            reset_at=reset_at,
            jitter=random.random(),
        )
        return decision, None

    # ------------------------------------------------------------------ operating time

    @contextlib.contextmanager
    def _paced(self, pace: Mapping[str, int] | None, job: Mapping[str, int] | None) -> Iterator[None]:
        if not pace:
            yield
            return
        with self.pacer.reserve_many(pace, job=job):
            yield

    def note_operating(self, method: str, time_block: Any) -> None:
        with self._lock:
            book_operating(self.pacer, self.bucket, self.operating_reset, method, time_block)

    def wait_for_operating_reset(self, error: Bitrix24OperationLimit, method: str, waited: float) -> float:
        """Sleep until work refused with ``OPERATION_TIME_LIMIT`` inside a batch may be resent;
        return the total wait so far. Raises ``error`` once ``max_operation_wait`` is used up."""
        wait = self.policy.operating_wait(
            error, waited, self._clock(), self.operating_reset.get(method.lower()), random.random()
        )
        if wait is None:
            raise error
        log.warning("%s hit OPERATION_TIME_LIMIT; waiting %.1f s for the limit to reset", method, wait)
        self._sleep(wait)
        return waited + wait


def _never_reached_server(exc: requests.RequestException) -> bool:
    """True when the request certainly did not reach the server (safe to resend even a write)."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    if isinstance(exc, requests.ConnectionError) and not isinstance(exc, requests.ReadTimeout):
        reason = exc.args[0] if exc.args else None
        inner = getattr(reason, "reason", reason)
        return isinstance(
            inner, (urllib3.exceptions.NewConnectionError, urllib3.exceptions.ConnectTimeoutError)
        )
    return False
