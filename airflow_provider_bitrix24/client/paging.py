"""Pagination of list methods: chained ``>ID`` batches, concurrent ID windows, ``start``/``next``.

Functions over a :class:`~.client.Bitrix24Client`: every request still goes through its
``batch`` / ``call_raw`` (one transport, one retry and limit policy); this module only plans
which pages to ask for and reads the records out of the replies.
"""

from __future__ import annotations

import logging
import math
import sys
import time
from collections import deque
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from .encoding import BATCH_LIMIT, _check_method, batch_hazard, encode_command, encode_params, result_ref
from .errors import Bitrix24ConfigError, Bitrix24Error, Bitrix24NotSupported, Bitrix24OperationLimit
from .methods import PagingSpec, paging_spec
from .ratelimit import DEFAULT_BURST

if TYPE_CHECKING:
    from .client import BatchResult, Bitrix24Client

log = logging.getLogger(__name__)

PAGE_SIZE = 50  # records per list page (portal limit)
# More windows in flight than the cloud plan's burst would only queue in the client's bucket.
MAX_PAGINATE_PARALLEL = 50
# Windows in flight, by default, once an export outgrows the burst: the bucket then admits
# 2 requests/s, and 8 in flight keep it busy while each takes up to 4 s on the portal.
STEADY_PARALLEL = 8
DEFAULT_PAGINATE_BUFFER_MB = 128.0


class Bitrix24PagingError(Bitrix24Error):
    """A list came back in a way paging cannot trust: a page repeats records already read, or the
    cursor (``>ID`` or ``start``) did not advance. Raised instead of looping or returning a short
    result; the message names the method and the cursor."""


def paginate(
    client: Bitrix24Client, method: str, params: Mapping[str, Any] | None = None, *, limit: int | None = None
) -> Iterator[dict]:
    """Yield every record of a list method, each exactly once.

    Methods whose paging table entry allows it use a chained batch: 50 list commands per
    request, command k filtering ``>ID`` by the last ID of command k-1 (``$result[...]``),
    ``start=-1`` so the portal counts nothing: 2,500 records per HTTP request. Other
    methods page with ``start``/``next``.

    A whole export (no ``limit``, no ID condition in the filter) is cut into ID windows read
    by several chained batches at once (all of them while they fit in the rate limiter's
    burst, see :func:`_windows_in_flight`); records still arrive in ascending ID order and
    memory holds at most the windows in flight (see :func:`_paginate_windows`).

    The top-level ``filter``/``order``/``select``/``start`` keys are read in any case
    (``FILTER`` as the docs write it) and sent in one spelling. An order other than ``ID ASC``,
    a caller's ``start``, or data the portal would not read as written inside batch (see
    :func:`~.encoding.batch_command`) pages with plain calls and ``start``/``next`` instead.
    Every page is checked: one that repeats records or a cursor that does not advance raises
    :class:`Bitrix24PagingError` at once, never a loop or a short result.
    """
    method = _check_method(method)
    if limit is not None and limit <= 0:
        return
    spec = paging_spec(method)
    params = _normalised(method, params or {}, spec)
    progress = _Progress(method, client.progress_interval)
    hazard = batch_hazard(params, method)
    if hazard is not None:
        log.debug("paginate %s with plain calls: %s", method, hazard)
    if spec.id_cursor and hazard is None and _cursor_compatible(params, spec):
        if limit is None and client.paginate_parallel != 1 and not _has_id_condition(params, spec):
            pages = _paginate_windows(client, method, params, spec, progress)
        else:
            pages = _paginate_id_cursor(client, method, params, spec, limit, progress)
    else:
        pages = _paginate_start(client, method, params, spec, progress)
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


def _normalised(method: str, params: Mapping[str, Any], spec: PagingSpec) -> dict:
    """``params`` with the keys paging writes in one spelling, so that its own never stand
    beside the caller's: ``start`` (its documented name) always, and for the methods paged by
    ID, whose lists read them in any case, ``filter``/``order``/``select`` too; other keys
    pass as given. One key given in two spellings is refused (the portal would not merge them)."""
    names = (spec.filter_param, spec.order_param, "select", "start") if spec.id_cursor else ("start",)
    canonical = {name.lower(): name for name in names}
    out: dict = {}
    given: dict[str, Any] = {}
    for key, value in params.items():
        name = canonical.get(str(key).lower(), key)
        if name in out:
            raise Bitrix24ConfigError(
                description=f"parameter {name!r} is given twice, as {given[name]!r} and {key!r}",
                method=method,
                hint="give each of filter, order, select and start once, in any case",
            )
        out[name], given[name] = value, key
    return out


def _with_id_tiebreak(order: Any, spec: PagingSpec) -> Any:
    """The caller's order, then ID: offset pages of rows that tie on the caller's fields are
    otherwise in no fixed order, and a row could be read twice while another is never read."""
    if not order:
        return {spec.filter_id: "ASC"}
    if isinstance(order, Mapping) and not any(str(k).lower() == spec.filter_id.lower() for k in order):
        return {**order, spec.filter_id: "ASC"}
    return order


def _paginate_start(
    client: Bitrix24Client, method: str, params: dict, spec: PagingSpec, progress: _Progress
) -> Iterator[list]:
    start = _to_int(params.pop("start", 0)) or 0
    if spec.id_cursor:
        params[spec.order_param] = _with_id_tiebreak(params.get(spec.order_param), spec)
    seen: set[Any] = set()
    while True:
        before = client.requests_sent
        envelope = client.call_raw(method, {**params, "start": start})
        records = _records(envelope.get("result"), spec, method)
        ids = [r.get(spec.record_id) for r in records if isinstance(r, dict)]
        repeated = next((i for i in ids if i is not None and i in seen), None)
        if repeated is not None:
            raise _paging_error(
                method,
                f"the page at start={start} repeats {spec.record_id} {repeated}, already read",
                "start",
            )
        seen.update(i for i in ids if i is not None)
        progress.page(len(records), client.requests_sent - before)
        yield records
        nxt = _to_int(envelope.get("next"))
        if nxt is None:
            return
        if nxt <= start or not records:
            raise _paging_error(
                method, f"next={nxt} after a page of {len(records)} records at start={start}", "start"
            )
        start = nxt


def _paging_error(method: str, what: str, cursor: str) -> Bitrix24PagingError:
    return Bitrix24PagingError(
        "PAGING_CURSOR_STUCK",
        f"the {cursor} cursor did not advance: {what}; paging stopped rather than repeat or skip records",
        method,
        hint="the portal ignored the cursor, or the list changed under it; read the list again",
    )


def _check_page(records: list, after: int, spec: PagingSpec, method: str, upper: int | None = None) -> None:
    """Records of one page read with ``>ID after`` (and ``<=ID upper``) in ID order must lie
    in that range, ascending: otherwise the portal ignored the cursor or the order."""
    try:
        ids = [int(r[spec.record_id]) for r in records]
    except (KeyError, TypeError, ValueError):
        raise Bitrix24NotSupported(
            "",
            f"a page read by {spec.filter_id} has a record without a numeric {spec.record_id}",
            method,
            None,
            hint="use call_raw() for this method",
        ) from None
    if not ids:
        return
    previous = after
    for value in ids:
        if value <= previous:
            raise _paging_error(
                method,
                f"after {spec.filter_param}[>{spec.filter_id}]={after} the page returned "
                f"{spec.record_id} {value} (following {previous})",
                spec.filter_id,
            )
        previous = value
    if upper is not None and previous > upper:
        raise _paging_error(
            method, f"a page bounded by {spec.filter_id} <= {upper} returned {previous}", spec.filter_id
        )


def _paginate_id_cursor(
    client: Bitrix24Client,
    method: str,
    params: dict,
    spec: PagingSpec,
    limit: int | None,
    progress: _Progress,
) -> Iterator[list]:
    filter_key = f">{spec.filter_id}"
    user_filter = dict(params.get(spec.filter_param) or {})
    cursor = _to_int(_pop_ci(user_filter, filter_key)) or 0
    base = _list_base(params, spec)
    path = (spec.result_key,) if spec.result_key else ()
    fetched = 0
    # The first request probes with one page: small results (the common case for filtered
    # lists) then cost one query instead of a chain of 50 whose tail the portal still runs.
    chain = 1
    while True:
        wanted = chain if limit is None else max(1, min(chain, -(-(limit - fetched) // PAGE_SIZE)))
        chain = BATCH_LIMIT
        commands = {}
        for k in range(wanted):
            ref = cursor if k == 0 else result_ref(f"p{k - 1}", *path, PAGE_SIZE - 1, spec.record_id)
            commands[f"p{k}"] = (
                method,
                {
                    **base,
                    spec.filter_param: {**user_filter, filter_key: ref},
                    spec.order_param: {spec.filter_id: "ASC"},
                    "start": -1,
                },
            )
        result, sends = _batch_waiting(client, method, commands, keep_partial=True)
        progress.page(0, sends)
        for k in range(wanted):
            key = f"p{k}"
            if key not in result.result:
                break  # stopped by an operation-limit wait: resume from the cursor
            records = _records(result.result[key], spec, method)
            # Only pages that follow full ones are read (after a short page the list has ended
            # and later references resolve to nothing), so every record must pass the cursor.
            _check_page(records, cursor, spec, method)
            if records:
                cursor = int(records[-1][spec.record_id])
                fetched += len(records)
                progress.page(len(records), 0)
                yield records
            if len(records) < PAGE_SIZE:
                return  # a short page: the list is exhausted
        if limit is not None and fetched >= limit:
            return


def _paginate_windows(
    client: Bitrix24Client, method: str, params: dict, spec: PagingSpec, progress: _Progress
) -> Iterator[list]:
    """A whole export as ID windows read concurrently, yielded in ID order.

    One chain of chained batches is the fewest requests, but each waits for the previous
    one's last ID, so below the bucket's rate the portal idles between them. Here:

    1. one probe request (a batch of three commands): the first two pages in ID order, kept
       as data, and the largest matching ID (``order DESC``, ``select ID``); no COUNT. The
       second page also proves the portal applies the ``>ID`` cursor before any window goes;
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
    last_of_head = result_ref("head", *((spec.result_key,) if spec.result_key else ()), PAGE_SIZE - 1, rid)
    probe, sends = _batch_waiting(
        client,
        method,
        {
            "head": (
                method,
                {**base, spec.filter_param: user_filter, spec.order_param: {fid: "ASC"}, "start": -1},
            ),
            "second": (
                method,
                {
                    **base,
                    spec.filter_param: {**user_filter, f">{fid}": last_of_head},
                    spec.order_param: {fid: "ASC"},
                    "start": -1,
                },
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
    head = _records(probe.result.get("head"), spec, method)
    _check_page(head, 0, spec, method)
    if len(head) == PAGE_SIZE:  # else the second page's reference resolved to nothing: unread
        second = _records(probe.result.get("second"), spec, method)
        _check_page(second, int(head[-1][rid]), spec, method)
        head = head + second
    last = _records(probe.result.get("last"), spec, method)
    progress.page(len(head), sends)
    yield head
    if len(head) < 2 * PAGE_SIZE:
        return
    first_id, cursor = int(head[0][rid]), int(head[-1][rid])
    hi = max(cursor, (_to_int(last[0].get(rid)) or 0) if last else 0)
    density = min(1.0, len(head) / max(1, cursor - first_id + 1))
    parallel, target = _windows_in_flight(client, (hi - cursor) * density, head)
    pending: deque = deque()
    next_a: int | None = cursor + 1
    pool = ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="bitrix24-paginate")
    try:

        def submit() -> bool:
            nonlocal next_a
            if next_a is None:
                return False
            end = next_a + max(PAGE_SIZE, int(target / density)) - 1
            # The last window has no upper bound: it also reads records added since.
            b = None if end >= hi else end
            window = (method, base, user_filter, spec, next_a, b, hi)
            pending.append((pool.submit(_read_window, client, *window), next_a, b))
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


def _burst(client: Bitrix24Client) -> int:
    return int(client.bucket.capacity) if client.bucket is not None else DEFAULT_BURST


def _windows_in_flight(client: Bitrix24Client, remaining: float, head: list[dict]) -> tuple[int, int]:
    """How many windows to keep in flight and the records per window, for an export expected
    to hold ``remaining`` more records like those of ``head``: every window at once while they
    all fit in the burst (the portal admits them at once), else ``STEADY_PARALLEL``."""
    target = _window_rows(remaining)
    parallel = client.paginate_parallel
    if parallel is None:
        burst = _burst(client)
        windows = math.ceil(remaining / target)
        parallel = min(MAX_PAGINATE_PARALLEL, burst, windows) if windows <= burst else STEADY_PARALLEL
    row_bytes = max((_approx_size(r) for r in head), default=0) or 1
    affordable = max(1, int(client.paginate_buffer_mb * 2**20 // (row_bytes * target)))
    if affordable < parallel:
        log.debug("paginate: %d windows in flight fit in paginate_buffer_mb, not %d", affordable, parallel)
        parallel = affordable
    return parallel, target


def _read_window(
    client: Bitrix24Client,
    method: str,
    base: dict,
    user_filter: dict,
    spec: PagingSpec,
    a: int,
    b: int | None,
    hi: int,
) -> tuple[list[dict], int]:
    """Every record with ``a <= ID <= b`` (no upper bound when ``b`` is None) in ID order,
    and the HTTP requests it took. ``hi`` (the probed maximum) sizes the unbounded window so
    that its last command comes back short and no further request is needed to see the end."""
    fid, rid = spec.filter_id, spec.record_id
    path = (spec.result_key,) if spec.result_key else ()
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
                bounds[f">{fid}"] = result_ref(f"p{k - 1}", *path, PAGE_SIZE - 1, rid)
            commands[f"p{k}"] = f"{shared}&{encode_params({spec.filter_param: bounds})}"
        result, sends = _batch_waiting(client, method, commands, keep_partial=True)
        requests_made += sends
        for k in range(pages):
            if f"p{k}" not in result.result:
                break  # stopped by an operation-limit wait: resend from ``after``
            page = _records(result.result[f"p{k}"], spec, method)
            # Only pages that follow full ones are read, so each reference resolved: a record
            # at or below ``after`` or past ``b`` means the portal ignored the bounds.
            _check_page(page, after, spec, method, b)
            records.extend(page)
            if page:
                after = int(page[-1][rid])
            if len(page) < PAGE_SIZE:
                return records, requests_made
        else:
            if b is not None and after >= b:
                return records, requests_made


def _batch_waiting(
    client: Bitrix24Client, method: str, commands: dict, keep_partial: bool = False
) -> tuple[BatchResult, int]:
    """``batch`` with ``halt``, waiting out ``OPERATION_TIME_LIMIT`` on ``method``'s commands;
    returns the result and how many batch requests it took.

    With ``keep_partial`` a batch stopped by the limit is returned as far as it got (the
    caller resends the rest); otherwise the whole batch is resent after the wait. Each
    request first waits for room under the method's operating time (see :meth:`_batch_chunk`).
    """
    sends, waited = 0, 0.0
    while True:
        result = client.batch(commands, halt=True)
        sends += 1
        errors = list(result.errors.values())
        if not errors:
            return result, sends
        error = errors[0]
        if not isinstance(error, Bitrix24OperationLimit):
            raise error
        waited = client._wait_for_operating_reset(error, method, waited)
        if keep_partial and result.result:
            result.errors.clear()
            return result, sends


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


def page_records(method: str, result: Any) -> list[dict]:
    """The records of one page of ``method``'s ``result``, whatever wrapper the method uses."""
    return _records(result, paging_spec(method), method)


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


def _window_rows(remaining: float) -> int:
    """Records per window for an export expected to hold ``remaining`` more records: the fewest
    windows of at most one chained batch (2,500 records) each, with room for one record more,
    so that the last window ends on a short page and needs no request to see the end."""
    full = BATCH_LIMIT * PAGE_SIZE
    windows = max(1, math.floor(remaining / full) + 1)
    return max(PAGE_SIZE, min(full, math.ceil(remaining / windows)))


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
