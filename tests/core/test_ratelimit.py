"""The rate-limit arithmetic shared by the in-process and host-wide buckets, and the host bucket's
state file (fake clocks; the multi-process behaviour is in tests/reliability/test_many_workers.py)."""

from __future__ import annotations

import pytest

from airflow_provider_bitrix24.client import Bitrix24Client, Bitrix24ConfigError, WebhookAuth
from airflow_provider_bitrix24.client.ratelimit import (
    HostBucket,
    LeakyBucket,
    drained,
    shared_bucket,
    take_slot,
)


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
def test_both_buckets_give_the_same_waits(make, tmp_path):
    clock = FakeClock()
    bucket = (
        LeakyBucket(5, 2, clock=clock, sleep=clock.sleep)
        if make == "process"
        else HostBucket("x.bitrix24.com", 5, 2, state_dir=tmp_path, clock=clock, sleep=clock.sleep)
    )
    assert [bucket.reserve() for _ in range(7)] == [0, 0, 0, 0, 0, 0.5, 1.0]
    clock.now += 10  # drained
    assert bucket.reserve() == 0
    bucket.penalize()  # a 503: full now
    assert bucket.reserve() == pytest.approx(0.5)


def test_host_buckets_of_one_portal_share_their_level_through_the_file(tmp_path):
    clock = FakeClock()
    first, second = (HostBucket("x.bitrix24.com", 4, 2, state_dir=tmp_path, clock=clock) for _ in range(2))
    other_portal = HostBucket("y.bitrix24.com", 4, 2, state_dir=tmp_path, clock=clock)
    assert [first.reserve(), second.reserve(), first.reserve(), second.reserve()] == [0, 0, 0, 0]
    assert second.reserve() == 0.5 and first.reserve() == 1.0  # the burst is spent by both together
    assert other_portal.reserve() == 0
    clock.now += 1.0  # 2 of the 6 slots leaked: 4 + 1 is one over the burst
    assert first.reserve() == 0.5
    clock.now += 2.0  # leaked down to 1
    fresh = HostBucket("x.bitrix24.com", 4, 2, state_dir=tmp_path, clock=clock)
    fresh.penalize()  # a 503 seen by one process slows all of them
    assert first.reserve() == 0.5  # full (4) + 1, although the level had leaked to 1


def test_host_bucket_survives_a_damaged_state_file(tmp_path):
    bucket = HostBucket("x.bitrix24.com", 2, 1, state_dir=tmp_path, clock=FakeClock())
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


def test_client_rate_limit_scope(tmp_path):
    auth = WebhookAuth(1, "abcd")
    host = Bitrix24Client(
        "https://x.bitrix24.com", auth, rate_limit={"burst": 7, "scope": "host", "state_dir": str(tmp_path)}
    )
    assert (
        isinstance(host.bucket, HostBucket)
        and host.bucket.capacity == 7
        and host.bucket.path.parent == tmp_path
    )
    process = Bitrix24Client("https://x.bitrix24.com", auth, rate_limit={"burst": 7})
    assert type(process.bucket) is LeakyBucket and process.bucket is shared_bucket("x.bitrix24.com", 7)
    with pytest.raises(Bitrix24ConfigError, match="scope"):
        Bitrix24Client("https://x.bitrix24.com", auth, rate_limit={"scope": "cluster"})
    (tmp_path / "file").write_text("")
    with pytest.raises(Bitrix24ConfigError, match="state_dir"):
        Bitrix24Client(
            "https://z.bitrix24.com",
            auth,
            rate_limit={"scope": "host", "state_dir": str(tmp_path / "file" / "d")},
        )
