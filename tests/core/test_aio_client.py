"""AsyncBitrix24Client: the sync client's rules over httpx, against the emulator over real HTTP.

Each case is one rule of :mod:`airflow_provider_bitrix24.client.policy` seen through the async
shell; the expected behaviour is the sync client's (and the limits page's), not a second belief.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from airflow_provider_bitrix24.client import (
    Bitrix24Client,
    Bitrix24Error,
    Bitrix24PortalMoved,
    Bitrix24WriteMayHaveSucceeded,
    FileTokenStore,
    OAuth2Auth,
    WebhookAuth,
)
from airflow_provider_bitrix24.client.aio import AsyncBitrix24Client
from airflow_provider_bitrix24.client.policy import RetryPolicy

FAST: dict[str, Any] = {"rate_limit": None, "backoff_base": 0.005, "backoff_max": 0.02}


class Sleeps:
    """Records the waits the client asks for and yields to the loop instead of sleeping them."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        await asyncio.sleep(0)


def webhook(emu, **kwargs) -> AsyncBitrix24Client:
    return AsyncBitrix24Client(
        emu.url, WebhookAuth(emu.webhook_user_id, emu.webhook_code), **{**FAST, **kwargs}
    )


def run(coro):
    return asyncio.run(coro)


def test_call_and_call_raw_return_what_the_sync_client_returns(emu):
    emu.seed("crm.deal", [{"TITLE": f"d{i}"} for i in range(3)])
    sync = Bitrix24Client(emu.url, WebhookAuth(emu.webhook_user_id, emu.webhook_code), **FAST)

    async def main():
        async with webhook(emu) as client:
            return await client.call("crm.deal.get", {"id": 2}), await client.call_raw("crm.deal.list")

    record, envelope = run(main())
    assert record == sync.call("crm.deal.get", {"id": 2})
    assert envelope["result"] == sync.call_raw("crm.deal.list")["result"] and envelope["total"] == 3


def test_a_refused_rate_is_backed_off_with_the_policys_delays_and_resent(emu):
    emu.inject_fault(status=503, error="QUERY_LIMIT_EXCEEDED", count=2, method="server.time")
    sleeps = Sleeps()

    async def main():
        async with webhook(emu, sleep=sleeps) as client:
            return await client.call("server.time"), client.requests_sent

    result, sent = run(main())
    assert result and sent == 3
    policy = RetryPolicy(backoff_base=FAST["backoff_base"], backoff_max=FAST["backoff_max"])
    # backoff(n, jitter) spans [0.5, 1) x the base delay of retry n
    assert [policy.backoff(n, 0.0) <= w <= policy.backoff(n, 1.0) for n, w in enumerate(sleeps.waits, 1)] == [
        True,
        True,
    ]


def test_a_write_whose_reply_is_a_5xx_is_not_sent_twice(emu):
    emu.inject_fault(status=500, error="INTERNAL_SERVER_ERROR", count=1, method="crm.deal.add")

    async def main():
        async with webhook(emu) as client:
            await client.call("crm.deal.add", {"fields": {"TITLE": "once"}})

    with pytest.raises(Bitrix24WriteMayHaveSucceeded):
        run(main())
    assert len(emu.calls("crm.deal.add")) == 1


def test_a_redirect_is_not_followed_and_names_the_new_portal_only(emu):
    emu.inject_fault(kind="redirect", location="https://moved.example.com", count=1)

    async def main():
        async with webhook(emu) as client:
            await client.call("server.time")

    with pytest.raises(Bitrix24PortalMoved) as info:
        run(main())
    assert info.value.new_url == "https://moved.example.com"
    assert emu.webhook_code not in str(info.value)


def test_an_api_error_is_the_same_typed_error_without_secrets(emu):
    sync = Bitrix24Client(emu.url, WebhookAuth(emu.webhook_user_id, emu.webhook_code), **FAST)
    with pytest.raises(Bitrix24Error) as expected:
        sync.call("crm.deal.get", {"id": 999})

    async def main():
        async with webhook(emu) as client:
            await client.call("crm.deal.get", {"id": 999})

    with pytest.raises(Bitrix24Error) as info:
        run(main())
    assert type(info.value) is type(expected.value) and str(info.value) == str(expected.value)
    assert emu.webhook_code not in str(info.value)


def test_one_expiry_seen_by_many_concurrent_calls_costs_one_refresh_and_saves_the_new_pair(emu, tmp_path):
    access, refresh = emu.issue_tokens()
    store = FileTokenStore(tmp_path / "tokens.json")
    auth = OAuth2Auth(emu.client_id, emu.client_secret, refresh, access, token_url=emu.token_url, store=store)
    emu.seed("crm.deal", [{"TITLE": "d"}])

    async def main():
        async with AsyncBitrix24Client(emu.url, auth, **FAST) as client:
            await client.call("crm.deal.get", {"id": 1})
            emu.expire_access_tokens()
            return await asyncio.gather(*(client.call("crm.deal.get", {"id": 1}) for _ in range(20)))

    results = run(main())
    assert len(results) == 20 and emu.refresh_count == 1
    saved = store.load()
    assert saved is not None and saved.refresh_token != refresh  # the rotated pair outlives us


def test_batch_matches_the_sync_client(emu):
    emu.seed("crm.deal", [{"TITLE": f"d{i}"} for i in range(120)])
    commands = {f"k{i}": ("crm.deal.get", {"id": i + 1}) for i in range(120)}
    commands["missing"] = ("crm.deal.get", {"id": 100000})
    sync = Bitrix24Client(emu.url, WebhookAuth(emu.webhook_user_id, emu.webhook_code), **FAST)
    expected = sync.batch(commands)

    async def main():
        async with webhook(emu) as client:
            return await client.batch(commands), await client.batch(commands, halt=True)

    result, halted = run(main())
    assert result.result == expected.result and set(result.errors) == set(expected.errors) == {"missing"}
    assert type(result.errors["missing"]) is type(expected.errors["missing"])
    assert halted.result == {k: v for k, v in expected.result.items() if k != "missing"}


def test_an_operating_time_refusal_waits_for_the_reset_without_a_thread(emu):
    reset_at = time.time() + 30
    emu.inject_fault(
        status=429,
        error="OPERATION_TIME_LIMIT",
        description="Method is blocked",
        count=1,
        method="server.time",
    )
    sleeps = Sleeps()

    async def main():
        async with webhook(emu, sleep=sleeps) as client:
            client.operating_reset["server.time"] = reset_at
            threads = set(threading.enumerate())
            result = await client.call("server.time")
            return result, threads, set(threading.enumerate())

    result, before, after = run(main())
    assert result and len(sleeps.waits) == 1
    assert 25 < sleeps.waits[0] < 35  # until the method's reset, as the policy computes it
    assert [
        t.name for t in after - before if "process_request_thread" not in t.name
    ] == []  # ours, not the portal's


def test_cancelling_a_call_that_backs_off_ends_it_at_once(emu):
    emu.inject_fault(status=503, error="QUERY_LIMIT_EXCEEDED", count=1000, method="server.time")

    async def main():
        client = webhook(emu, backoff_base=5.0, backoff_max=30.0, max_retries=50)
        task = asyncio.create_task(client.call("server.time"))
        while client.requests_sent < 2:
            await asyncio.sleep(0.01)
        started = time.monotonic()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await client.aclose()
        return time.monotonic() - started

    assert run(main()) < 0.5


def test_siblings_share_the_credential_limiter_and_pacer_but_not_the_pool(emu):
    async def main():
        async with webhook(emu, rate_limit={"burst": 5, "per_second": 1}) as client:
            twin = client.sibling()
            try:
                assert twin.auth is client.auth and twin.bucket is client.bucket
                assert twin.pacer is client.pacer and twin._http is not client._http
                await twin.call("server.time")
            finally:
                await twin.aclose()
            return await client.call("server.time")

    assert run(main())


def test_the_pacer_holds_a_call_back_by_awaiting_until_earlier_calls_age_out(emu):
    from airflow_provider_bitrix24.client.operating import OperatingPacer

    now = [1000.0]
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds
        await asyncio.sleep(0)

    async def main():
        async with webhook(emu, sleep=sleep) as client:
            client.pacer = OperatingPacer(2.0, 600.0, clock=lambda: now[0])
            # 1.5 s of the method's 2 s used: one more call (~1.9 s expected) must wait ~600 s.
            client.pacer.record("server.time", {"operating": 1.5, "processing": 1.5})
            await client.call("server.time")

    run(main())
    assert 590 < sum(slept) < 610 and max(slept) <= 1.0  # awaited in short steps, no thread
    assert len(emu.calls("server.time")) == 1
