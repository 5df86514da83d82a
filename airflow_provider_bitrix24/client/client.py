"""Bitrix24Client: transport, retry policy, batch and pagination.

The retry policy lives in :meth:`Bitrix24Client._send_with_retries` and nowhere else:

* 503 ``QUERY_LIMIT_EXCEEDED``: the call was refused, not run -> back off with jitter, resend.
* 429 ``OPERATION_TIME_LIMIT``: wait until ``operating_reset_at`` (bounded), resend. Before that,
  every call and every batch's commands wait for room under the method's operating-time limit
  (:mod:`.operating`), so a paced client is normally not refused at all.
* 401 ``expired_token``: ask the auth strategy to renew, resend.
* network error / 5xx: resend reads; a write that may have reached the portal raises
  :class:`Bitrix24WriteMayHaveSucceeded` instead of being sent twice.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import random
import re
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields
from typing import Any
from urllib.parse import unquote, urlsplit

import requests
import urllib3.exceptions
from requests.adapters import HTTPAdapter

from .. import __version__
from .auth import Auth
from .connections import ConnectionWarmer
from .encoding import encode_command, encode_params
from .errors import (
    Bitrix24ConfigError,
    Bitrix24Error,
    Bitrix24NotSupported,
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
from .methods import PagingSpec, is_read_method, paging_spec
from .operating import DEFAULT_OPERATING_LIMIT, DEFAULT_OPERATING_WINDOW, OperatingPacer
from .ratelimit import DEFAULT_BURST, DEFAULT_PER_SECOND, SCOPES, LeakyBucket, shared_bucket

try:  # Airflow ships msgspec: it decodes a 2,500-record page about twice as fast as ``json``
    from msgspec.json import decode as _decode_json_bytes
except ImportError:  # pragma: no cover - the core also runs without it
    _decode_json_bytes = None

log = logging.getLogger(__name__)


class _ScrubFilter(logging.Filter):
    """urllib3 logs request lines at DEBUG; a webhook URL carries its code in the path."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = scrub(message)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        return True


logging.getLogger("urllib3.connectionpool").addFilter(_ScrubFilter())

BATCH_LIMIT = 50  # commands per batch request (portal limit)
PAGE_SIZE = 50  # records per list page (portal limit)
# More windows in flight than the cloud plan's burst would only queue in the client's bucket.
MAX_PAGINATE_PARALLEL = 50
# Windows in flight, by default, once an export outgrows the burst: the bucket then admits
# 2 requests/s, and 8 in flight keep it busy while each takes up to 4 s on the portal.
STEADY_PARALLEL = 8
DEFAULT_PAGINATE_BUFFER_MB = 128.0
# How much smaller, as a share of a full batch, each window of one wave is than the next (see
# ``_staggered``): 4 records, about 6 ms of portal time at the docs' per-page cost, a little more
# than the client spends decoding and handing over one window of 2,500 records once its
# connection is open (measured with benchmarks/run.py: 0.12% and 0.2% did worse at 100,000).
WAVE_STAGGER = 0.0016
# Requests of 50 commands in flight for a batch without halt: a write request takes about a second
# on a real portal, so 8 keep the bucket's 2 requests/s busy and use its burst quickly.
DEFAULT_BATCH_PARALLEL = 8
# Operating time is booked in one-minute baskets: refused again after the announced reset, a
# call retries this often until the next basket drops out.
OPERATION_POLL = 10.0
_MAX_RENEWALS = 2  # per call: adopt a pair another worker saved, then refresh it if stale too

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


@dataclass
class BatchResult:
    """Outcome of :meth:`Bitrix24Client.batch`, keyed by command key."""

    result: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, Bitrix24Error] = field(default_factory=dict)
    total: dict[str, int] = field(default_factory=dict)
    next: dict[str, int] = field(default_factory=dict)
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
        batch_parallel: int = DEFAULT_BATCH_PARALLEL,
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
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.progress_interval = progress_interval
        if paginate_parallel is not None and not 1 <= paginate_parallel <= MAX_PAGINATE_PARALLEL:
            raise Bitrix24ConfigError(description=f"paginate_parallel must be 1..{MAX_PAGINATE_PARALLEL}")
        self.paginate_parallel = None if paginate_parallel is None else int(paginate_parallel)
        if not paginate_buffer_mb > 0:
            raise Bitrix24ConfigError(description="paginate_buffer_mb must be positive")
        self.paginate_buffer_mb = float(paginate_buffer_mb)
        if not 1 <= batch_parallel <= MAX_PAGINATE_PARALLEL:
            raise Bitrix24ConfigError(description=f"batch_parallel must be 1..{MAX_PAGINATE_PARALLEL}")
        self.batch_parallel = int(batch_parallel)
        if operating_limit is not None and operating_limit < 0:
            raise Bitrix24ConfigError(
                description="operating_limit must be positive (or None to turn pacing off)"
            )
        self.pacer = OperatingPacer(operating_limit, operating_window)
        self._sleep = sleep
        self.bucket = self._make_bucket(rate_limit)
        if session is None:
            session = requests.Session()
            # requests keeps 10 connections per host; windows beyond that would reconnect each time.
            pool = max(10, self.paginate_parallel or MAX_PAGINATE_PARALLEL, self.batch_parallel)
            for prefix in ("https://", "http://"):
                session.mount(prefix, HTTPAdapter(pool_connections=pool, pool_maxsize=pool))
        self.session = session
        self.session.headers.update(
            {
                "Accept": "application/json",
                "User-Agent": f"airflow-provider-bitrix24/{__version__}",
            }
        )
        self.requests_sent = 0  # HTTP requests to the portal (observability, tests)
        # Last ``operating_reset_at`` seen per method: the portal's 429 reply itself has none.
        self._operating_reset: dict[str, float] = {}

    def _make_bucket(self, rate_limit: Any) -> LeakyBucket | None:
        if rate_limit is None or isinstance(rate_limit, LeakyBucket):
            return rate_limit
        key = urlsplit(self.portal_url).netloc.lower()
        if rate_limit is _USE_SHARED:
            return shared_bucket(key)
        if isinstance(rate_limit, Mapping):
            try:
                burst = float(rate_limit.get("burst", DEFAULT_BURST))
                per_second = float(rate_limit.get("per_second", DEFAULT_PER_SECOND))
                if burst < 1 or per_second <= 0:
                    raise ValueError
            except (TypeError, ValueError):
                raise Bitrix24ConfigError(
                    description='rate_limit must be {"burst": >=1, "per_second": >0}'
                ) from None
            scope = str(rate_limit.get("scope") or "process").lower()
            if scope not in SCOPES:
                raise Bitrix24ConfigError(description=f"rate_limit scope must be one of {', '.join(SCOPES)}")
            try:
                return shared_bucket(
                    key, burst, per_second, scope=scope, state_dir=rate_limit.get("state_dir")
                )
            except OSError as exc:
                raise Bitrix24ConfigError(description=f"rate_limit state_dir is not usable: {exc}") from None
        raise Bitrix24ConfigError(
            description=f"rate_limit has an unsupported type: {type(rate_limit).__name__}"
        )

    def close(self) -> None:
        self.session.close()

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
        params = dict(params or {})
        if method.lower() == "batch":
            cmd = params.get("cmd")
            if isinstance(cmd, (Mapping, list, tuple)):
                _check_batch_chunk(list(cmd.items()) if isinstance(cmd, Mapping) else list(enumerate(cmd)))
        return self._send(method, params, is_read_method(method))

    # ------------------------------------------------------------------ transport + retry policy

    def _url(self, method: str) -> str:
        return f"{self.auth.rest_base(self.portal_url)}/{method}"

    def _send(self, method: str, params: dict, is_read: bool) -> dict:
        if method.lower() == "batch":  # not metered itself: _batch_chunk paces the commands inside
            return self._send_with_retries(method, params, is_read)
        with self.pacer.reserve(method, 1):
            return self._send_with_retries(method, params, is_read)

    def _send_with_retries(self, method: str, params: dict, is_read: bool) -> dict:
        attempt = 0
        renewals = 0
        operation_waited = 0.0
        while True:
            body, credential = self.auth.prepare(params)
            url = self._url(method)
            if self.bucket is not None:
                self.bucket.acquire()
            try:
                self.requests_sent += 1
                resp = self.session.post(
                    url, json=body, timeout=self.timeout, allow_redirects=False, stream=True
                )
                # The body in one read: requests' default 10 KB chunks cost about 1 ms of Python
                # per 500 KB page, which adds up when dozens of windows land together.
                content = b"".join(resp.iter_content(chunk_size=None))
            except requests.RequestException as exc:
                never_sent = _never_reached_server(exc)
                if not (is_read or never_sent):
                    raise Bitrix24WriteMayHaveSucceeded(
                        "",
                        f"no reply ({type(exc).__name__})",
                        method,
                        None,
                        hint=_write_hint(method),
                    ) from None
                if attempt >= self.max_retries:
                    raise Bitrix24TransportError(
                        "",
                        f"{type(exc).__name__}: {scrub(exc)}",
                        method,
                        None,
                        hint=f"gave up after {attempt + 1} attempts",
                    ) from None
                attempt += 1
                self._backoff(attempt, method, type(exc).__name__)
                continue

            envelope = self._decode(resp, method, content)
            error = classify(envelope, resp.status_code, method)
            if error is None:
                self._note_operating(method, envelope.get("time") if isinstance(envelope, dict) else None)
                return envelope

            if isinstance(error, Bitrix24TokenExpired) and renewals < _MAX_RENEWALS:
                renewals += 1
                self.auth.renew(credential)  # raises with a hint when the strategy cannot renew
                continue
            if isinstance(error, Bitrix24TokenExpired):
                error.hint = error.hint or self.auth.expired_hint()
                raise error
            if isinstance(error, Bitrix24RateLimited) and attempt < self.max_retries:
                attempt += 1
                if self.bucket is not None:
                    self.bucket.penalize()
                self._backoff(attempt, method, error.code)
                continue
            if isinstance(error, Bitrix24OperationLimit):
                operation_waited = self._wait_for_operating_reset(error, method, operation_waited)
                continue
            # A 5xx, or a success status whose body did not arrive whole (truncated, not JSON):
            # the method may have run, so only a read is resent.
            if isinstance(error, Bitrix24ServerError) and (
                resp.status_code >= 500 or not isinstance(envelope, dict)
            ):
                if not is_read:
                    raise Bitrix24WriteMayHaveSucceeded(
                        error.code, error.description, method, resp.status_code, hint=_write_hint(method)
                    )
                if attempt < self.max_retries:
                    attempt += 1
                    self._backoff(attempt, method, error.code or str(resp.status_code))
                    continue
            raise error

    def _decode(self, resp: requests.Response, method: str, content: bytes | None = None) -> Any:
        """The reply's JSON, or its text when it is not JSON (``classify`` decides what that means)."""
        if resp.status_code in (301, 302, 303, 307, 308):
            location = resp.headers.get("Location", "")
            parts = urlsplit(location)
            new_portal = f"{parts.scheme}://{parts.netloc}" if parts.netloc else None
            err = Bitrix24PortalMoved(
                "PORTAL_MOVED",
                f"the portal redirects to {new_portal or 'an unknown address'}",
                method,
                resp.status_code,
                hint="Its address changed: update the connection host to the new address",
            )
            err.new_url = new_portal
            raise err
        content = resp.content if content is None else content
        if _decode_json_bytes is not None:
            with contextlib.suppress(ValueError):  # not UTF-8 JSON: the general path below decides
                return _decode_json_bytes(content)
        # What ``Response.json()`` does (a BOM or UTF-16/32 is detected), then the plain text.
        text = content.decode(
            requests.utils.guess_json_utf(content) or resp.encoding or "utf-8", errors="replace"
        )
        try:
            return json.loads(text)
        except ValueError:
            return text

    def _backoff(self, attempt: int, method: str, reason: str) -> None:
        delay = min(self.backoff_max, self.backoff_base * (2 ** (attempt - 1)))
        delay *= random.uniform(0.5, 1.0)  # jitter: parallel workers do not retry in lockstep
        log.warning("%s: %s, retry %d/%d in %.2f s", method, reason, attempt, self.max_retries, delay)
        self._sleep(delay)

    def _note_operating(self, method: str, time_block: Any) -> None:
        self.pacer.record(method, time_block)
        if isinstance(time_block, Mapping) and time_block.get("operating_reset_at") is not None:
            with contextlib.suppress(TypeError, ValueError):
                # Replies of parallel requests land out of order; the oldest basket's reset only
                # moves forward, so an earlier value is stale.
                key = method.lower()
                reset_at = float(time_block["operating_reset_at"])
                self._operating_reset[key] = max(reset_at, self._operating_reset.get(key, reset_at))

    def _wait_for_operating_reset(self, error: Bitrix24OperationLimit, method: str, waited: float) -> float:
        """Sleep until a call refused with ``OPERATION_TIME_LIMIT`` may be resent; return the
        call's total wait so far. Raises ``error`` once ``max_operation_wait`` is used up."""
        wait = self._operation_wait(error, method, waited)
        if wait is None:
            raise error
        log.warning("%s hit OPERATION_TIME_LIMIT; waiting %.1f s for the limit to reset", method, wait)
        self._sleep(wait)
        return waited + wait

    def _operation_wait(self, error: Bitrix24OperationLimit, method: str, waited: float) -> float | None:
        """Seconds to wait before resending a call refused with ``OPERATION_TIME_LIMIT``, or
        ``None`` once the call would wait more than ``max_operation_wait`` in all.

        As the limits page advises, the first wait runs to ``operating_reset_at`` (from the error,
        else from the method's last successful reply), when the oldest one-minute basket drops
        out. Refused again after that, later baskets still hold too much: the call retries every
        ``OPERATION_POLL`` seconds, as the next basket drops out within a minute.
        """
        reset_at = error.reset_at or self._operating_reset.get(method.lower())
        until = (reset_at - time.time()) if reset_at is not None else 0.0
        if until > 0:
            # The portal sends whole seconds: the basket really resets within one second after it.
            wait = until + 1.0 + random.uniform(0.0, 0.25)
        else:
            wait = OPERATION_POLL * random.uniform(0.8, 1.0)
        if waited + wait > self.max_operation_wait:
            error.hint = (
                f"waiting for the method's operating time to reset would take {waited + wait:.0f} s in all, "
                f"more than max_operation_wait={self.max_operation_wait:.0f} s; retry later or spread the calls"
            )
            return None
        return wait

    # ------------------------------------------------------------------ batch

    def batch(
        self,
        commands: Mapping[str, Any] | Iterable[Any],
        halt: bool = False,
    ) -> BatchResult:
        """Run commands through ``batch``, 50 per HTTP request.

        ``commands``: ``{key: (method, params)}`` or a list of ``(method, params)`` (keys are then
        ``"0"``, ``"1"``, ...). A command may also be a ready ``"method?query"`` string.
        ``$result[key][...]`` references resolve only within one chunk of 50. With ``halt`` the
        portal stops at the first failing command and no further chunk is sent; without it,
        ``batch_parallel`` chunks are in flight at once, so commands of different chunks may
        run in any order (use ``halt`` or ``batch_parallel=1`` where that order matters).
        """
        items = list(commands.items()) if isinstance(commands, Mapping) else list(enumerate(commands))
        encoded: list[tuple[str, str, str]] = []  # (key, method, command string)
        for key, command in items:
            method, cmd = _encode_batch_command(command)
            encoded.append((str(key), method, cmd))
        chunks = [encoded[start : start + BATCH_LIMIT] for start in range(0, len(encoded), BATCH_LIMIT)]
        for chunk in chunks:  # every chunk is checked before the first is sent
            _check_batch_chunk([(key, cmd) for key, _m, cmd in chunk])
        out = BatchResult()
        if halt or len(chunks) == 1 or self.batch_parallel == 1:
            for chunk in chunks:
                try:
                    self._batch_chunk(chunk, halt, out)
                except Bitrix24Error as exc:
                    exc.partial_result = out  # what earlier requests did, for the caller to report
                    raise
                if halt and out.errors:
                    break
            return out
        return self._batch_concurrently(chunks)

    def _batch_concurrently(self, chunks: list[list[tuple[str, str, str]]]) -> BatchResult:
        """Chunks without halt are independent: ``batch_parallel`` in flight (each still passes
        the rate limiter), merged in command order. After a failed request no further chunk is
        sent; the first failure in command order is raised once those in flight are done, with
        the results of the requests that succeeded as its ``partial_result``."""
        parts = [BatchResult() for _ in chunks]
        failed = threading.Event()

        def send(chunk: list[tuple[str, str, str]], part: BatchResult) -> None:
            if failed.is_set():
                raise _NotSent
            try:
                self._batch_chunk(chunk, False, part)
            except BaseException:
                failed.set()
                raise

        with ThreadPoolExecutor(
            max_workers=min(self.batch_parallel, len(chunks)), thread_name_prefix="bitrix24-batch"
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

    def _batch_chunk(self, chunk: list[tuple[str, str, str]], halt: bool, out: BatchResult) -> None:
        is_read = all(is_read_method(method) for _key, method, _cmd in chunk)
        with self.pacer.reserve_many(
            Counter(m for _k, m, _c in chunk)
        ):  # each method's commands wait for room
            envelope = self._send(
                "batch", {"halt": 1 if halt else 0, "cmd": {k: c for k, _m, c in chunk}}, is_read
            )
        body = envelope.get("result") or {}
        keys = [k for k, _m, _c in chunk]
        methods = {k: m for k, m, _c in chunk}
        results = _keyed(body.get("result"), keys)
        out.result.update(results)
        for key, raw in _keyed(body.get("result_error"), keys).items():
            err = classify(raw if isinstance(raw, dict) else {"error": raw}, None, methods.get(key))
            if err is not None:
                out.errors[key] = err
        out.total.update({k: _to_int(v) for k, v in _keyed(body.get("result_total"), keys).items()})
        out.next.update({k: _to_int(v) for k, v in _keyed(body.get("result_next"), keys).items()})
        times = _keyed(body.get("result_time"), keys)
        out.time.update(times)
        for key, block in times.items():
            if key in methods:
                self._note_operating(methods[key], block)

    # ------------------------------------------------------------------ pagination

    def paginate(
        self, method: str, params: Mapping[str, Any] | None = None, *, limit: int | None = None
    ) -> Iterator[dict]:
        """Yield every record of a list method, each exactly once.

        Methods whose paging table entry allows it use a chained batch: 50 list commands per
        request, command k filtering ``>ID`` by the last ID of command k-1 (``$result[...]``),
        ``start=-1`` so the portal counts nothing: 2,500 records per HTTP request. Other
        methods page with ``start``/``next``.

        A whole export (no ``limit``, no ID condition in the filter) is cut into ID windows read
        by several chained batches at once (all of them while they fit in the rate limiter's
        burst, see :meth:`_windows_in_flight`); records still arrive in ascending ID order and
        memory holds at most the windows in flight (see :meth:`_paginate_windows`).
        """
        method = _check_method(method)
        if limit is not None and limit <= 0:
            return
        params = dict(params or {})
        spec = paging_spec(method)
        progress = _Progress(method, self.progress_interval)
        if spec.id_cursor and _cursor_compatible(params, spec):
            if limit is None and self.paginate_parallel != 1 and not _has_id_condition(params, spec):
                pages = self._paginate_windows(method, params, spec, progress)
            else:
                pages = self._paginate_id_cursor(method, params, spec, limit, progress)
        else:
            pages = self._paginate_start(method, params, spec, progress)
        emitted = 0
        try:
            for page in pages:
                for record in page:
                    yield record
                    emitted += 1
                    if limit is not None and emitted >= limit:
                        return
        finally:
            progress.done(emitted)

    def _paginate_start(
        self, method: str, params: dict, spec: PagingSpec, progress: _Progress
    ) -> Iterator[list]:
        start = params.pop("start", 0) or 0
        while True:
            before = self.requests_sent
            envelope = self.call_raw(method, {**params, "start": start})
            records = _records(envelope.get("result"), spec, method)
            progress.page(len(records), self.requests_sent - before)
            yield records
            nxt = _to_int(envelope.get("next"))
            if nxt is None or nxt <= _to_int(start) or not records:
                return
            start = nxt

    def _paginate_id_cursor(
        self, method: str, params: dict, spec: PagingSpec, limit: int | None, progress: _Progress
    ) -> Iterator[list]:
        filter_key = f">{spec.filter_id}"
        user_filter = dict(params.get(spec.filter_param) or {})
        cursor = _to_int(_pop_ci(user_filter, filter_key)) or 0
        base = _list_base(params, spec)
        path = f"[{spec.result_key}]" if spec.result_key else ""
        fetched = 0
        # The first request probes with one page: small results (the common case for filtered
        # lists) then cost one query instead of a chain of 50 whose tail the portal still runs.
        chain = 1
        while True:
            wanted = chain if limit is None else max(1, min(chain, -(-(limit - fetched) // PAGE_SIZE)))
            chain = BATCH_LIMIT
            commands = {}
            for k in range(wanted):
                ref = cursor if k == 0 else f"$result[p{k - 1}]{path}[{PAGE_SIZE - 1}][{spec.record_id}]"
                commands[f"p{k}"] = (
                    method,
                    {
                        **base,
                        spec.filter_param: {**user_filter, filter_key: ref},
                        spec.order_param: {spec.filter_id: "ASC"},
                        "start": -1,
                    },
                )
            result, sends = self._batch_waiting(method, commands, keep_partial=True)
            progress.page(0, sends)
            chain_complete = True
            for k in range(wanted):
                key = f"p{k}"
                if key not in result.result:
                    chain_complete = False  # stopped by an operation-limit wait: resume from the cursor
                    break
                records = _records(result.result[key], spec, method)
                # Keep only records past the cursor: once a page is short, later commands'
                # references resolve to nothing, the portal drops that filter and they restart
                # from the first record. Everything after the first short page is discarded.
                fresh = [r for r in records if (_to_int(r.get(spec.record_id)) or 0) > cursor]
                if len(fresh) != len(records):
                    chain_complete = False
                if fresh:
                    cursor = max(_to_int(r.get(spec.record_id)) or 0 for r in fresh)
                    fetched += len(fresh)
                    progress.page(len(fresh), 0)
                    yield fresh
                if len(records) < PAGE_SIZE or not chain_complete:
                    if len(records) < PAGE_SIZE and chain_complete:
                        return  # a short page: the list is exhausted
                    break
            if limit is not None and fetched >= limit:
                return

    def _paginate_windows(
        self, method: str, params: dict, spec: PagingSpec, progress: _Progress
    ) -> Iterator[list]:
        """A whole export as ID windows read concurrently, yielded in ID order.

        One chain of chained batches is the fewest requests, but each waits for the previous
        one's last ID, so below the bucket's rate the portal idles between them. Here:

        1. one probe request (a batch of two commands): the first page in ID order, kept as
           data, and the largest matching ID (``order DESC``, ``select ID``); no COUNT;
        2. the IDs after the first page are cut into windows expected to hold 2,500 records
           (from the density seen so far); each is one chained batch bounded by ``>=a``/``<=b``
           and sized to the window, so a dense window is exactly one request and no command
           runs past its end; a window holding more continues with another batch;
        3. ``paginate_parallel`` windows are in flight (see :meth:`_windows_in_flight`); they
           are yielded in order;
        4. the last window has no upper bound and runs until a short page, so records added
           before it is requested are included; records added while the export runs may or
           may not be (every record that existed at the start is yielded exactly once).

        Dense IDs cost ``ceil((N - 50) / 2500) + 1`` requests, one more when the last window
        is exactly full.
        """
        fid, rid = spec.filter_id, spec.record_id
        user_filter = dict(params.get(spec.filter_param) or {})
        base = _list_base(params, spec)
        # The windows will need connections of their own: open some while the probe is out.
        warmer = ConnectionWarmer(self.session, self._url("batch"), self._most_windows() - 1)
        try:
            probe, sends = self._batch_waiting(
                method,
                {
                    "head": (
                        method,
                        {**base, spec.filter_param: user_filter, spec.order_param: {fid: "ASC"}, "start": -1},
                    ),
                    "last": (
                        method,
                        {
                            **base,
                            "select": [rid],
                            spec.filter_param: user_filter,
                            spec.order_param: {fid: "DESC"},
                            "start": -1,
                        },
                    ),
                },
            )
        finally:
            warmer.finish()
        head = _records(probe.result.get("head"), spec, method)
        last = _records(probe.result.get("last"), spec, method)
        progress.page(len(head), sends)
        yield head
        if len(head) < PAGE_SIZE:
            return
        first_id, cursor = _to_int(head[0].get(rid)) or 0, _to_int(head[-1].get(rid)) or 0
        hi = max(cursor, (_to_int(last[0].get(rid)) or 0) if last else 0)
        density = min(1.0, PAGE_SIZE / max(1, cursor - first_id + 1))
        parallel, target, wave = self._windows_in_flight((hi - cursor) * density, head)
        sizes = deque(wave)
        pending: deque = deque()
        next_a = cursor + 1
        pool = ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="bitrix24-paginate")
        try:

            def submit() -> bool:
                nonlocal next_a
                if next_a is None:
                    return False
                rows = sizes.popleft() if sizes else target
                b: int | None = next_a + max(PAGE_SIZE, int(rows / density)) - 1
                if b >= hi:
                    b = None  # the last window has no upper bound: it also reads records added since
                window = (method, base, user_filter, spec, next_a, b, hi)
                pending.append((pool.submit(self._read_window, *window), next_a, b))
                next_a = None if b is None else b + 1
                return True

            while len(pending) < parallel and submit():
                pass
            while pending:
                future, a, b = pending.popleft()
                records, requests_made = future.result()
                if b is not None:  # the density seen so far sizes the next windows
                    density = min(1.0, max(len(records), 1) / (b - a + 1))
                submit()
                progress.page(len(records), requests_made)
                yield records
        finally:
            for future, _a, _b in pending:
                future.cancel()
            pool.shutdown(wait=True)

    def _most_windows(self) -> int:
        """The most windows one export keeps in flight: ``paginate_parallel``, else the burst."""
        if self.paginate_parallel is not None:
            return self.paginate_parallel
        return min(MAX_PAGINATE_PARALLEL, self._burst())

    def _burst(self) -> int:
        return int(self.bucket.capacity) if self.bucket is not None else DEFAULT_BURST

    def _windows_in_flight(self, remaining: float, head: list[dict]) -> tuple[int, int, list[int]]:
        """How many windows to keep in flight, the records per window, and the sizes of the
        first windows when they all go in one wave, for an export expected to hold
        ``remaining`` more records like those of ``head``."""
        full = BATCH_LIMIT * PAGE_SIZE
        parallel = self.paginate_parallel
        if parallel is None:
            burst = self._burst()
            windows = math.ceil(remaining / full)
            parallel = min(MAX_PAGINATE_PARALLEL, burst, windows + 1) if windows <= burst else STEADY_PARALLEL
        target = _window_rows(remaining, parallel)
        row_bytes = max((_approx_size(r) for r in head), default=0) or 1
        affordable = max(1, int(self.paginate_buffer_mb * 2**20 // (row_bytes * target)))
        if affordable < parallel:
            log.debug(
                "paginate: %d windows in flight fit in paginate_buffer_mb, not %d", affordable, parallel
            )
            parallel = affordable
            target = _window_rows(remaining, parallel)
        windows = math.ceil(remaining / target)
        return parallel, target, _staggered(remaining, windows) if windows <= parallel else []

    def _read_window(
        self, method: str, base: dict, user_filter: dict, spec: PagingSpec, a: int, b: int | None, hi: int
    ) -> tuple[list[dict], int]:
        """Every record with ``a <= ID <= b`` (no upper bound when ``b`` is None) in ID order,
        and the HTTP requests it took. ``hi`` (the probed maximum) sizes the unbounded window so
        that its last command comes back short and no further request is needed to see the end."""
        fid, rid = spec.filter_id, spec.record_id
        path = f"[{spec.result_key}]" if spec.result_key else ""
        # Commands differ only in their ID bounds: the rest, the caller's filter included, is
        # encoded once per window (PHP merges filter[...] pairs wherever they stand).
        shared = encode_command(
            method, {**base, spec.filter_param: user_filter, spec.order_param: {fid: "ASC"}, "start": -1}
        )
        records: list[dict] = []
        after, requests_made = a - 1, 0
        while True:
            if b is None:
                pages = min(BATCH_LIMIT, max(0, hi - after) // PAGE_SIZE + 1)
            else:
                pages = max(1, min(BATCH_LIMIT, math.ceil((b - after) / PAGE_SIZE)))
            commands = {}
            for k in range(pages):
                bounds: dict[str, Any] = {f">={fid}": after + 1}
                if b is not None:
                    bounds[f"<={fid}"] = b
                if k:
                    bounds[f">{fid}"] = f"$result[p{k - 1}]{path}[{PAGE_SIZE - 1}][{rid}]"
                commands[f"p{k}"] = f"{shared}&{encode_params({spec.filter_param: bounds})}"
            result, sends = self._batch_waiting(method, commands, keep_partial=True)
            requests_made += sends
            for k in range(pages):
                if f"p{k}" not in result.result:
                    break  # stopped by an operation-limit wait: resend from ``after``
                page = _records(result.result[f"p{k}"], spec, method)
                if page and (_to_int(page[0].get(rid)) or 0) <= after:
                    # A command whose >ID reference did not resolve restarts at >=after+1 and
                    # would repeat records; that only follows a short page, i.e. the window end.
                    return records, requests_made
                records.extend(page)
                if page:
                    after = _to_int(page[-1].get(rid)) or after
                if len(page) < PAGE_SIZE:
                    return records, requests_made
            else:
                if b is not None and after >= b:
                    return records, requests_made

    def _batch_waiting(
        self, method: str, commands: dict, keep_partial: bool = False
    ) -> tuple[BatchResult, int]:
        """``batch`` with ``halt``, waiting out ``OPERATION_TIME_LIMIT`` on ``method``'s commands;
        returns the result and how many batch requests it took.

        With ``keep_partial`` a batch stopped by the limit is returned as far as it got (the
        caller resends the rest); otherwise the whole batch is resent after the wait. Each
        request first waits for room under the method's operating time (see :meth:`_batch_chunk`).
        """
        sends, waited = 0, 0.0
        while True:
            result = self.batch(commands, halt=True)
            sends += 1
            errors = list(result.errors.values())
            if not errors:
                return result, sends
            error = errors[0]
            if not isinstance(error, Bitrix24OperationLimit):
                raise error
            waited = self._wait_for_operating_reset(error, method, waited)
            if keep_partial and result.result:
                result.errors.clear()
                return result, sends


# ---------------------------------------------------------------------- helpers


class _Progress:
    """Logs rows and rate of a long pagination every ``interval`` seconds and once at the end."""

    def __init__(self, method: str, interval: float) -> None:
        self.method = method
        self.interval = interval
        self.started = self.last_log = time.monotonic()
        self.rows = 0
        self.requests = 0

    def page(self, rows: int, requests_made: int) -> None:
        self.rows += rows
        self.requests += requests_made
        now = time.monotonic()
        if now - self.last_log >= self.interval:
            self.last_log = now
            self._log("progress", now)

    def done(self, emitted: int) -> None:
        now = time.monotonic()
        if now - self.started >= self.interval or self.requests > 1:
            self._log("done", now, emitted)

    def _log(self, stage: str, now: float, rows: int | None = None) -> None:
        elapsed = max(now - self.started, 1e-9)
        count = self.rows if rows is None else rows
        log.info(
            "paginate %s %s: %d rows in %.1f s (%.0f rows/s), %d HTTP requests",
            self.method,
            stage,
            count,
            elapsed,
            count / elapsed,
            self.requests,
        )


def _check_method(method: str) -> str:
    name = (method or "").strip().strip("/")
    if not name or any(c in name for c in "/?# "):
        raise Bitrix24ConfigError(description=f"invalid method name: {method!r}")
    return name


def _encode_batch_command(command: Any) -> tuple[str, str]:
    if isinstance(command, str):
        return command.split("?", 1)[0], command
    if isinstance(command, Mapping):
        method, params = command.get("method"), command.get("params")
    else:
        try:
            method, params = command
        except (TypeError, ValueError):
            raise Bitrix24ConfigError(
                description=f"batch command must be (method, params) or 'method?query', got {type(command).__name__}"
            ) from None
    method = _check_method(method)
    if method.lower() == "batch":
        raise Bitrix24ConfigError(description="batch cannot be nested inside batch")
    return method, encode_command(method, params)


_REFERENCE = re.compile(r"\$result(?:_next|_total|_error|_time)?\[([^\[\]]*)\]")
_ESCAPED_REFERENCE = re.compile(r"%(?:24|5B|5D)", re.IGNORECASE)


def _check_batch_chunk(commands: list[tuple[Any, Any]]) -> None:
    """Refuse, before sending, one batch request the portal would reject or mis-resolve: more
    than 50 commands, or a ``$result[key]`` naming no earlier command of the same request (the
    portal silently substitutes an empty value, so the command would run with a blank parameter)."""
    if len(commands) > BATCH_LIMIT:
        raise Bitrix24ConfigError(
            description=f"one batch request takes at most {BATCH_LIMIT} commands, got {len(commands)}",
            method="batch",
            hint="use Bitrix24Client.batch() / Bitrix24Hook.batch() (or Bitrix24BatchOperator), which send 50 per request",
        )
    earlier: set[str] = set()
    for key, command in commands:
        text = str(command)
        if _ESCAPED_REFERENCE.search(text):  # a reference written percent-encoded
            text = unquote(text)
        for ref in _REFERENCE.findall(text):
            if ref not in earlier:
                raise Bitrix24ConfigError(
                    description=(
                        f"batch command {str(key)!r} refers to $result[{ref}], but no earlier command in the same "
                        f"request has the key {ref!r}"
                    ),
                    method="batch",
                    hint=f"references reach only earlier commands of the same request of up to {BATCH_LIMIT}",
                )
        earlier.add(str(key))


def _keyed(value: Any, keys: list[str]) -> dict[str, Any]:
    """A batch sub-result as ``{key: value}``; PHP sends an array with keys 0..n-1 as a JSON list."""
    if isinstance(value, dict):
        return {str(k): v for k, v in value.items()}
    if isinstance(value, list):
        return {str(i): v for i, v in enumerate(value)}
    return {}


def _records(result: Any, spec: PagingSpec, method: str) -> list[dict]:
    """The records of one list page, whatever wrapper the method uses."""
    if result is None:
        return []
    if isinstance(result, list):
        return result
    if isinstance(result, dict):
        if spec.result_key and spec.result_key in result:
            return list(result[spec.result_key] or [])
        lists = [v for v in result.values() if isinstance(v, list)]
        if len(result) == 1 and len(lists) == 1:
            return lists[0]
        if (
            result
            and all(str(k).isdigit() for k in result)
            and all(isinstance(v, dict) for v in result.values())
        ):
            return list(result.values())  # records keyed by ID
        if not result:
            return []
    raise Bitrix24NotSupported(
        "",
        f"cannot find the records in the result (type {type(result).__name__})",
        method,
        None,
        hint="use call_raw() for this method",
    )


def _list_base(params: Mapping[str, Any], spec: PagingSpec) -> dict:
    """List parameters minus what ID paging owns; ``select`` gains the ID when it lacks it."""
    base = {k: v for k, v in params.items() if k not in (spec.filter_param, spec.order_param, "start")}
    select = base.get("select")
    if (
        isinstance(select, list)
        and select
        and "*" not in select
        and not any(str(s).lower() == spec.record_id.lower() for s in select)
    ):
        base["select"] = [*select, spec.record_id]
    return base


def _window_rows(remaining: float, parallel: int) -> int:
    """Records per window for an export expected to hold ``remaining`` more records.

    The fewest windows of one full chained batch (2,500 records) each, plus one more when that
    adds no round of ``parallel`` requests: the request budget allows it, and smaller windows
    come back sooner (at 10,000 records, five windows of 2,000 instead of four of 2,500)."""
    full = BATCH_LIMIT * PAGE_SIZE
    windows = max(1, math.ceil(remaining / full))
    if math.ceil((windows + 1) / parallel) == math.ceil(windows / parallel):
        windows += 1
    return max(PAGE_SIZE, min(full, math.ceil(remaining / windows)))


def _staggered(remaining: float, windows: int) -> list[int]:
    """Records per window for ``windows`` windows sent at once: each is smaller than the next
    by ``WAVE_STAGGER`` of a full batch, none holds a full batch, together they hold ``remaining``.

    Equal windows come back together, and the caller then decodes and uses all of them after
    the last byte. Staggered, each lands a few milliseconds after the previous one (about what
    one takes to decode and use), so that work overlaps the wait for the later windows. The
    room comes from the request budget's spare: the last windows grow towards a full batch.
    A window stays one record short of it so that the last (unbounded) window ends on a short
    page and needs no further request to see the end."""
    cap, step = BATCH_LIMIT * PAGE_SIZE - 1, BATCH_LIMIT * PAGE_SIZE * WAVE_STAGGER

    def sizes(top: float) -> list[float]:
        return [max(PAGE_SIZE, min(cap, top - step * (windows - 1 - i))) for i in range(windows)]

    low, high = 0.0, cap + step * windows
    for _ in range(40):  # bisect for the largest window that makes the sizes add up
        middle = (low + high) / 2
        low, high = (middle, high) if sum(sizes(middle)) < remaining else (low, middle)
    return [math.ceil(rows) for rows in sizes(high)]


def _approx_size(value: Any) -> int:
    """Bytes a decoded JSON value holds; dict keys are left out (a decoder shares them)."""
    size = sys.getsizeof(value)
    if isinstance(value, dict):
        return size + sum(_approx_size(v) for v in value.values())
    if isinstance(value, list):
        return size + sum(_approx_size(v) for v in value)
    return size


def _has_id_condition(params: Mapping[str, Any], spec: PagingSpec) -> bool:
    """Whether the caller's filter already constrains the ID (then ID windows would clash)."""
    user_filter = params.get(spec.filter_param) or {}
    if not isinstance(user_filter, Mapping):
        return True
    return any(str(key).lstrip("!@<>=%").lower() == spec.filter_id.lower() for key in user_filter)


def _cursor_compatible(params: Mapping[str, Any], spec: PagingSpec) -> bool:
    """The ID cursor needs ascending ID order and must own ``start``."""
    if "start" in params:
        return False
    order = params.get(spec.order_param)
    if not order:
        return True
    if isinstance(order, Mapping) and len(order) == 1:
        ((field_name, direction),) = order.items()
        return str(field_name).lower() == spec.filter_id.lower() and str(direction).upper() == "ASC"
    return False


def _pop_ci(mapping: dict, key: str) -> Any:
    for existing in list(mapping):
        if str(existing).lower() == key.lower():
            return mapping.pop(existing)
    return None


def _to_int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


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


def _write_hint(method: str) -> str:
    return (
        f"The request may have been applied by the portal, so it was not resent. Check whether {method} "
        "took effect (e.g. with the matching .get/.list method) before running it again"
    )
