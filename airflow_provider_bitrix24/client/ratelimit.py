"""Client-side leaky buckets that keep us under the portal's request-rate limit.

Bitrix24 counts requests per portal (and source IP) in a leaky bucket: the counter grows by one
per request and drains at a fixed rate; past the threshold the portal answers 503
``QUERY_LIMIT_EXCEEDED``. Mirroring that bucket on our side means we wait instead of being
refused. Two scopes share one arithmetic (:func:`drained`, :func:`take_slot`):

* ``process`` (default): all clients of one portal inside a process share one bucket
  (:func:`shared_bucket`). By default it is an :class:`AdaptiveBucket`: it starts with the
  configured limit and, when the portal refuses a request (``QUERY_LIMIT_EXCEEDED``), falls to a
  share of it and climbs back over time, so workers that share nothing (different hosts, each
  configured with the portal's whole limit) converge to their share. ``adaptive=False`` keeps the
  static :class:`LeakyBucket`.
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
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TextIO

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

    def ease_off(self) -> None:
        """A method's operating time came near the limit. A static limit keeps its rate."""

    def reconfigure(self, capacity: float, leak_per_second: float) -> None:
        with self._lock:
            self.capacity = float(capacity)
            self.leak_per_second = float(leak_per_second)


# ----------------------------------------------------------------------------- adaptive rate
#
# Like botocore's adaptive retry mode: a rate that falls when the service throttles and climbs
# back along a CUBIC-like curve. Rates are shares of the configured rate and time is counted in
# slots (1 / per_second), so the same constants fit a 2/s portal and a 10/s one. Everything here
# is a pure function of a state and ``now``; the bucket classes only supply the clock and the lock.
#
# After a fall a worker climbs back to the share it had (concave, like CUBIC), stays there for a
# time inversely proportional to that share, then probes past it, doubling every DOUBLING_SLOTS.
# A worker with share s thus probes once per PROBE_SLOTS / s slots; all workers together
# (shares summing to 1) probe once per PROBE_SLOTS slots, so about 1 request in PROBE_SLOTS is
# refused however many workers there are, and a worker left alone is back at full speed soon.

FALL = 0.7  # the share kept after a refusal (CUBIC's beta)
PROBE_SLOTS = 40.0  # slots a worker with the whole rate waits before probing past its last peak
DOUBLING_SLOTS = 10.0  # while probing, the share doubles every this many slots
LONGEST_BACK_SLOTS = 200.0  # even a small share probes this often: a worker left alone speeds up
QUIET_SLOTS = 300.0  # slots without a refusal before the burst may be used again
MIN_SHARE = 0.01


@dataclass(frozen=True)
class AdaptiveState:
    """``peak``: the share in use when the portal last refused us (``None``: never refused, the
    configured limit applies); ``fell_at``: when; ``sent``: requests sent before the first refusal."""

    peak: float | None = None
    fell_at: float = 0.0
    sent: int = 0


def adaptive_share(state: AdaptiveState, now: float, per_second: float) -> float:
    """The share of the configured rate to use at ``now``."""
    if state.peak is None:
        return 1.0
    slots = max(0.0, now - state.fell_at) * per_second
    back = min(PROBE_SLOTS / state.peak, LONGEST_BACK_SLOTS)  # slots until it probes past the peak
    if slots < back:
        return state.peak * (1 - (1 - FALL) * (1 - slots / back) ** 3)
    doublings = (slots - back) / DOUBLING_SLOTS
    return 1.0 if doublings >= math.log2(1 / state.peak) else state.peak * 2**doublings


def adaptive_capacity(state: AdaptiveState, now: float, burst: float, per_second: float) -> float:
    """The burst to allow at ``now``: none for a long while after a refusal (the portal's burst
    is shared with workers we cannot see), the configured one after a quiet spell."""
    if state.peak is None or (now - state.fell_at) * per_second >= QUIET_SLOTS:
        return burst
    return 1.0


def adaptive_sent(state: AdaptiveState) -> AdaptiveState:
    """Count a request; only those before the first refusal matter (see :func:`adaptive_refused`)."""
    return replace(state, sent=state.sent + 1) if state.peak is None else state


def adaptive_refused(state: AdaptiveState, now: float, burst: float, per_second: float) -> AdaptiveState:
    """The portal refused a request at ``now``: fall.

    The first refusal comes once the portal's burst (``burst + 1`` requests from everybody) is
    spent, so the part of it this worker got (its requests but the refused one) estimates its
    share: that becomes the peak it climbs back to. Later refusals record the current share as
    the peak. Either way the rate restarts at ``FALL`` of the peak, without a burst. Refusals
    within one slot of the fallen rate belong to the same overshoot and fall once.
    """
    current = adaptive_share(state, now, per_second)
    if state.peak is None:
        share = (max(0, state.sent - 1) + 0.5) / (burst + 1)
        return AdaptiveState(peak=max(MIN_SHARE, min(1.0, share)), fell_at=now, sent=state.sent)
    if (now - state.fell_at) * per_second * FALL * state.peak < 1.0:
        return state
    return AdaptiveState(peak=max(MIN_SHARE, current), fell_at=now, sent=state.sent)


def adaptive_eased(state: AdaptiveState, now: float, per_second: float) -> AdaptiveState:
    """A method's operating time came near the portal's limit at ``now``: fall to ``FALL`` of the
    share in use, without a burst, as after a refusal (but with no share of a burst to estimate).
    Within one slot of the fallen rate it is the same signal and falls once."""
    if state.peak is not None and (now - state.fell_at) * per_second * FALL * state.peak < 1.0:
        return state
    return replace(state, peak=max(MIN_SHARE, adaptive_share(state, now, per_second)), fell_at=now)


class AdaptiveBucket(LeakyBucket):
    """A :class:`LeakyBucket` whose rate and burst follow :func:`adaptive_share` and
    :func:`adaptive_capacity`; :meth:`penalize` (a ``QUERY_LIMIT_EXCEEDED``) makes it fall."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.adaptive = AdaptiveState()

    def _rate_and_capacity(self, now: float) -> tuple[float, float]:
        share = adaptive_share(self.adaptive, now, self.leak_per_second)
        return share * self.leak_per_second, adaptive_capacity(
            self.adaptive, now, self.capacity, self.leak_per_second
        )

    def reserve(self) -> float:
        with self._lock:
            now = self._clock()
            self.adaptive = adaptive_sent(self.adaptive)
            rate, capacity = self._rate_and_capacity(now)
            level = drained(self._level, now - self._updated, rate)
            self._level, wait = take_slot(level, capacity, rate)
            self._updated = now
            return wait

    def penalize(self) -> None:
        with self._lock:
            now = self._clock()
            rate, _ = self._rate_and_capacity(now)
            level = drained(self._level, now - self._updated, rate)
            self.adaptive = adaptive_refused(self.adaptive, now, self.capacity, self.leak_per_second)
            _, capacity = self._rate_and_capacity(now)
            self._level, self._updated = max(level, capacity), now

    def ease_off(self) -> None:
        with self._lock:
            now = self._clock()
            rate, _ = self._rate_and_capacity(now)
            level = drained(self._level, now - self._updated, rate)
            self.adaptive = adaptive_eased(self.adaptive, now, self.leak_per_second)
            self._level, self._updated = level, now

    def reconfigure(self, capacity: float, leak_per_second: float) -> None:
        """A new limit starts unthrottled: what the old one learnt was a share of another rate."""
        super().reconfigure(capacity, leak_per_second)
        with self._lock:
            self.adaptive = AdaptiveState()

    @property
    def rate(self) -> float:
        """The rate in use now (requests per second)."""
        with self._lock:
            return self._rate_and_capacity(self._clock())[0]


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
    adaptive: bool = True,
) -> LeakyBucket:
    """The bucket of one portal shared process-wide (``scope="process"``, adaptive unless
    ``adaptive=False``) or host-wide (``scope="host"``, static: the processes coordinate through
    the file; falls back to the process with a warning where ``fcntl`` is missing).
    The latest configuration wins."""
    if scope not in SCOPES:
        raise ValueError(f"rate limit scope must be one of {', '.join(SCOPES)}")
    if scope == "host" and fcntl is None:  # pragma: no cover - Windows
        log.warning("Bitrix24 rate limit scope 'host' needs fcntl (POSIX); using a per-process limit instead")
        scope = "process"
    adaptive = adaptive and scope == "process"
    key = (portal_key, scope, str(state_dir or "") if scope == "host" else "", adaptive)
    with _SHARED_LOCK:
        bucket = _SHARED.get(key)
        if bucket is None:
            if scope == "host":
                bucket = HostBucket(portal_key, capacity, leak_per_second, state_dir=state_dir)
            elif adaptive:
                bucket = AdaptiveBucket(capacity, leak_per_second)
            else:
                bucket = LeakyBucket(capacity, leak_per_second)
            _SHARED[key] = bucket
        elif (bucket.capacity, bucket.leak_per_second) != (float(capacity), float(leak_per_second)):
            bucket.reconfigure(capacity, leak_per_second)
        return bucket


def bucket_from_config(portal_key: str, rate_limit: Mapping[str, Any]) -> LeakyBucket:
    """The shared bucket a ``rate_limit`` mapping asks for: ``burst``, ``per_second``, ``scope``
    (``process`` or ``host``), ``state_dir`` (host scope) and ``adaptive`` (process scope, default
    true). Raises :class:`Bitrix24ConfigError` naming the key that is wrong."""
    try:
        burst = float(rate_limit.get("burst", DEFAULT_BURST))
        per_second = float(rate_limit.get("per_second", DEFAULT_PER_SECOND))
        if burst < 1 or per_second <= 0:
            raise ValueError
    except (TypeError, ValueError):
        raise Bitrix24ConfigError(description='rate_limit must be {"burst": >=1, "per_second": >0}') from None
    scope = str(rate_limit.get("scope") or "process").lower()
    if scope not in SCOPES:
        raise Bitrix24ConfigError(description=f"rate_limit scope must be one of {', '.join(SCOPES)}")
    adaptive = rate_limit.get("adaptive", True)
    if isinstance(adaptive, str) and adaptive.strip().lower() in ("true", "false"):
        adaptive = adaptive.strip().lower() == "true"
    if not isinstance(adaptive, bool):
        raise Bitrix24ConfigError(description=f"rate_limit adaptive must be true or false, got {adaptive!r}")
    try:
        return shared_bucket(
            portal_key,
            burst,
            per_second,
            scope=scope,
            state_dir=rate_limit.get("state_dir"),
            adaptive=adaptive,
        )
    except OSError as exc:
        raise Bitrix24ConfigError(description=f"rate_limit state_dir is not usable: {exc}") from None
