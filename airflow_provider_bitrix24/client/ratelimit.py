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

The host state is private to the user: its directory must be owned by the user with mode 0700
(another user could otherwise swap a file for a symlink or hold every worker back), state files
are opened without following symlinks, and a stored level no real traffic could reach is clamped.
"""

from __future__ import annotations

import logging
import math
import os
import re
import stat
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from .errors import Bitrix24ConfigError

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
        private_state_dir(directory)
        self.path = directory / f"{re.sub(r'[^A-Za-z0-9.-]', '_', portal_key) or 'portal'}.bucket"

    def _update(self, change: Callable[[float], tuple[float, float]]) -> float:
        with self._lock, _open_private(self.path) as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file closes
            now = self._clock()
            level, updated = self._stored(handle.read(), now)
            level, result = change(drained(level, now - updated, self.leak_per_second))
            handle.seek(0)
            handle.truncate()
            handle.write(f"{level!r} {now!r}\n")
            return result

    def _stored(self, text: str, now: float) -> tuple[float, float]:
        """The level and time in a state file; a new or damaged file is empty, an absurd level is
        clamped so no file can hold workers back longer than one burst takes to drain, and a time
        in the future counts as now."""
        try:
            level, updated = (float(x) for x in text.split())
        except ValueError:
            return 0.0, now
        if not (math.isfinite(level) and math.isfinite(updated)):
            return 0.0, now
        return min(max(level, 0.0), 2 * self.capacity), min(updated, now)


def private_state_dir(directory: Path) -> None:
    """Create ``directory`` 0700 if missing; refuse one that is a symlink, is not owned by this
    user, or that other users can enter."""
    directory.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        directory.mkdir(mode=0o700)
    except FileExistsError:
        pass
    info = os.lstat(directory)
    problem = None
    if stat.S_ISLNK(info.st_mode):
        problem = "is a symlink"
    elif not stat.S_ISDIR(info.st_mode):
        problem = "is not a directory"
    elif info.st_uid != os.geteuid():
        problem = f"is owned by uid {info.st_uid}, not by this user (uid {os.geteuid()})"
    elif stat.S_IMODE(info.st_mode) & 0o077:
        problem = f"has mode {stat.S_IMODE(info.st_mode):04o}; other users must not reach it (use 0700)"
    if problem:
        raise Bitrix24ConfigError(
            description=f"rate_limit state_dir {str(directory)!r} {problem}; host-scope limiter state "
            "must live in a private directory (mode 0700, owned by the user running the workers)"
        )


def _open_private(path: Path) -> TextIO:
    """Open (or create 0600) a state file for reading and writing, never through a symlink."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o600)
    except OSError:
        if os.path.islink(path):
            raise Bitrix24ConfigError(
                description=f"rate_limit state file {str(path)!r} is a symlink; refusing to follow it"
            ) from None
        raise
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_uid != os.geteuid():
        os.close(fd)
        raise Bitrix24ConfigError(
            description=f"rate_limit state file {str(path)!r} is not a regular file owned by this user"
        )
    return os.fdopen(fd, "r+", encoding="ascii")


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
