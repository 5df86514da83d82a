"""The rate-limit arithmetic shared by the in-process and host-wide buckets, and the host bucket's
state file (fake clocks; the multi-process behaviour is in tests/reliability/test_many_workers.py)."""

from __future__ import annotations

import json
import os
import stat

import pytest

from airflow_provider_bitrix24.client import Bitrix24Client, Bitrix24ConfigError, WebhookAuth
from airflow_provider_bitrix24.client.operating import OperatingPacer, operating_rises
from airflow_provider_bitrix24.client.policy import RetryPolicy
from airflow_provider_bitrix24.client.ratelimit import (
    DOUBLING_SLOTS,
    FALL,
    PROBE_SLOTS,
    QUIET_SLOTS,
    AdaptiveBucket,
    AdaptiveState,
    HostBucket,
    LeakyBucket,
    adaptive_capacity,
    adaptive_eased,
    adaptive_refused,
    adaptive_sent,
    adaptive_share,
    bucket_from_config,
    drained,
    shared_bucket,
    take_slot,
)
from airflow_provider_bitrix24.client.transport import Transport


@pytest.fixture
def state_dir(tmp_path):
    """Where host buckets keep their files: created by the bucket itself, 0700."""
    return tmp_path / "buckets"


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_drained_leaks_at_the_rate_and_never_below_zero_or_backwards():
    assert drained(10, 2, 3) == 4
    assert drained(10, 100, 3) == 0
    assert drained(10, -5, 3) == 10  # a wall clock stepping back leaks nothing (and adds nothing)


def test_take_slot_waits_only_past_capacity():
    assert take_slot(3, 5, 2) == (4, 0)
    assert take_slot(4, 5, 2) == (5, 0)
    assert take_slot(5, 5, 2) == (6, 0.5)  # one over the burst: one slot's leak time
    assert take_slot(9, 5, 2) == (10, 2.5)


@pytest.mark.parametrize("make", ["process", "host"])
def test_both_buckets_give_the_same_waits(make, state_dir):
    clock = FakeClock()
    bucket = (
        LeakyBucket(5, 2, clock=clock, sleep=clock.sleep)
        if make == "process"
        else HostBucket("x.bitrix24.com", 5, 2, state_dir=state_dir, clock=clock, sleep=clock.sleep)
    )
    assert [bucket.reserve() for _ in range(7)] == [0, 0, 0, 0, 0, 0.5, 1.0]
    clock.now += 10  # drained
    assert bucket.reserve() == 0
    bucket.penalize()  # a 503: full now
    assert bucket.reserve() == pytest.approx(0.5)


def test_host_buckets_of_one_portal_share_their_level_through_the_file(state_dir):
    clock = FakeClock()
    first, second = (HostBucket("x.bitrix24.com", 4, 2, state_dir=state_dir, clock=clock) for _ in range(2))
    other_portal = HostBucket("y.bitrix24.com", 4, 2, state_dir=state_dir, clock=clock)
    assert [first.reserve(), second.reserve(), first.reserve(), second.reserve()] == [0, 0, 0, 0]
    assert second.reserve() == 0.5 and first.reserve() == 1.0  # the burst is spent by both together
    assert other_portal.reserve() == 0
    clock.now += 1.0  # 2 of the 6 slots leaked: 4 + 1 is one over the burst
    assert first.reserve() == 0.5
    clock.now += 2.0  # leaked down to 1
    fresh = HostBucket("x.bitrix24.com", 4, 2, state_dir=state_dir, clock=clock)
    fresh.penalize()  # a 503 seen by one process slows all of them
    assert first.reserve() == 0.5  # full (4) + 1, although the level had leaked to 1


def test_host_bucket_survives_a_damaged_state_file(state_dir):
    bucket = HostBucket("x.bitrix24.com", 2, 1, state_dir=state_dir, clock=FakeClock())
    bucket.path.write_text("garbage")
    assert bucket.reserve() == 0
    assert bucket.path.read_text().split()[0] == "1.0"


def test_host_bucket_default_dir_is_per_user(tmp_path, monkeypatch):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    bucket = HostBucket("x.bitrix24.com:8443", 2, 1)
    assert bucket.path.parent.name.startswith("airflow-provider-bitrix24-")
    assert bucket.path.name == "x.bitrix24.com_8443.bucket"
    assert (bucket.path.parent.stat().st_mode & 0o777) == 0o700


def test_client_rate_limit_scope(tmp_path, state_dir):
    auth = WebhookAuth(1, "abcd")
    host = Bitrix24Client(
        "https://x.bitrix24.com", auth, rate_limit={"burst": 7, "scope": "host", "state_dir": str(state_dir)}
    )
    assert (
        isinstance(host.bucket, HostBucket)
        and host.bucket.capacity == 7
        and host.bucket.path.parent == state_dir
    )
    process = Bitrix24Client("https://x.bitrix24.com", auth, rate_limit={"burst": 7})
    assert type(process.bucket) is AdaptiveBucket and process.bucket is shared_bucket("x.bitrix24.com", 7)
    with pytest.raises(Bitrix24ConfigError, match="scope"):
        Bitrix24Client("https://x.bitrix24.com", auth, rate_limit={"scope": "cluster"})
    (tmp_path / "file").write_text("")
    with pytest.raises(Bitrix24ConfigError, match="state_dir"):
        Bitrix24Client(
            "https://z.bitrix24.com",
            auth,
            rate_limit={"scope": "host", "state_dir": str(tmp_path / "file" / "d")},
        )


# ---------------------------------------------------------------- host state is private


def test_host_state_dir_is_created_private(state_dir):
    HostBucket("x.bitrix24.com", 2, 1, state_dir=state_dir)
    assert stat.S_IMODE(state_dir.stat().st_mode) == 0o700 and state_dir.stat().st_uid == os.geteuid()


@pytest.mark.parametrize("mode", [0o755, 0o777, 0o1777, 0o750])
def test_host_state_dir_others_can_reach_is_refused(tmp_path, mode):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(mode)
    with pytest.raises(Bitrix24ConfigError, match="state_dir") as info:
        HostBucket("x.bitrix24.com", 2, 1, state_dir=shared)
    assert "0700" in str(info.value)
    assert list(shared.iterdir()) == []  # nothing written there


def test_host_state_dir_of_another_user_is_refused(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("only root can give a directory to another user")
    foreign = tmp_path / "foreign"
    foreign.mkdir(mode=0o700)
    os.chown(foreign, 65534, 65534)
    with pytest.raises(Bitrix24ConfigError, match="owned by"):
        HostBucket("x.bitrix24.com", 2, 1, state_dir=foreign)


def test_host_state_dir_behind_a_symlink_is_refused(tmp_path):
    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    link = tmp_path / "link"
    link.symlink_to(real)
    with pytest.raises(Bitrix24ConfigError, match="symlink"):
        HostBucket("x.bitrix24.com", 2, 1, state_dir=link)


def test_host_state_file_symlink_is_not_followed(state_dir, tmp_path):
    bucket = HostBucket("x.bitrix24.com", 2, 1, state_dir=state_dir)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    bucket.path.symlink_to(victim)
    with pytest.raises(Bitrix24ConfigError, match="symlink"):
        bucket.reserve()
    assert victim.read_text() == "precious"


@pytest.mark.parametrize("stored", ["1e300", "inf", "nan", "-50"])
def test_host_bucket_clamps_an_absurd_stored_level(state_dir, stored):
    clock = FakeClock()
    bucket = HostBucket("x.bitrix24.com", 10, 2, state_dir=state_dir, clock=clock, sleep=clock.sleep)
    bucket.path.write_text(f"{stored} {clock.now!r}\n")
    wait = bucket.reserve()
    assert 0 <= wait <= 10 / 2 + 0.5  # at most one burst's drain time, whatever the file said
    level = float(bucket.path.read_text().split()[0])
    assert 0 < level <= 2 * 10 + 1


def test_host_bucket_ignores_a_stored_time_in_the_future(state_dir):
    clock = FakeClock()
    bucket = HostBucket("x.bitrix24.com", 10, 2, state_dir=state_dir, clock=clock, sleep=clock.sleep)
    bucket.path.write_text(f"10.0 {clock.now + 1e9!r}\n")  # full, "updated" in 30 years
    bucket.reserve()
    clock.now += 10  # 10 s at 2/s drains everything
    assert bucket.reserve() == 0


# ---------------------------------------------------------------- adaptive rate (the default)


def test_adaptive_bucket_acts_like_the_static_one_until_refused():
    clock = FakeClock()
    static = LeakyBucket(5, 2, clock=clock, sleep=clock.sleep)
    adaptive = AdaptiveBucket(5, 2, clock=clock, sleep=clock.sleep)
    assert [adaptive.reserve() for _ in range(8)] == [static.reserve() for _ in range(8)]


def test_first_refusal_falls_to_the_share_of_the_burst_this_worker_got():
    state = AdaptiveState()
    for _ in range(6):  # 5 accepted, the 6th refused: 5 of the portal's 21
        state = adaptive_sent(state)
    state = adaptive_refused(state, now=100.0, burst=20, per_second=10)
    share = (5 + 0.5) / 21
    assert state.peak == pytest.approx(share)
    assert adaptive_share(state, 100.0, 10) == pytest.approx(FALL * share)
    assert adaptive_capacity(state, 100.0, 20, 10) == 1  # no burst: it is shared with unseen workers


def test_share_climbs_back_to_the_peak_then_probes_past_it():
    state = AdaptiveState(peak=0.25, fell_at=0.0)
    per_second = 10.0
    back = PROBE_SLOTS / 0.25 / per_second  # seconds back to the peak
    shares = [adaptive_share(state, t, per_second) for t in (0, back / 4, back / 2, back)]
    assert shares == sorted(shares) and shares[0] == pytest.approx(FALL * 0.25)
    assert shares[-1] == pytest.approx(0.25)
    assert adaptive_share(state, back + DOUBLING_SLOTS / per_second, per_second) == pytest.approx(0.5)
    assert adaptive_share(state, back + 100, per_second) == 1.0  # never above the configured rate
    assert adaptive_capacity(state, QUIET_SLOTS / per_second, 20, per_second) == 20  # the burst is back


def test_a_burst_of_refusals_falls_once_then_each_new_overshoot_falls_again():
    state = adaptive_refused(AdaptiveState(sent=11), now=0.0, burst=20, per_second=10)
    again = adaptive_refused(state, now=0.01, burst=20, per_second=10)
    assert again == state  # the same overshoot
    later = adaptive_refused(state, now=30.0, burst=20, per_second=10)
    assert later.fell_at == 30.0 and later.peak == pytest.approx(adaptive_share(state, 30.0, 10))


def test_adaptive_bucket_slows_down_after_a_refusal():
    clock = FakeClock()
    bucket = AdaptiveBucket(20, 10, clock=clock, sleep=clock.sleep)
    for _ in range(6):
        bucket.reserve()
    bucket.penalize()
    assert bucket.rate == pytest.approx(10 * FALL * 5.5 / 21)
    waits = [bucket.reserve() for _ in range(3)]
    assert waits[0] > 0 and waits == sorted(waits)  # paced at the lower rate, no burst


def test_a_new_limit_starts_unthrottled():
    bucket = AdaptiveBucket(20, 10, clock=FakeClock())
    bucket.reserve()
    bucket.penalize()
    assert bucket.rate < 10
    bucket.reconfigure(50, 2)
    assert bucket.rate == 2


def test_shared_bucket_kinds():
    assert type(shared_bucket("kinds.bitrix24.com", 9, 3)) is AdaptiveBucket
    assert type(shared_bucket("kinds.bitrix24.com", 9, 3, adaptive=False)) is LeakyBucket


def test_bucket_from_config(state_dir):
    assert type(bucket_from_config("cfg.bitrix24.com", {"burst": 9, "per_second": 3})) is AdaptiveBucket
    static = bucket_from_config("cfg.bitrix24.com", {"burst": 9, "per_second": 3, "adaptive": False})
    assert type(static) is LeakyBucket and (static.capacity, static.leak_per_second) == (9, 3)
    assert type(bucket_from_config("cfg.bitrix24.com", {"adaptive": "false"})) is LeakyBucket
    host = bucket_from_config("cfg.bitrix24.com", {"scope": "host", "state_dir": str(state_dir)})
    assert type(host) is HostBucket
    for bad, key in (
        ({"burst": 0}, "burst"),
        ({"scope": "cluster"}, "scope"),
        ({"adaptive": "maybe"}, "adaptive"),
    ):
        with pytest.raises(Bitrix24ConfigError, match=key):
            bucket_from_config("cfg.bitrix24.com", bad)


def test_a_connection_with_adaptive_false_gets_the_static_bucket(monkeypatch):
    """``"adaptive": false`` in a connection's rate_limit reaches the client's bucket."""
    limit = {"burst": 9, "per_second": 3, "adaptive": False}
    client = Bitrix24Client("https://static-cfg.bitrix24.com", WebhookAuth(1, "abcd"), rate_limit=limit)
    assert type(client.bucket) is LeakyBucket
    assert (client.bucket.capacity, client.bucket.leak_per_second) == (9, 3)
    from airflow_provider_bitrix24.hooks.bitrix24 import Bitrix24Hook

    conn = {
        "conn_type": "bitrix24",
        "host": "https://static-hook.bitrix24.com",
        "login": "1",
        "password": "abcd1234",
        "extra": {"auth_type": "webhook", "rate_limit": {"burst": 9, "per_second": 3, "adaptive": False}},
    }
    monkeypatch.setenv("AIRFLOW_CONN_BITRIX24_STATIC", json.dumps(conn))
    assert type(Bitrix24Hook("bitrix24_static").get_conn().bucket) is LeakyBucket


def test_adaptive_share_long_after_a_refusal_is_the_full_rate() -> None:
    """Hours after the last refusal the share is simply 1.0 (no overflow of the growth curve)."""
    state = AdaptiveState(peak=0.5, fell_at=0.0)
    assert adaptive_share(state, 10_000.0, 2.0) == 1.0
    assert adaptive_share(state, 1e9, 50.0) == 1.0


def test_the_adaptive_rate_falls_when_a_methods_operating_time_nears_the_limit() -> None:
    """The operating-time signal: crossing 80% of the limit upward is a fall, like a refusal."""
    assert operating_rises(300.0, 390.0, 480.0)
    assert not operating_rises(390.0, 400.0, 480.0)  # already past the mark: fell before
    assert not operating_rises(100.0, 200.0, 480.0) and not operating_rises(0.0, 1e9, None)
    eased = adaptive_eased(AdaptiveState(), 1000.0, 2.0)
    assert adaptive_share(eased, 1000.0, 2.0) == pytest.approx(FALL)
    assert adaptive_capacity(eased, 1000.0, 50, 2.0) == 1.0
    assert adaptive_share(eased, 1000.0 + 200 / 2.0, 2.0) == 1.0  # and climbs back

    def transport(bucket: LeakyBucket) -> Transport:
        return Transport(
            "https://x.bitrix24.com",
            WebhookAuth(1, "abcd"),
            policy=RetryPolicy(),
            timeout=(1.0, 1.0),
            bucket=bucket,
            pacer=OperatingPacer(480.0),
        )

    adaptive = transport(AdaptiveBucket(50, 2))
    adaptive.note_operating("crm.deal.list", {"processing": 1.0, "operating": 300.0})
    assert adaptive.bucket.rate == 2.0
    adaptive.note_operating("crm.deal.list", {"processing": 1.0, "operating": 400.0})
    assert adaptive.bucket.rate == pytest.approx(2.0 * FALL, rel=0.05)
    static = transport(LeakyBucket(50, 2))
    static.note_operating("crm.deal.list", {"processing": 1.0, "operating": 300.0})
    static.note_operating("crm.deal.list", {"processing": 1.0, "operating": 400.0})
    assert static.bucket.reserve() == 0.0  # the static limiter keeps its configured burst
