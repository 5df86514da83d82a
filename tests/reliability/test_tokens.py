"""OAuth expiry and rotation under pagination, batches, triggers, threads and processes.

Bitrix24 rotates the refresh token on every refresh: a second refresh with the same token is
refused (``invalid_grant``). So one expiry must cost exactly one refresh however many threads
and processes notice it, and nobody may fail while it happens.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time

import pytest
from reliability_helpers import FAST, ask, make_oauth_client, race, seed_deals, start_workers, stop

from airflow_provider_bitrix24.client import (
    Bitrix24AuthError,
    Bitrix24Client,
    Bitrix24TokenExpired,
    MemoryTokenStore,
    OAuth2Auth,
    StaticTokenAuth,
    TokenPair,
    WebhookAuth,
)
from airflow_provider_bitrix24.hooks.bitrix24 import Bitrix24Hook


def test_expiry_in_the_middle_of_chained_pagination(emu, oauth_client):
    ids = seed_deals(emu, 5200)
    oauth_client.paginate_parallel = 1  # one lazy chain: the second batch is sent after the expiry
    rows = oauth_client.paginate("crm.deal.list", {"select": ["ID"]})
    seen = [next(rows)["ID"] for _ in range(2550)]  # inside the second batch of 2,500
    emu.expire_access_tokens()
    seen += [r["ID"] for r in rows]
    assert sorted(map(int, seen)) == ids and len(seen) == len(ids)
    assert emu.refresh_count == 1
    assert any(r.error == "expired_token" for r in emu.requests)


def test_expiry_in_the_middle_of_start_next_pagination(emu, oauth_client):
    emu.seed("user", [{"NAME": f"U{i}", "ACTIVE": True} for i in range(120)])
    rows = oauth_client.paginate("user.get", {})
    seen = [next(rows)["ID"] for _ in range(60)]  # into the second page of 50
    emu.expire_access_tokens()
    seen += [r["ID"] for r in rows]
    assert len(seen) == len(set(seen)) == 121  # 120 + the portal admin
    assert emu.refresh_count == 1


def test_expiry_before_a_batch_of_writes_resends_it_once(emu, oauth_client):
    oauth_client.call("user.current")
    emu.expire_access_tokens()
    commands = [("crm.deal.add", {"fields": {"TITLE": f"b{n}"}}) for n in range(5)]
    result = oauth_client.batch(commands)
    assert not result.errors and len(result.result) == 5
    assert sorted(r["TITLE"] for r in emu.rows("crm.deal")) == [f"b{n}" for n in range(5)]  # no duplicates
    batches = [r for r in emu.requests if r.method == "batch"]
    assert [r.error for r in batches] == ["expired_token", None]  # refused unrun, then run once
    assert emu.refresh_count == 1


def test_expiry_during_a_sensor_trigger(emu, oauth_conn, monkeypatch):
    from airflow_provider_bitrix24.polling.probes import CrmStageProbe
    from airflow_provider_bitrix24.triggers.bitrix24 import Bitrix24PollTrigger

    deal_id = seed_deals(emu, 1)[0]
    trigger = Bitrix24PollTrigger(CrmStageProbe("deal", deal_id, ["WON"]), poll_interval=0.05)
    admin = Bitrix24Client(emu.url, WebhookAuth(emu.webhook_user_id, emu.webhook_code), **FAST)

    def expire_and_win() -> None:
        emu.expire_access_tokens()
        admin.call("crm.deal.update", {"id": deal_id, "fields": {"STAGE_ID": "WON"}})

    async def run():
        agen = trigger.run()
        timer = threading.Timer(0.3, expire_and_win)
        timer.start()
        try:
            return await asyncio.wait_for(agen.__anext__(), 15)
        finally:
            timer.join()
            await agen.aclose()

    event = asyncio.run(run())
    assert event.payload["status"] == "success" and event.payload["value"]["stage"] == "WON"
    assert emu.refresh_count == 1
    assert any(r.error == "expired_token" for r in emu.requests)


def test_revoked_refresh_token_fails_the_trigger_with_a_clear_message(emu, oauth_conn):
    from airflow_provider_bitrix24.polling.probes import CrmStageProbe
    from airflow_provider_bitrix24.triggers.bitrix24 import Bitrix24PollTrigger

    deal_id = seed_deals(emu, 1)[0]
    emu.portal.refresh_tokens.clear()  # the administrator removed the application's grant
    emu.expire_access_tokens()
    trigger = Bitrix24PollTrigger(CrmStageProbe("deal", deal_id, ["WON"]), poll_interval=0.05)

    async def run():
        agen = trigger.run()
        try:
            return await asyncio.wait_for(agen.__anext__(), 15)
        finally:
            await agen.aclose()

    event = asyncio.run(run())
    message = event.payload["message"]
    assert event.payload["status"] == "error"
    assert (
        "invalid_grant" in message
        and "refresh_token" in message
        and "Authorise the application again" in message
    )
    extra = oauth_conn["extra"]
    assert extra["refresh_token"] not in message and extra["access_token"] not in message


def test_revoked_refresh_token_is_a_clear_actionable_error(emu, tmp_path):
    access, refresh = emu.issue_tokens()
    client = make_oauth_client(emu, tmp_path / "t.json", access, refresh)
    emu.portal.refresh_tokens.clear()
    emu.expire_access_tokens()
    with pytest.raises(Bitrix24AuthError) as info:
        client.call("crm.deal.list")
    message = str(info.value)
    assert info.value.code == "invalid_grant"
    assert "expired (180 days) or was revoked" in message and "'refresh_token'" in message
    for secret in (access, refresh, emu.client_secret):
        assert secret not in message and secret not in repr(info.value)
    assert len([r for r in emu.requests if r.method == "crm.deal.list"]) == 1  # no retry loop


def test_expired_static_token_names_the_fix(emu):
    access, _ = emu.issue_tokens()
    client = Bitrix24Client(emu.url, StaticTokenAuth(access), **FAST)
    emu.expire_access_tokens()
    with pytest.raises(Bitrix24TokenExpired, match="cannot be renewed") as info:
        client.call("crm.deal.list")
    assert access not in str(info.value)
    assert emu.refresh_count == 0 and len(emu.requests) == 1


def test_eight_threads_three_expiries_three_refreshes(emu, oauth_client):
    oauth_client.call("user.current")
    for expiry in range(1, 4):
        emu.expire_access_tokens()
        assert race(8, lambda _i: [oauth_client.call("user.current") for _ in range(3)]) == []
        assert emu.refresh_count == expiry
    assert not any(r.error == "invalid_grant" for r in emu.requests)
    assert sum(r.error == "expired_token" for r in emu.requests) >= 6  # the threads really raced


def test_four_processes_two_threads_each_one_refresh_per_expiry(emu, tmp_path):
    workers = start_workers(emu, 4, tmp_path / "tokens.json", rate_limit=None, backoff_base=0.01)
    try:
        for expiry in range(1, 4):
            emu.expire_access_tokens()
            replies = ask(workers, [{"job": "calls", "threads": 2, "calls": 3}] * 4)
            assert [r["errors"] for r in replies] == [[]] * 4
            assert emu.refresh_count == expiry  # one refresh per expiry across all processes
            assert sum(r["refreshes"] for r in replies) == expiry
    finally:
        logs = stop(workers)
    assert not any(r.error == "invalid_grant" for r in emu.requests)
    assert sum(r.error == "expired_token" for r in emu.requests) >= 8  # processes really raced
    stored = json.loads((tmp_path / "tokens.json").read_text())
    for log in logs:
        assert stored["refresh_token"] not in log and stored["access_token"] not in log
    assert oct((tmp_path / "tokens.json").stat().st_mode & 0o777) == "0o600"


class SlowSharedStore:
    """A store shared by "hosts" without a common lock (like the Airflow Variable store across
    Celery workers or Kubernetes pods) whose writes land a moment after the refresh."""

    def __init__(self, shared: dict, save_delay: float) -> None:
        self.shared, self.save_delay = shared, save_delay
        self._lock = threading.RLock()  # this "host" only

    def load(self):
        return self.shared.get("pair")

    def save(self, pair) -> None:
        time.sleep(self.save_delay)
        self.shared["pair"] = pair

    def lock(self):
        return self._lock


def test_two_hosts_without_a_shared_lock_refresh_once_and_both_continue(emu):
    """Host B's refresh with the refresh token host A just rotated is refused (invalid_grant)
    while A is still saving the new pair: B must wait for that pair, not fail the task."""
    from airflow_provider_bitrix24.client import OAuth2Auth

    access, refresh = emu.issue_tokens()
    shared: dict = {}
    clients = [
        Bitrix24Client(
            emu.url,
            OAuth2Auth(
                emu.client_id,
                emu.client_secret,
                refresh,
                access,
                token_url=emu.token_url,
                store=SlowSharedStore(shared, 0.4),
                rotation_wait=5.0,
            ),
            **FAST,
        )
        for _host in ("A", "B")
    ]
    for client in clients:
        client.call("user.current")
    emu.expire_access_tokens()
    errors = race(2, lambda i: clients[i].call("user.current"))
    assert errors == []
    assert emu.refresh_count == 1


TOKEN_ENDPOINT_BLIPS = {
    "reset_before_reply": dict(kind="drop_before"),
    "503": dict(status=503, error="QUERY_LIMIT_EXCEEDED"),
    "502_html": dict(kind="html", status=502),
    "500": dict(status=500, error=""),
}


@pytest.mark.parametrize("blip", list(TOKEN_ENDPOINT_BLIPS), ids=list(TOKEN_ENDPOINT_BLIPS))
def test_transient_token_endpoint_failure_is_retried(emu, oauth_client, blip):
    oauth_client.call("user.current")
    emu.expire_access_tokens()
    emu.inject_fault(method="oauth/token", **TOKEN_ENDPOINT_BLIPS[blip])
    assert oauth_client.call("user.current")["ID"]
    assert emu.refresh_count == 1
    assert [r.fault or r.error for r in emu.requests if r.path.startswith("/oauth")][
        0
    ] is not None  # it did hit


def test_lost_refresh_reply_is_explained(emu, oauth_client):
    """The token URL rotated the token but its reply never arrived: nothing can recover the new
    pair, so the error must say that, not just "revoked"."""
    oauth_client.call("user.current")
    emu.expire_access_tokens()
    emu.inject_fault(method="oauth/token", kind="drop_after")
    with pytest.raises(Bitrix24AuthError, match="refresh reply was lost") as info:
        oauth_client.call("user.current")
    assert "Authorise the application again" in str(info.value)


def test_token_endpoint_outage_is_transient_for_a_trigger(emu, oauth_conn):
    """A deferrable sensor must keep waiting through an OAuth server outage, not fail."""
    from airflow_provider_bitrix24.hooks.bitrix24 import Bitrix24Hook
    from airflow_provider_bitrix24.polling.probes import CrmStageProbe, check_once

    deal_id = seed_deals(emu, 1)[0]
    hook = Bitrix24Hook()
    probe = CrmStageProbe("deal", deal_id, ["WON"])
    assert check_once(probe, hook).done is False
    emu.expire_access_tokens()
    emu.inject_fault(method="oauth/token", status=502, error="", count=10)
    assert check_once(probe, hook).done is False  # "not yet", not a permanent failure
    emu.clear_faults()
    # the outage ends: the next look refreshes and goes on
    assert check_once(probe, hook).done is False and emu.refresh_count == 1


# ------------------------------------------------------------------ the newest pair is never dropped


class _BrokenStore(MemoryTokenStore):
    """A store whose saves fail while ``broken``, as on a full disk or with the Variable API down."""

    def __init__(self) -> None:
        super().__init__()
        self.broken = True

    def save(self, pair: TokenPair) -> None:
        if self.broken:
            raise OSError(28, "No space left on device")
        super().save(pair)

    def __repr__(self) -> str:
        return "BrokenStore(disk)"


def test_failed_save_keeps_the_rotated_pair_and_saves_it_later(emu, caplog):
    access, refresh = emu.issue_tokens()
    store = _BrokenStore()
    auth = OAuth2Auth(emu.client_id, emu.client_secret, refresh, access, token_url=emu.token_url, store=store)
    with Bitrix24Client(emu.url, auth, **FAST) as client:
        emu.expire_access_tokens()
        with caplog.at_level(logging.ERROR):
            assert client.call("user.current")["ID"]  # refreshed; the save failed, the call did not
        assert "BrokenStore(disk)" in caplog.text  # the error names the store
        assert store.load() is None
        emu.expire_access_tokens()  # the rotated pair lives on in memory: the next expiry refreshes it
        assert client.call("user.current")["ID"]
        assert emu.refresh_count == 2 and not any(r.error == "invalid_grant" for r in emu.requests)
        store.broken = False
        client.call("user.current")  # no expiry: the pending save is tried again and lands
        assert store.load() is not None and store.load().refresh_token in emu.portal.refresh_tokens
        assert emu.refresh_count == 2


@pytest.mark.parametrize("token_store", ["memory", None], ids=["memory", "variable-out-of-reach"])
def test_eight_hooks_on_one_connection_share_the_fallback_store(emu, monkeypatch, token_store):
    """Outside a task the Variable store is out of reach and tokens stay in memory: that memory is
    shared by every hook of the process for one app on one portal, so one expiry is one refresh."""
    _access, refresh = emu.issue_tokens()  # no access token: every hook must refresh before its first call
    extra = {"auth_type": "oauth2", "refresh_token": refresh, "token_url": emu.token_url, "rate_limit": False}
    if token_store:
        extra["token_store"] = token_store
    conn = {
        "conn_type": "bitrix24",
        "host": emu.url,
        "login": emu.client_id,
        "password": emu.client_secret,
        "extra": extra,
    }
    monkeypatch.setenv("AIRFLOW_CONN_BITRIX24_DEFAULT", json.dumps(conn))
    assert race(8, lambda _i: Bitrix24Hook().call("user.current")) == []
    assert emu.refresh_count == 1
    emu.expire_access_tokens()
    assert race(8, lambda _i: Bitrix24Hook().call("user.current")) == []
    assert emu.refresh_count == 2
