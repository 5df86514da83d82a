"""Prototype (benchmark-side) of the proposed parallel pagination: ID windows read concurrently.

A chained batch (50 pages linked by ``$result[...]``) is the fewest requests per row, but chain
after chain is strictly sequential: each request waits for the previous one's last ID. Below the
bucket's limit (2 requests/s) that leaves the portal idle between requests; the limits allow
overlapping requests, so the remaining time is latency we can hide.

1. One probe request (a batch of two commands): the first page in ID order (kept as data) and
   the largest matching ID (``order ID DESC``, ``select ID``). No COUNT anywhere.
2. The ID span after the first page is cut into windows sized from the observed density to
   hold about 2,500 rows; each window is read by one chained batch bounded by ``>=a``/``<=b``
   (sized to the window, so a dense window is exactly one request with no wasted page), and
   continued by another batch only when it holds more rows than that.
3. ``workers`` windows are in flight at once; results are yielded strictly in ID order, so
   memory stays bounded by ``workers`` windows.
4. One final chained call past the probed maximum picks up rows created meanwhile.

Dense IDs cost ``ceil((N - 50) / 2500) + 2`` requests: the probe, the windows and the tail.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from airflow_provider_bitrix24.client.client import BATCH_LIMIT, PAGE_SIZE, _records, _to_int
from airflow_provider_bitrix24.client.methods import paging_spec

ROWS_PER_REQUEST = BATCH_LIMIT * PAGE_SIZE


def paginate_windows(client, method: str, params: Mapping[str, Any] | None = None, *, workers: int = 8) -> Iterator[dict]:
    spec = paging_spec(method)
    params = dict(params or {})
    user_filter = dict(params.get(spec.filter_param) or {})
    id_keys = {f"{op}{spec.filter_id}".lower() for op in (">", ">=", "<", "<=", "", "=", "@")}
    if not spec.id_cursor or "start" in params or params.get(spec.order_param) or any(
        str(k).lower() in id_keys for k in user_filter
    ):
        yield from client.paginate(method, params)  # shapes the prototype does not cover
        return
    base = {k: v for k, v in params.items() if k not in (spec.filter_param, spec.order_param, "start")}
    select = base.get("select")
    if isinstance(select, list) and select and "*" not in select and spec.record_id not in select:
        base["select"] = [*select, spec.record_id]
    fid, rid = spec.filter_id, spec.record_id
    path = f"[{spec.result_key}]" if spec.result_key else ""

    def row_id(row: dict) -> int:
        return _to_int(row.get(rid)) or 0

    probe = client.batch(
        {
            "head": (method, {**base, spec.filter_param: user_filter, spec.order_param: {fid: "ASC"}, "start": -1}),
            "last": (method, {spec.filter_param: user_filter, spec.order_param: {fid: "DESC"}, "select": [rid], "start": -1}),
        }
    )
    probe.raise_for_errors()
    head = _records(probe.result.get("head"), spec, method)
    yield from head
    if len(head) < PAGE_SIZE:
        return
    hi = row_id(_records(probe.result.get("last"), spec, method)[0])
    first_id, cursor = row_id(head[0]), row_id(head[-1])
    density = min(1.0, PAGE_SIZE / max(1, cursor - first_id + 1))

    def read_window(a: int, b: int) -> list[dict]:
        """Every row with a <= ID <= b, in ID order, in as few chained batches as it takes."""
        rows: list[dict] = []
        after = a - 1
        while True:
            pages = max(1, min(BATCH_LIMIT, math.ceil((b - after) / PAGE_SIZE)))
            commands = {}
            for k in range(pages):
                bounds = {f">={fid}": after + 1, f"<={fid}": b}
                if k:
                    bounds[f">{fid}"] = f"$result[p{k - 1}]{path}[{PAGE_SIZE - 1}][{rid}]"
                commands[f"p{k}"] = (
                    method,
                    {**base, spec.filter_param: {**user_filter, **bounds}, spec.order_param: {fid: "ASC"}, "start": -1},
                )
            result = client.batch(commands, halt=True)
            result.raise_for_errors()
            for k in range(pages):
                records = _records(result.result.get(f"p{k}"), spec, method)
                fresh = [r for r in records if row_id(r) > after]
                rows.extend(fresh)
                if fresh:
                    after = row_id(fresh[-1])
                if len(records) < PAGE_SIZE or len(fresh) < len(records):
                    return rows  # a short page (or the chain broke after one): window done
            if after >= b:
                return rows

    pending: deque = deque()
    next_a = cursor + 1
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="b24-window") as pool:
        try:

            def submit() -> bool:
                nonlocal next_a
                if next_a > hi:
                    return False
                width = max(PAGE_SIZE, int(ROWS_PER_REQUEST / density))
                b = min(hi, next_a + width - 1)
                pending.append((pool.submit(read_window, next_a, b), next_a, b))
                next_a = b + 1
                return True

            while len(pending) < workers and submit():
                pass
            while pending:
                future, a, b = pending.popleft()
                rows = future.result()
                density = min(1.0, max(len(rows), 1) / (b - a + 1))
                submit()
                yield from rows
        finally:
            for future, _a, _b in pending:
                future.cancel()
    # Rows created after the probe sit past its maximum: one more chain (usually one empty page).
    yield from client.paginate(method, {**params, spec.filter_param: {**user_filter, f">{fid}": hi}})
