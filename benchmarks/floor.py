"""The floor: the least wall time the portal's cost model and limits leave for a job.

A job is a number of HTTP requests, each with a modelled service time. No client can finish
before

* the leaky bucket admits its last request: the counter grows by one per request, drains ``r``
  per second, and a request is refused once it *exceeds* ``B`` (the limits page's wording, as
  the emulator implements it), so from empty ``B + 1`` requests pass at once and the k-th
  (1-based) cannot be admitted before ``max(0, (k - B - 1) / r)`` seconds; it then still takes
  its own service time; and
* the method's operating-time budget allows it: ``L`` seconds of execution per
  ``window`` (10 one-minute baskets), so a job needing ``T > L`` seconds of method time waits at
  least ``window * (ceil(T / L) - 1)``.

``floor_s`` assumes requests may overlap (nothing in the limits forbids it). ``serial_floor_s``
is the same job with one request in flight at a time, the best a single page chain can do.
Client CPU (JSON decoding, writing rows) is not part of either: it is what a client adds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

PAGE = 50  # rows per list page
BATCH = 50  # commands per batch request


@dataclass(frozen=True)
class Limits:
    latency: float  # per HTTP request
    per_call: float  # per executed method (batch commands included)
    per_row: float  # per row returned or written
    count_per_row: float  # per table row, each time a list call runs COUNT
    burst: float = 50
    per_second: float = 2.0
    operating_limit: float = 480.0
    operating_window: float = 600.0

    @classmethod
    def from_cost_model(
        cls, cost, burst: float = 50, per_second: float = 2.0, operating_limit: float = 480.0
    ) -> Limits:
        return cls(
            cost.latency, cost.per_call, cost.per_row, cost.count_per_row, burst, per_second, operating_limit
        )


@dataclass(frozen=True)
class Floor:
    requests: int
    calls: int
    method_time_s: float
    floor_s: float
    serial_floor_s: float


def _admit(k: int, limits: Limits) -> float:
    return max(0.0, (k - limits.burst - 1) / limits.per_second)


def floor_for(service: list[float], method_time: float, calls: int, limits: Limits) -> Floor:
    """Floor of a job whose requests take ``service[k]`` seconds each."""
    overlap = max((_admit(k, limits) + s for k, s in enumerate(service, start=1)), default=0.0)
    serial = 0.0
    for k, s in enumerate(service, start=1):
        serial = max(serial, _admit(k, limits)) + s
    operating = 0.0
    if method_time > limits.operating_limit:
        operating = limits.operating_window * (math.ceil(method_time / limits.operating_limit) - 1)
    return Floor(len(service), calls, method_time, max(overlap, operating), max(serial, operating))


def read_floor(rows: int, limits: Limits) -> Floor:
    """Reading ``rows`` rows: 50-row pages without COUNT, 50 pages per batch request."""
    pages = [PAGE] * (rows // PAGE) + ([rows % PAGE] if rows % PAGE else [])
    service = []
    for start in range(0, len(pages), BATCH):
        chunk = pages[start : start + BATCH]
        service.append(limits.latency + sum(limits.per_call + limits.per_row * n for n in chunk))
    method_time = len(pages) * limits.per_call + rows * limits.per_row
    return floor_for(service, method_time, len(pages), limits)


def write_floor(rows: int, limits: Limits) -> Floor:
    """Creating or updating ``rows`` records: one call per record, 50 calls per batch request."""
    service = []
    for start in range(0, rows, BATCH):
        n = min(BATCH, rows - start)
        service.append(limits.latency + n * (limits.per_call + limits.per_row))
    method_time = rows * (limits.per_call + limits.per_row)
    return floor_for(service, method_time, rows, limits)
