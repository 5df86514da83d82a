"""Bitrix24Client: calls, batch and pagination for one portal and one identity.

Every request goes through one :class:`~.transport.Transport` (rate limiter, operating-time
pacer, timeouts, no redirects), whose retry and resend decisions are the pure rules of
:mod:`.policy`. Before a call or a batch's commands are sent they wait for room under the
method's operating-time limit (:mod:`.operating`), so a paced client is normally not refused.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields
from typing import Any
from urllib.parse import urlsplit

import requests

from . import paging
from .auth import Auth
from .encoding import (
    BATCH_LIMIT,
    EncodedCommand,
    _check_batch_chunk,
    _check_method,
    _encode_batch_command,
    json_params,
)
from .errors import (
    Bitrix24AuthError,
    Bitrix24ConfigError,
    Bitrix24Error,
    Bitrix24OperationLimit,
    Bitrix24PortalMoved,
    Bitrix24RateLimited,
    Bitrix24ServerError,
    Bitrix24TransportError,
    classify,
    scrub,
)
from .methods import is_read_method
from .operating import DEFAULT_OPERATING_LIMIT, DEFAULT_OPERATING_WINDOW, OperatingPacer
from .paging import DEFAULT_PAGINATE_BUFFER_MB, MAX_PAGINATE_PARALLEL, _to_int
from .policy import REDIRECT_STATUSES, RetryPolicy, decode_body, moved_error
from .ratelimit import DEFAULT_BURST, LeakyBucket, bucket_from_config, shared_bucket
from .transport import Transport

log = logging.getLogger(__name__)

# Requests of 50 commands in flight for a batch without halt that outgrows the burst: a write
# request takes about a second on a real portal, so 8 keep the bucket's 2 requests/s busy.
DEFAULT_BATCH_PARALLEL = 8

_USE_SHARED = object()


class _NotSent(Exception):
    """A batch chunk skipped because an earlier one failed."""


def normalize_portal_url(url: str) -> str:
    """``example.bitrix24.com`` -> ``https://example.bitrix24.com``; keeps http for local portals."""
    raw = (url or "").strip()
    if not raw:
        raise Bitrix24ConfigError(description="portal URL (host) is missing")
    if "://" not in raw:
        raw = "https://" + raw
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname or " " in raw:
        raise Bitrix24ConfigError(description=f"portal URL (host) is not a valid http(s) URL: {scrub(url)!r}")
    try:
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        raise Bitrix24ConfigError(
            description=f"portal URL (host) has an invalid port: {scrub(url)!r}"
        ) from None
    path = parts.path.rstrip("/")
    if path.endswith("/rest") or "/rest/" in path + "/":
        path = path[: path.find("/rest")]
    return f"{parts.scheme}://{parts.netloc}{path}"


def rate_bucket(portal_url: str, rate_limit: Any = _USE_SHARED) -> LeakyBucket | None:
    """The rate limiter a client of ``portal_url`` uses for ``rate_limit`` (see :class:`Bitrix24Client`)."""
    if rate_limit is None or isinstance(rate_limit, LeakyBucket):
        return rate_limit
    key = urlsplit(portal_url).netloc.lower()
    if rate_limit is _USE_SHARED:
        return shared_bucket(key)
    if isinstance(rate_limit, Mapping):
        return bucket_from_config(key, rate_limit)
    raise Bitrix24ConfigError(description=f"rate_limit has an unsupported type: {type(rate_limit).__name__}")


@dataclass
class BatchResult:
    """Outcome of :meth:`Bitrix24Client.batch`, keyed by command key."""

    result: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, Bitrix24Error] = field(default_factory=dict)
    total: dict[str, int | None] = field(default_factory=dict)
    next: dict[str, int | None] = field(default_factory=dict)
    time: dict[str, Any] = field(default_factory=dict)

    def merge(self, other: BatchResult) -> None:
        """Add another request's outcome (its keys are distinct from ours)."""
        for name in (f.name for f in fields(self)):
            getattr(self, name).update(getattr(other, name))

    def raise_for_errors(self) -> None:
        """Raise the first command error, if any."""
        for error in self.errors.values():
            raise error


class Bitrix24Client:
    """A Bitrix24 REST client for one portal and one identity. Thread-safe.

    :param portal_url: portal address; scheme optional (https assumed), http allowed.
    :param auth: :class:`~.auth.WebhookAuth`, :class:`~.auth.OAuth2Auth` or :class:`~.auth.StaticTokenAuth`.
    :param timeout: ``(connect, read)`` seconds or one number for both. The portal itself stops
        a request after 60 s, so the read timeout defaults to a bit more.
    :param rate_limit: a :class:`LeakyBucket`, ``{"burst": .., "per_second": .., "scope": ..}``
        (``scope`` ``"process"``, the default, or ``"host"`` for one bucket shared by every process
        on the machine, kept in ``"state_dir"``), ``None`` to disable, or by default the bucket
        shared by every client of this portal in the process.
    :param max_retries: resends allowed for one call after a rate limit or a safe transport error
        (waits for the operation limit are bounded by time instead: ``max_operation_wait``).
    :param max_operation_wait: longest time (s) one call waits, in all, for a method's
        ``OPERATION_TIME_LIMIT`` to lift before giving up; the default covers the 10-minute
        window plus one minute basket.
    :param paginate_parallel: chained-batch requests :meth:`paginate` keeps in flight on a full
        export (ID windows read concurrently, rows still yielded in ID order), 1-50; 1 reads one
        chain. ``None`` (default) chooses: every window at once while they all fit in the rate
        limiter's burst (the portal admits them at once, so reading them in rounds only waits),
        else 8.
    :param paginate_buffer_mb: memory the windows in flight may hold, estimated from the first
        page's records; it lowers ``paginate_parallel`` when records are large.
    :param batch_parallel: requests of 50 commands :meth:`batch` keeps in flight when it need not
        halt (1-50); with ``halt`` they go one by one, since a failing command stops the rest.
        ``None`` (default) chooses: every request at once while they all fit in the rate
        limiter's burst, else 8.
    :param operating_limit: the portal's operating-time limit per method (s per ``operating_window``;
        the cloud's 480 by default). Calls and batch requests are held back before they would
        pass it (see :mod:`.operating`), so a long export or bulk write is not refused half-way
        and need not resend pages. ``None`` turns pacing off (the refusal is then waited out).
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
        session: requests.Session | None = None,
        progress_interval: float = 15.0,
        paginate_parallel: int | None = None,
        paginate_buffer_mb: float = DEFAULT_PAGINATE_BUFFER_MB,
        batch_parallel: int | None = None,
        operating_limit: float | None = DEFAULT_OPERATING_LIMIT,
        operating_window: float = DEFAULT_OPERATING_WINDOW,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.portal_url = normalize_portal_url(portal_url)
        self.auth = auth
        self.timeout = timeout if isinstance(timeout, tuple) else (float(timeout), float(timeout))
        if max_retries < 0:
            raise Bitrix24ConfigError(description="max_retries must be >= 0")
        self.max_retries = int(max_retries)
        self.max_operation_wait = float(max_operation_wait)
        self.progress_interval = progress_interval
        if paginate_parallel is not None and not 1 <= paginate_parallel <= MAX_PAGINATE_PARALLEL:
            raise Bitrix24ConfigError(description=f"paginate_parallel must be 1..{MAX_PAGINATE_PARALLEL}")
        self.paginate_parallel = None if paginate_parallel is None else int(paginate_parallel)
        if not paginate_buffer_mb > 0:
            raise Bitrix24ConfigError(description="paginate_buffer_mb must be positive")
        self.paginate_buffer_mb = float(paginate_buffer_mb)
        if batch_parallel is not None and not 1 <= batch_parallel <= MAX_PAGINATE_PARALLEL:
            raise Bitrix24ConfigError(description=f"batch_parallel must be 1..{MAX_PAGINATE_PARALLEL}")
        self.batch_parallel = None if batch_parallel is None else int(batch_parallel)
        if operating_limit is not None and operating_limit < 0:
            raise Bitrix24ConfigError(
                description="operating_limit must be positive (or None to turn pacing off)"
            )
        self.pacer = OperatingPacer(operating_limit, operating_window)
        self.bucket = self._make_bucket(rate_limit)
        self.transport = Transport(
            self.portal_url,
            auth,
            policy=RetryPolicy(
                max_retries=self.max_retries,
                backoff_base=backoff_base,
                backoff_max=backoff_max,
                max_operation_wait=self.max_operation_wait,
            ),
            timeout=self.timeout,
            bucket=self.bucket,
            pacer=self.pacer,
            session=session,
            # requests keeps 10 connections per host; windows beyond that would reconnect each time.
            pool_size=max(
                10,
                self.paginate_parallel or MAX_PAGINATE_PARALLEL,
                self.batch_parallel or MAX_PAGINATE_PARALLEL,
            ),
            sleep=sleep,
        )
        self.session = self.transport.session

    @property
    def requests_sent(self) -> int:
        """HTTP requests sent to the portal so far (observability, tests)."""
        return self.transport.requests_sent

    def _make_bucket(self, rate_limit: Any) -> LeakyBucket | None:
        return rate_bucket(self.portal_url, rate_limit)

    def close(self) -> None:
        self.transport.close()

    def __enter__(self) -> Bitrix24Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Bitrix24Client({self.portal_url!r}, auth={self.auth!r})"

    # ------------------------------------------------------------------ single calls

    def call(self, method: str, params: Mapping[str, Any] | None = None) -> Any:
        """Call ``method`` and return the envelope's ``result``."""
        return self.call_raw(method, params).get("result")

    def call_raw(self, method: str, params: Mapping[str, Any] | None = None) -> dict:
        """Call ``method`` and return the whole success envelope (``result``, ``next``, ``total``, ``time``)."""
        method = _check_method(method)
        params = json_params(params, method)  # a value JSON cannot carry fails here, naming its path
        if method.lower() == "batch":
            cmd = params.get("cmd")
            if isinstance(cmd, (Mapping, list, tuple)):
                _check_batch_chunk(list(cmd.items()) if isinstance(cmd, Mapping) else list(enumerate(cmd)))
        return self._send(method, params, is_read_method(method))

    # ------------------------------------------------------------------ sending

    def _send(self, method: str, params: dict, is_read: bool) -> dict:
        # A batch request is not metered itself: _batch_chunk paces the commands inside.
        pace = None if method.lower() == "batch" else {method: 1}
        return self.transport.call(method, params, resend_safe=is_read, pace=pace)

    def _decode(self, resp: requests.Response, method: str, content: bytes | None = None) -> Any:
        """A reply's JSON (or its text); a redirect raises :class:`Bitrix24PortalMoved`."""
        if resp.status_code in REDIRECT_STATUSES:
            raise moved_error(resp.status_code, resp.headers.get("Location"), method)
        return decode_body(resp.content if content is None else content, resp.encoding)

    def _note_operating(self, method: str, time_block: Any) -> None:
        self.transport.note_operating(method, time_block)

    def _wait_for_operating_reset(self, error: Bitrix24OperationLimit, method: str, waited: float) -> float:
        """Sleep until work refused with ``OPERATION_TIME_LIMIT`` may be resent (see
        :meth:`.transport.Transport.wait_for_operating_reset`)."""
        return self.transport.wait_for_operating_reset(error, method, waited)

    # ------------------------------------------------------------------ batch

    def batch(
        self,
        commands: Mapping[str, Any] | Iterable[Any],
        halt: bool = False,
    ) -> BatchResult:
        """Run commands through ``batch``, 50 per HTTP request.

        ``commands``: ``{key: (method, params)}`` or a list of ``(method, params)`` (keys are then
        ``"0"``, ``"1"``, ...). A command may also be a ready ``"method?query"`` string, sent as
        written. Parameter values are data: to use an earlier command's result write
        :func:`~.encoding.result_ref` (``$result[key][...]``), which resolves only within one
        chunk of 50. A command whose data the portal would not read as written inside batch (a
        value such as ``"$result[1]"``, see :func:`~.encoding.batch_command`) is sent on its own
        as a plain call, its outcome filed under its key like the others.

        With ``halt`` the portal stops at the first failing command and nothing further is
        sent (a command sent on its own also ends the request before it); without it,
        ``batch_parallel`` chunks are in flight at once, so commands of different chunks may
        run in any order (use ``halt`` or ``batch_parallel=1`` where that order matters).
        """
        items = list(commands.items()) if isinstance(commands, Mapping) else list(enumerate(commands))
        encoded = [_encode_batch_command(str(key), command) for key, command in items]
        steps = _batch_steps(encoded, halt)
        chunks = [step for step in steps if isinstance(step, list)]
        outside = {c.key: c.solo for c in encoded if c.solo}
        for chunk in chunks:  # every chunk is checked before the first is sent
            _check_batch_chunk([(key, cmd) for key, _m, cmd in chunk], outside)
        out = BatchResult()
        parallel = self._batch_in_flight(len(chunks))
        if halt or len(chunks) <= 1 or parallel == 1:
            for step in steps:
                try:
                    if isinstance(step, list):
                        self._batch_chunk(step, halt, out)
                    else:
                        self._batch_solo(step, out)
                except Bitrix24Error as exc:
                    exc.partial_result = out  # what earlier requests did, for the caller to report
                    raise
                if halt and out.errors:
                    break
            return out
        job = Counter(m for chunk in chunks for _k, m, _c in chunk)
        out = self._batch_concurrently(chunks, parallel, job)
        for step in steps:
            if not isinstance(step, list):
                try:
                    self._batch_solo(step, out)
                except Bitrix24Error as exc:
                    exc.partial_result = out
                    raise
        return out

    def _batch_solo(self, command: EncodedCommand, out: BatchResult) -> None:
        """One command sent on its own (a plain call); its own failure is filed like a batch
        command's, a failed request (transport, limits, auth) is raised like a chunk's."""
        try:
            envelope = self.call_raw(command.method, command.params)
        except _REQUEST_FAILURES:
            raise
        except Bitrix24Error as exc:
            out.errors[command.key] = exc
            return
        out.result[command.key] = envelope.get("result")
        for name, value in (("total", envelope.get("total")), ("next", envelope.get("next"))):
            if _to_int(value) is not None:
                getattr(out, name)[command.key] = _to_int(value)
        if envelope.get("time") is not None:
            out.time[command.key] = envelope["time"]

    def _batch_in_flight(self, chunks: int) -> int:
        """``batch_parallel``, or by default every request at once while they fit in the burst."""
        if self.batch_parallel is not None:
            return self.batch_parallel
        burst = int(self.bucket.capacity) if self.bucket is not None else DEFAULT_BURST
        return chunks if chunks <= min(burst, MAX_PAGINATE_PARALLEL) else DEFAULT_BATCH_PARALLEL

    def _batch_concurrently(
        self, chunks: list[list[tuple[str, str, str]]], parallel: int, job: Mapping[str, int]
    ) -> BatchResult:
        """Chunks without halt are independent: ``parallel`` in flight (each still passes
        the rate limiter), merged in command order. After a failed request no further chunk is
        sent; the first failure in command order is raised once those in flight are done, with
        the results of the requests that succeeded as its ``partial_result``."""
        parts = [BatchResult() for _ in chunks]
        failed = threading.Event()

        def send(chunk: list[tuple[str, str, str]], part: BatchResult) -> None:
            if failed.is_set():
                raise _NotSent
            try:
                self._batch_chunk(chunk, False, part, job)
            except BaseException:
                failed.set()
                raise

        with ThreadPoolExecutor(
            max_workers=min(parallel, len(chunks)), thread_name_prefix="bitrix24-batch"
        ) as pool:
            futures = [pool.submit(send, chunk, part) for chunk, part in zip(chunks, parts, strict=True)]
        outcomes = [future.exception() for future in futures]
        out = BatchResult()
        for outcome, part in zip(outcomes, parts, strict=True):
            if outcome is None:
                out.merge(part)
        errors = [e for e in outcomes if e is not None and not isinstance(e, _NotSent)]
        if errors:
            if isinstance(errors[0], Bitrix24Error):
                errors[0].partial_result = out  # what the other requests did, for the caller to report
            raise errors[0]
        return out

    def _batch_chunk(
        self,
        chunk: list[tuple[str, str, str]],
        halt: bool,
        out: BatchResult,
        job: Mapping[str, int] | None = None,
    ) -> None:
        """One batch request; each method's commands wait for room under its operating time
        (``job``: the commands of the whole job, which decides whether the first waits alone)."""
        is_read = all(is_read_method(method) for _key, method, _cmd in chunk)
        envelope = self.transport.call(
            "batch",
            {"halt": 1 if halt else 0, "cmd": {k: c for k, _m, c in chunk}},
            resend_safe=is_read,
            pace=Counter(m for _k, m, _c in chunk),
            job=job,
        )
        for method, block in file_batch_reply(envelope, chunk, out):
            self._note_operating(method, block)

    # ------------------------------------------------------------------ pagination

    def paginate(
        self, method: str, params: Mapping[str, Any] | None = None, *, limit: int | None = None
    ) -> Iterator[dict]:
        """Yield every record of a list method, each exactly once (see :func:`.paging.paginate`)."""
        return paging.paginate(self, method, params, limit=limit)


# ---------------------------------------------------------------------- helpers


# Errors of a plain call that fail the whole request (as they would a batch request), not one command.
_REQUEST_FAILURES = (
    Bitrix24TransportError,
    Bitrix24AuthError,
    Bitrix24RateLimited,
    Bitrix24OperationLimit,
    Bitrix24ServerError,
    Bitrix24PortalMoved,
    Bitrix24ConfigError,
)


def _batch_steps(
    encoded: list[EncodedCommand], halt: bool
) -> list[list[tuple[str, str, str]] | EncodedCommand]:
    """Batch requests of up to 50 commands and the commands sent on their own, in sending order.

    With ``halt`` order matters, so a command sent on its own ends the chunk before it; without
    it the others are chunked as if it were not there (their references reach the same commands)
    and it goes after them."""
    steps: list[list[tuple[str, str, str]] | EncodedCommand] = []
    solos: list[EncodedCommand] = []
    chunk: list[tuple[str, str, str]] = []
    for command in encoded:
        if command.solo is not None:
            if halt:
                if chunk:
                    steps.append(chunk)
                    chunk = []
                steps.append(command)
            else:
                solos.append(command)
            continue
        chunk.append((command.key, command.method, command.command))
        if len(chunk) == BATCH_LIMIT:
            steps.append(chunk)
            chunk = []
    if chunk:
        steps.append(chunk)
    return steps + solos


def file_batch_reply(
    envelope: Mapping[str, Any], chunk: list[tuple[str, str, str]], out: BatchResult
) -> list[tuple[str, Any]]:
    """File one batch request's reply under its commands' keys in ``out``; return each command's
    ``(method, time block)`` for the operating-time books."""
    body = envelope.get("result") or {}
    keys = [k for k, _m, _c in chunk]
    methods = {k: m for k, m, _c in chunk}
    out.result.update(_keyed(body.get("result"), keys))
    for key, raw in _keyed(body.get("result_error"), keys).items():
        err = classify(raw if isinstance(raw, dict) else {"error": raw}, None, methods.get(key))
        if err is not None:
            out.errors[key] = err
    out.total.update({k: _to_int(v) for k, v in _keyed(body.get("result_total"), keys).items()})
    out.next.update({k: _to_int(v) for k, v in _keyed(body.get("result_next"), keys).items()})
    times = _keyed(body.get("result_time"), keys)
    out.time.update(times)
    return [(methods[key], block) for key, block in times.items() if key in methods]


def _keyed(value: Any, keys: list[str]) -> dict[str, Any]:
    """A batch sub-result as ``{key: value}``; PHP sends an array with keys 0..n-1 as a JSON list."""
    if isinstance(value, dict):
        return {str(k): v for k, v in value.items()}
    if isinstance(value, list):
        return {str(i): v for i, v in enumerate(value)}
    return {}
