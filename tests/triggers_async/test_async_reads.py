"""Every trigger reads through the async client on the event loop, never the sync client in a thread.

Each test runs one trigger against the emulator over real HTTP until its first event, with the
sync client made unusable and every ``asyncio.to_thread`` recorded: the only functions that may
run in a worker thread are one-offs that read Airflow's or the token store's state (building the
client from the connection, reading an OAuth token, the cursor store, the offline trigger's check
of the connection type), never a look at the portal. Before the change detector, the Drive probe
and the offline-event reads were stated as plans, each of their looks ran in a worker thread.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from airflow_provider_bitrix24.client.aio import AsyncBitrix24Client
from airflow_provider_bitrix24.emulator.handlers.disk import drive
from airflow_provider_bitrix24.emulator.handlers.sensors_support import queue_offline_event
from airflow_provider_bitrix24.hooks.bitrix24 import Bitrix24Hook
from airflow_provider_bitrix24.polling.probes import CrmChangesProbe, DriveFolderProbe, OfflineEventsProbe
from airflow_provider_bitrix24.polling.timestamps import iso_second
from airflow_provider_bitrix24.triggers.bitrix24 import Bitrix24PollTrigger
from airflow_provider_bitrix24.triggers.events import Bitrix24ChangesTrigger, Bitrix24OfflineEventsTrigger

# What may run in a worker thread: reading the connection, a token or a stored cursor, once.
ONE_OFFS = {"<lambda>", "prepare", "renew", "load", "save", "_check_auth"}


class Watch:
    """What a trigger did: functions run in worker threads, methods sent by the async client."""

    def __init__(self) -> None:
        self.threaded: list[str] = []
        self.async_methods: list[str] = []


@pytest.fixture
def watch(monkeypatch) -> Watch:
    seen = Watch()
    to_thread = asyncio.to_thread

    async def recording_to_thread(func, /, *args, **kwargs):
        seen.threaded.append(getattr(func, "__name__", repr(func)))
        return await to_thread(func, *args, **kwargs)

    def no_sync_client(self):
        raise AssertionError("a trigger used the sync client")

    call_raw = AsyncBitrix24Client.call_raw

    async def recording_call_raw(self, method, params=None):
        seen.async_methods.append(method)
        return await call_raw(self, method, params)

    monkeypatch.setattr(asyncio, "to_thread", recording_to_thread)
    monkeypatch.setattr(Bitrix24Hook, "get_conn", no_sync_client)
    monkeypatch.setattr(AsyncBitrix24Client, "call_raw", recording_call_raw)
    return seen


def first_event(trigger: Any, emu, wait_for: str, then) -> dict:
    """The trigger's first event; ``then()`` makes the change once it has looked at ``wait_for``."""

    async def main() -> dict:
        agen = trigger.run()
        task = asyncio.ensure_future(agen.__anext__())
        try:
            deadline = time.monotonic() + 30
            while not emu.calls(wait_for):
                assert time.monotonic() < deadline and not task.done(), "the trigger never looked"
                await asyncio.sleep(0.02)
            then()
            return (await asyncio.wait_for(task, 30)).payload
        finally:
            task.cancel()
            await agen.aclose()

    return asyncio.run(main())


def assert_no_look_in_a_thread(watch: Watch, *methods: str) -> None:
    assert set(watch.threaded) <= ONE_OFFS, watch.threaded
    for method in methods:
        assert method in watch.async_methods, (method, watch.async_methods)


def test_changes_probe_trigger(emu, webhook_conn, watch):
    since = iso_second(int(time.time()) - 60)
    trigger = Bitrix24PollTrigger(CrmChangesProbe("deal", since), poll_interval=0.05)
    ids: list[int] = []
    payload = first_event(
        trigger, emu, "crm.deal.list", lambda: ids.extend(emu.seed("crm.deal", [{"TITLE": "new"}]))
    )
    assert payload["status"] == "success" and payload["value"] == ids, payload
    assert_no_look_in_a_thread(watch, "server.time", "crm.deal.list")


def test_drive_folder_trigger(emu, webhook_conn, watch):
    state = drive(emu.portal)
    folder = int(next(iter(state.storages.values()))["ROOT_OBJECT_ID"])
    trigger = Bitrix24PollTrigger(DriveFolderProbe(folder, "*.csv"), poll_interval=0.05)
    payload = first_event(
        trigger, emu, "disk.folder.getchildren", lambda: state.add_file(folder, "in.csv", b"a")
    )
    assert payload["status"] == "success" and [f["NAME"] for f in payload["value"]] == ["in.csv"]
    assert_no_look_in_a_thread(watch, "disk.folder.getchildren")


def test_offline_events_probe_trigger(emu, oauth_conn, watch):
    trigger = Bitrix24PollTrigger(OfflineEventsProbe.of("ONCRMDEALADD"), poll_interval=0.05)
    payload = first_event(
        trigger,
        emu,
        "event.offline.list",
        lambda: queue_offline_event(emu.portal, "ONCRMDEALADD", {"FIELDS": {"ID": 1}}),
    )
    assert payload == {"status": "success", "value": {"waiting": 1}}
    assert_no_look_in_a_thread(watch, "event.offline.list")


def test_changes_trigger(emu, webhook_conn, watch, tmp_path):
    trigger = Bitrix24ChangesTrigger(
        source="deal",
        settle_seconds=0,
        start_from=iso_second(int(time.time()) - 60),
        poll_interval=0.05,
        commit_delay=0,
        cursor_store={"type": "file", "path": str(tmp_path / "cursors.json")},
    )
    ids: list[int] = []
    payload = first_event(
        trigger,
        emu,
        "crm.deal.list",
        lambda: ids.extend(emu.seed("crm.deal", [{"TITLE": "new"}])),
    )
    assert payload["ids"] == ids, payload
    assert_no_look_in_a_thread(watch, "server.time", "crm.deal.list")


def test_offline_events_trigger(emu, oauth_conn, watch, tmp_path):
    trigger = Bitrix24OfflineEventsTrigger(
        poll_interval=0.05, commit_delay=0, cursor_store={"type": "file", "path": str(tmp_path / "c.json")}
    )
    payload = first_event(
        trigger,
        emu,
        "event.offline.list",
        lambda: queue_offline_event(emu.portal, "ONCRMDEALADD", {"FIELDS": {"ID": 7}}),
    )
    assert payload["count"] == 1 and payload["events"][0]["EVENT_DATA"] == {"FIELDS": {"ID": 7}}
    assert_no_look_in_a_thread(watch, "event.offline.list", "event.offline.get")
