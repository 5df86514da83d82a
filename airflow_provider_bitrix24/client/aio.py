"""AsyncBitrix24Client: the client core's rules over ``httpx``, for code that runs in an event loop.

The triggerer runs every deferred sensor of a deployment in one event loop. A poll that ran the
sync client in a worker thread held that thread while it waited for the rate limiter, for an
operating-time reset, for a backoff or for the portal's reply: a few hundred sensors then queue
for the loop's handful of threads. This shell waits with ``await`` instead.

It is a second shell over the same core, not a second client: replies and failures are
classified and decided by :mod:`.policy` (``classify_reply``, ``classify_failure``,
``RetryPolicy``), the rate limiter is the same shared bucket (:func:`.client.rate_bucket`, whose
``reserve`` says how long to wait), the operating-time pacer the same arithmetic
(:meth:`.operating.OperatingPacer.admit`), requests and batch replies are built and read by the
same functions, and the auth strategies are the same objects. No redirect is followed
(``follow_redirects=False``). Work that needs blocking I/O - reading or saving an OAuth token
store, refreshing the access token - runs in a worker thread only for that step.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import os
import random
import ssl
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from typing import Any

import httpx

from .auth import Auth
from .client import (
    _REQUEST_FAILURES,
    _USE_SHARED,
    DEFAULT_BATCH_PARALLEL,
    BatchResult,
    _batch_steps,
    file_batch_reply,
    normalize_portal_url,
    rate_bucket,
)
from .encoding import EncodedCommand, _check_batch_chunk, _check_method, _encode_batch_command, json_params
from .errors import Bitrix24ConfigError, Bitrix24Error
from .methods import is_read_method
from .operating import DEFAULT_OPERATING_LIMIT, DEFAULT_OPERATING_WINDOW, OperatingPacer
from .paging import MAX_PAGINATE_PARALLEL, _to_int
from .policy import (
    Attempts,
    Decision,
    Done,
    Raise,
    Renew,
    Retry,
    RetryPolicy,
    classify_failure,
    classify_reply,
)
from .ratelimit import DEFAULT_BURST
from .transport import USER_AGENT, _ScrubFilter, book_operating, mask_query_values

log = logging.getLogger(__name__)

# httpx logs every request line at INFO and httpcore the reply headers at DEBUG: a webhook URL
# (or a redirect's Location) carries the code in its path. A logger's filter does not see its
# children's records, so each logger that writes them gets one.
for _name in ("httpx", "httpcore.connection", "httpcore.http11", "httpcore.http2", "httpcore.proxy"):
    logging.getLogger(_name).addFilter(_ScrubFilter())

# The pacer wakes a waiting thread when a request ends; a coroutine looks again this often.
PACER_POLL = 0.25
# Requests of one client and its siblings in flight at once: the cloud portal's burst, and the
# most the sync client keeps in flight. It also bounds the work one turn of the event loop does
# when hundreds of triggers look at once (each request costs about a millisecond to start).
MAX_IN_FLIGHT = 50

_SSL_CONTEXT: ssl.SSLContext | None = None


def _ssl_context() -> ssl.SSLContext:
    """One TLS context per process: building one loads the CA bundle (tens of ms of CPU), too
    much to repeat for each of hundreds of triggers. Trusts what ``requests`` trusts."""
    global _SSL_CONTEXT
    if _SSL_CONTEXT is None:
        import certifi

        cafile = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or certifi.where()
        _SSL_CONTEXT = ssl.create_default_context(cafile=cafile)
    return _SSL_CONTEXT


class AsyncBitrix24Client:
    """An async Bitrix24 REST client for one portal and one identity, for one event loop.

    The parameters mean what they mean for :class:`~.client.Bitrix24Client`. ``http`` replaces
    the ``httpx.AsyncClient`` (tests); ``sleep`` and ``clock`` the waiting and the wall clock.
    Use it as ``async with`` (or call :meth:`aclose`).
    """

    def __init__(
        self,
        portal_url: str,
        auth: Auth,
        *,
        timeout: float | tuple[float, float] = (10.0, 65.0),
        rate_limit: Any = _USE_SHARED,
        max_retries: int = 5,
        max_operation_wait: float = 660.0,
        backoff_base: float = 1.0,
        backoff_max: float = 30.0,
        batch_parallel: int | None = None,
        operating_limit: float | None = DEFAULT_OPERATING_LIMIT,
        operating_window: float = DEFAULT_OPERATING_WINDOW,
        http: httpx.AsyncClient | None = None,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.portal_url = normalize_portal_url(portal_url)
        self.auth = auth
        self.timeout = timeout if isinstance(timeout, tuple) else (float(timeout), float(timeout))
        if max_retries < 0:
            raise Bitrix24ConfigError(description="max_retries must be >= 0")
        if batch_parallel is not None and not 1 <= batch_parallel <= MAX_PAGINATE_PARALLEL:
            raise Bitrix24ConfigError(description=f"batch_parallel must be 1..{MAX_PAGINATE_PARALLEL}")
        if operating_limit is not None and operating_limit < 0:
            raise Bitrix24ConfigError(
                description="operating_limit must be positive (or None to turn pacing off)"
            )
        self.batch_parallel = batch_parallel
        self.policy = RetryPolicy(
            max_retries=int(max_retries),
            backoff_base=backoff_base,
            backoff_max=backoff_max,
            max_operation_wait=float(max_operation_wait),
        )
        self.pacer = OperatingPacer(operating_limit, operating_window)
        self.bucket = rate_bucket(self.portal_url, rate_limit)
        self._owns_http = http is None
        # Built here, not on first use: the constructor runs where blocking is fine (the hook
        # builds the client in a worker thread), and a first TLS context loads the CA bundle.
        self._http = http if http is not None else self._new_http()
        self._sleep = sleep
        self._clock = clock
        self._renewing = asyncio.Lock()  # shared with siblings: one renewal at a time
        self._in_flight = asyncio.Semaphore(MAX_IN_FLIGHT)  # shared with siblings
        self.requests_sent = 0  # HTTP requests sent (observability, tests)
        # Last ``operating_reset_at`` seen per method: the portal's 429 reply itself has none.
        self.operating_reset: dict[str, float] = {}

    def _new_http(self) -> httpx.AsyncClient:
        connect, read = self.timeout
        return httpx.AsyncClient(
            headers={"Accept": "application/json", "User-Agent": USER_AGENT},
            timeout=httpx.Timeout(read, connect=connect),
            follow_redirects=False,
            verify=_ssl_context(),
        )

    def sibling(self) -> AsyncBitrix24Client:
        """A client sharing this one's credential, rate limiter, pacer and retry settings, with a
        connection pool of its own. Many triggers of one connection each take a sibling: one
        pool serving hundreds of concurrent requests spends its time scanning its queue
        (httpcore matches every queued request against every connection)."""
        twin = copy.copy(self)
        twin._http = self._new_http()
        twin._owns_http = True
        return twin

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> AsyncBitrix24Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"AsyncBitrix24Client({self.portal_url!r}, auth={self.auth!r})"

    # ------------------------------------------------------------------ calls

    async def call(self, method: str, params: Mapping[str, Any] | None = None) -> Any:
        """Call ``method`` and return the envelope's ``result``."""
        return (await self.call_raw(method, params)).get("result")

    async def call_raw(self, method: str, params: Mapping[str, Any] | None = None) -> dict:
        """Call ``method`` and return the whole success envelope (``result``, ``next``, ``total``, ``time``)."""
        method = _check_method(method)
        body = json_params(params, method)
        if method.lower() == "batch":
            cmd = body.get("cmd")
            if isinstance(cmd, (Mapping, list, tuple)):
                _check_batch_chunk(list(cmd.items()) if isinstance(cmd, Mapping) else list(enumerate(cmd)))
            return await self._exchange(method, body, resend_safe=is_read_method(method), pace=None)
        return await self._exchange(method, body, resend_safe=is_read_method(method), pace={method: 1})

    # ------------------------------------------------------------------ batch

    async def batch(self, commands: Mapping[str, Any] | Iterable[Any], halt: bool = False) -> BatchResult:
        """Run commands through ``batch``, 50 per HTTP request, as :meth:`.client.Bitrix24Client.batch`
        does: with ``halt`` one request after another, stopping at the first failing command;
        without it ``batch_parallel`` requests at once (by default all while they fit in the burst)."""
        items = list(commands.items()) if isinstance(commands, Mapping) else list(enumerate(commands))
        encoded = [_encode_batch_command(str(key), command) for key, command in items]
        steps = _batch_steps(encoded, halt)
        chunks = [step for step in steps if isinstance(step, list)]
        outside = {c.key: c.solo for c in encoded if c.solo}
        for chunk in chunks:  # every chunk is checked before the first is sent
            _check_batch_chunk([(key, cmd) for key, _m, cmd in chunk], outside)
        out = BatchResult()
        job = Counter(m for chunk in chunks for _k, m, _c in chunk)
        if halt or len(chunks) <= 1:
            for step in steps:
                try:
                    if isinstance(step, list):
                        await self._batch_chunk(step, halt, out, job)
                    else:
                        await self._batch_solo(step, out)
                except Bitrix24Error as exc:
                    exc.partial_result = out
                    raise
                if halt and out.errors:
                    break
            return out
        out = await self._batch_concurrently(chunks, job)
        for step in steps:
            if not isinstance(step, list):
                try:
                    await self._batch_solo(step, out)
                except Bitrix24Error as exc:
                    exc.partial_result = out
                    raise
        return out

    async def _batch_concurrently(
        self, chunks: list[list[tuple[str, str, str]]], job: Mapping[str, int]
    ) -> BatchResult:
        """Chunks without halt are independent: some in flight at once, merged in command order.
        After a failed request no further chunk is sent; the first failure in command order is
        raised with what the other requests did as its ``partial_result``."""
        if self.batch_parallel is not None:
            parallel = self.batch_parallel
        else:
            burst = int(self.bucket.capacity) if self.bucket is not None else DEFAULT_BURST
            fits = len(chunks) <= min(burst, MAX_PAGINATE_PARALLEL)
            parallel = len(chunks) if fits else DEFAULT_BATCH_PARALLEL
        gate = asyncio.Semaphore(parallel)
        parts = [BatchResult() for _ in chunks]
        failed = False

        async def send(chunk: list[tuple[str, str, str]], part: BatchResult) -> bool:
            nonlocal failed
            async with gate:
                if failed:
                    return False
                try:
                    await self._batch_chunk(chunk, False, part, job)
                except BaseException:
                    failed = True
                    raise
                return True

        outcomes = await asyncio.gather(
            *(send(chunk, part) for chunk, part in zip(chunks, parts, strict=True)), return_exceptions=True
        )
        out = BatchResult()
        for outcome, part in zip(outcomes, parts, strict=True):
            if outcome is True:
                out.merge(part)
        errors = [e for e in outcomes if isinstance(e, BaseException)]
        if errors:
            if isinstance(errors[0], Bitrix24Error):
                errors[0].partial_result = out
            raise errors[0]
        return out

    async def _batch_chunk(
        self, chunk: list[tuple[str, str, str]], halt: bool, out: BatchResult, job: Mapping[str, int]
    ) -> None:
        envelope = await self._exchange(
            "batch",
            {"halt": 1 if halt else 0, "cmd": {k: c for k, _m, c in chunk}},
            resend_safe=all(is_read_method(method) for _key, method, _cmd in chunk),
            pace=Counter(m for _k, m, _c in chunk),
            job=job,
        )
        for method, block in file_batch_reply(envelope, chunk, out):
            self.note_operating(method, block)

    async def _batch_solo(self, command: EncodedCommand, out: BatchResult) -> None:
        try:
            envelope = await self.call_raw(command.method, command.params)
        except _REQUEST_FAILURES:
            raise
        except Bitrix24Error as exc:
            out.errors[command.key] = exc
            return
        out.result[command.key] = envelope.get("result")
        for name in ("total", "next"):
            if _to_int(envelope.get(name)) is not None:
                getattr(out, name)[command.key] = _to_int(envelope.get(name))
        if envelope.get("time") is not None:
            out.time[command.key] = envelope["time"]

    # ------------------------------------------------------------------ the one loop

    async def _exchange(
        self,
        method: str,
        body: dict,
        *,
        resend_safe: bool,
        pace: Mapping[str, int] | None,
        job: Mapping[str, int] | None = None,
    ) -> dict:
        """Send until the policy says done or raise (the async twin of ``Transport.exchange``)."""
        attempts = Attempts()
        async with self._paced(pace, job):
            while True:
                prepared, credential = await self._prepare(body)
                if self.bucket is not None:
                    wait = self.bucket.reserve()
                    if wait > 0:
                        await self._sleep(wait)
                self.requests_sent += 1
                decision = await self._attempt(method, prepared, attempts, resend_safe)
                if isinstance(decision, Done):
                    if isinstance(decision.envelope, dict):
                        self.note_operating(method, decision.envelope.get("time"))
                    return decision.envelope
                if isinstance(decision, Raise):
                    raise decision.error
                attempts.count(decision)
                if isinstance(decision, Renew):
                    await self._renew(credential)
                    continue
                assert isinstance(decision, Retry)
                if decision.throttled and self.bucket is not None:
                    self.bucket.penalize()
                if decision.operating:
                    log.warning(
                        "%s hit OPERATION_TIME_LIMIT; waiting %.1f s for the limit to reset",
                        method,
                        decision.delay,
                    )
                else:
                    log.warning(
                        "%s: %s, retry %d/%d in %.2f s",
                        method,
                        decision.reason,
                        attempts.retries,
                        self.policy.max_retries,
                        decision.delay,
                    )
                await self._sleep(decision.delay)

    async def _attempt(self, method: str, body: dict, attempts: Attempts, resend_safe: bool) -> Decision:
        url = f"{self.auth.rest_base(self.portal_url)}/{method}"
        try:
            async with self._in_flight:
                response = await self._http.post(url, json=body)
        except httpx.TransportError as exc:
            failure = classify_failure(
                exc,
                connect_failed=isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)),
            )
            failure = type(failure)(failure.kind, mask_query_values(failure.reason), failure.hint)
            return self.policy.decide_failure(
                failure, attempts, method, resend_safe=resend_safe, jitter=random.random()
            )
        verdict = classify_reply(
            response.status_code,
            response.content,
            method,
            location=response.headers.get("location"),
            encoding=response.charset_encoding,
        )
        return self.policy.decide(
            verdict,
            attempts,
            method,
            resend_safe=resend_safe,
            now=self._clock(),
            reset_at=self.operating_reset.get(method.lower()),
            jitter=random.random(),
        )

    # ------------------------------------------------------------------ credentials

    async def _prepare(self, body: dict) -> tuple[dict, Any]:
        ready = self.auth.prepare_nowait(body)
        if ready is not None:
            return ready
        # The token store must be read (or a pair saved, or the token refreshed): blocking I/O.
        return await asyncio.to_thread(self.auth.prepare, body)

    async def _renew(self, used: Any) -> None:
        """Renew the credential in a worker thread (the refresh and the token store block); one
        coroutine at a time, so an expiry seen by many requests costs one thread, one refresh."""
        async with self._renewing:
            await asyncio.to_thread(self.auth.renew, used)

    # ------------------------------------------------------------------ operating time

    @contextlib.asynccontextmanager
    async def _paced(
        self, pace: Mapping[str, int] | None, job: Mapping[str, int] | None
    ) -> AsyncIterator[None]:
        """Wait (without a thread) until the pacer admits the request; release it at the end."""
        if not pace or self.pacer.limit is None:
            yield
            return
        wanted, small_job = self.pacer.wanted(pace, job)
        while True:
            wait, costs = self.pacer.admit(wanted, small_job)
            if wait == 0:
                break
            await self._sleep(PACER_POLL if wait is None else min(wait, PACER_POLL * 4))
        try:
            yield
        finally:
            self.pacer.release(costs)

    def note_operating(self, method: str, time_block: Any) -> None:
        """Book a successful call's ``time`` block: the pacer's bound and the method's reset time."""
        book_operating(self.pacer, self.bucket, self.operating_reset, method, time_block)
