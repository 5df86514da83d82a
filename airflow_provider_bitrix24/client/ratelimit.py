"""Client-side leaky buckets that keep us under the portal's request-rate limit.

Bitrix24 counts requests per portal (and source IP) in a leaky bucket: the counter grows by one
per request and drains at a fixed rate; past the threshold the portal answers 503
``QUERY_LIMIT_EXCEEDED``. Mirroring that bucket on our side means we wait instead of being
refused. Two scopes share one arithmetic (:func:`drained`, :func:`take_slot`):

* ``process`` (default): all clients of one portal inside a process share one
  :class:`LeakyBucket` (:func:`shared_bucket`).
* ``host``: all processes on one machine share a :class:`HostBucket` - a tiny state file per
  portal (level and wall-clock time) updated under an ``fcntl`` lock. Airflow runs many task
  processes per host (LocalExecutor, a Celery worker with concurrency N); without this each one
  would spend the whole limit on its own.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

try:  # POSIX only; without it the host scope falls back to the process scope
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

DEFAULT_BURST = 50
DEFAULT_PER_SECOND = 2.0
SCOPES = ("process", "host")


def drained(level: float, elapsed: float, leak_per_second: float) -> float:
    """The bucket level after ``elapsed`` seconds of leaking (a clock going back leaks nothing)."""
    return max(0.0, level - max(0.0, elapsed) * leak_per_second)


def take_slot(level: float, capacity: float, leak_per_second: float) -> tuple[float, float]:
    """Add one request to a drained ``level``; return the new level and the wait before sending.

    The slot is taken even when the caller must wait, so later callers queue behind it.
    """
    level += 1.0
    excess = level - capacity
    return level, (excess / leak_per_second if excess > 0 else 0.0)


class LeakyBucket:
    """Thread-safe leaky bucket: ``capacity`` requests at once, draining ``leak_per_second``."""

    def __init__(
        self,
        capacity: float = DEFAULT_BURST,
        leak_per_second: float = DEFAULT_PER_SECOND,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if capacity < 1 or leak_per_second <= 0:
            raise ValueError("rate limit needs burst >= 1 and per_second > 0")
        self.capacity = float(capacity)
        self.leak_per_second = float(leak_per_second)
        self._clock = clock
        self._sleep = sleep
        self._level = 0.0
        self._updated = clock()
        self._lock = threading.Lock()

    def _update(self, change: Callable[[float], tuple[float, float]]) -> float:
        """Drain the level to now, apply ``change(level) -> (level, result)``, return the result."""
        with self._lock:
            now = self._clock()
            self._level, result = change(drained(self._level, now - self._updated, self.leak_per_second))
            self._updated = now
            return result

    def reserve(self) -> float:
        """Take one slot and return how long the caller must wait before sending."""
        return self._update(lambda level: take_slot(level, self.capacity, self.leak_per_second))

    def acquire(self) -> float:
        """Block until one request may be sent; return the seconds waited."""
        wait = self.reserve()
        if wait > 0:
            self._sleep(wait)
        return wait

    def penalize(self) -> None:
        """The portal refused us for rate: treat the bucket as full so every sender slows down."""
        self._update(lambda level: (max(level, self.capacity), 0.0))

    def reconfigure(self, capacity: float, leak_per_second: float) -> None:
        with self._lock:
            self.capacity = float(capacity)
            self.leak_per_second = float(leak_per_second)


class HostBucket(LeakyBucket):
    """A :class:`LeakyBucket` whose level lives in ``state_dir/<portal>.bucket``, shared by every
    process on the host. Each update holds an exclusive ``fcntl`` lock on that file for a read and
    a write of a few bytes: negligible at the portal's 2-5 requests per second. Time is the wall
    clock, the only one comparable across processes.
    """

    def __init__(
        self,
        portal_key: str,
        capacity: float = DEFAULT_BURST,
        leak_per_second: float = DEFAULT_PER_SECOND,
        *,
        state_dir: str | os.PathLike[str] | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if fcntl is None:  # pragma: no cover - Windows
            raise OSError("a host-wide rate limit needs fcntl (POSIX)")
        super().__init__(capacity, leak_per_second, clock=clock, sleep=sleep)
        directory = Path(state_dir) if state_dir else default_state_dir()
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.path = directory / f"{re.sub(r'[^A-Za-z0-9.-]', '_', portal_key) or 'portal'}.bucket"

    def _update(self, change: Callable[[float], tuple[float, float]]) -> float:
        with self._lock, open(self.path, "a+", encoding="ascii") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file closes
            handle.seek(0)
            now = self._clock()
            try:
                level, updated = (float(x) for x in handle.read().split())
            except ValueError:  # new or damaged file: start empty
                level, updated = 0.0, now
            level, result = change(drained(level, now - updated, self.leak_per_second))
            handle.seek(0)
            handle.truncate()
            handle.write(f"{level!r} {now!r}\n")
            return result


def default_state_dir() -> Path:
    """Per-user directory for host buckets (other users' processes have their own limits to mind)."""
    uid = os.getuid() if hasattr(os, "getuid") else os.getpid()
    return Path(tempfile.gettempdir()) / f"airflow-provider-bitrix24-{uid}"


_SHARED: dict[tuple, LeakyBucket] = {}
_SHARED_LOCK = threading.Lock()


def shared_bucket(
    portal_key: str,
    capacity: float = DEFAULT_BURST,
    leak_per_second: float = DEFAULT_PER_SECOND,
    *,
    scope: str = "process",
    state_dir: str | os.PathLike[str] | None = None,
) -> LeakyBucket:
    """The bucket of one portal shared process-wide (``scope="process"``) or host-wide
    (``scope="host"``, falls back to the process with a warning where ``fcntl`` is missing).
    The latest configuration wins."""
    if scope not in SCOPES:
        raise ValueError(f"rate limit scope must be one of {', '.join(SCOPES)}")
    if scope == "host" and fcntl is None:  # pragma: no cover - Windows
        log.warning("Bitrix24 rate limit scope 'host' needs fcntl (POSIX); using a per-process limit instead")
        scope = "process"
    key = (portal_key, scope, str(state_dir or "")) if scope == "host" else (portal_key, scope, "")
    with _SHARED_LOCK:
        bucket = _SHARED.get(key)
        if bucket is None:
            bucket = _SHARED[key] = (
                HostBucket(portal_key, capacity, leak_per_second, state_dir=state_dir)
                if scope == "host"
                else LeakyBucket(capacity, leak_per_second)
            )
        elif (bucket.capacity, bucket.leak_per_second) != (float(capacity), float(leak_per_second)):
            bucket.reconfigure(capacity, leak_per_second)
        return bucket
