"""Bitrix24OfflineEventsTrigger against the emulator's offline event queue."""

from __future__ import annotations

import pytest

from airflow_provider_bitrix24.client.errors import Bitrix24ConfigError
from airflow_provider_bitrix24.emulator.handlers.sensors_support import offline_events, queue_offline_event
from airflow_provider_bitrix24.sensors.events import Bitrix24OfflineEventsSensor
from airflow_provider_bitrix24.triggers.event_cursor import FileCursorStore
from airflow_provider_bitrix24.triggers.events import Bitrix24OfflineEventsTrigger

from .conftest import drive, drive_quietly


def _queue(emu, name: str, n: int) -> list[int]:
    return [
        queue_offline_event(emu.portal, name, {"FIELDS": {"ID": i}}, message_id=f"{name}-{i}")
        for i in range(n)
    ]


def _trigger(store: dict, **kwargs) -> Bitrix24OfflineEventsTrigger:
    params = dict(poll_interval=0.05, cursor_key="offline", cursor_store=store, batch_size=50, commit_delay=0)
    params.update(kwargs)
    return Bitrix24OfflineEventsTrigger(**params)


def _ids(payloads: list[dict]) -> list[str]:
    return [i for p in payloads for i in p["ids"]]


def test_events_delivered_once_and_cleared_after_hand_over(emu, oauth_conn, file_store):
    queued = {str(i) for i in _queue(emu, "ONCRMDEALUPDATE", 120)}
    payloads = drive(_trigger(file_store), lambda ev: len(_ids(ev)) >= 120)
    assert sorted(_ids(payloads)) == sorted(queued)
    assert [p["count"] for p in payloads] == [50, 50, 20]
    first_event = payloads[0]["events"][0]
    assert first_event["EVENT_NAME"] == "ONCRMDEALUPDATE"
    assert int(first_event["EVENT_DATA"]["FIELDS"]["ID"]) == 0
    assert payloads[0]["message_ids"][0] == "ONCRMDEALUPDATE-0"
    # Whatever was handed over is cleared by the next round at the latest (here: a restart).
    assert drive_quietly(_trigger(file_store)) == []
    assert offline_events(emu.portal) == []
    assert FileCursorStore(file_store["path"]).load("offline") == {}


def test_batch_reserved_but_not_handed_over_comes_again_after_restart(emu, oauth_conn, file_store):
    queued = {str(i) for i in _queue(emu, "ONTASKADD", 30)}
    first = _trigger(file_store, batch_size=10)
    # The trigger reserved a batch and stored that fact, then the triggerer died before taking the event.
    batch = first._reserve(None)
    FileCursorStore(file_store["path"]).save(
        "offline",
        {"phase": "reserved", "process_id": batch["process_id"], "ids": [e["ID"] for e in batch["events"]]},
    )
    reserved = {e["ID"] for e in batch["events"]}

    classpath, kwargs = first.serialize()
    payloads = drive(Bitrix24OfflineEventsTrigger(**kwargs), lambda ev: len(_ids(ev)) >= 30)
    assert set(payloads[0]["ids"]) == reserved and payloads[0]["process_id"] == batch["process_id"]
    assert sorted(_ids(payloads)) == sorted(queued)  # each exactly once
    assert drive_quietly(_trigger(file_store, batch_size=10)) == []
    assert offline_events(emu.portal) == []


def test_event_name_filter_leaves_other_events_queued(emu, oauth_conn, file_store):
    _queue(emu, "ONTASKADD", 3)
    deals = {str(i) for i in _queue(emu, "ONCRMDEALADD", 4)}
    payloads = drive(_trigger(file_store, event_names=["OnCrmDealAdd"]), lambda ev: len(_ids(ev)) >= 4)
    assert set(_ids(payloads)) == deals
    drive_quietly(_trigger(file_store, event_names=["OnCrmDealAdd"]))
    assert sorted(e["EVENT_NAME"] for e in offline_events(emu.portal)) == ["ONTASKADD"] * 3


def test_webhook_connection_is_refused_clearly(emu, webhook_conn, file_store):
    _queue(emu, "ONCRMDEALADD", 1)
    with pytest.raises(Bitrix24ConfigError, match="OAuth"):
        drive(_trigger(file_store), lambda ev: bool(ev), timeout=5)
    assert not [r for r in emu.requests if r.method.startswith("event.offline")]  # refused before any call


def test_validation_and_round_trip():
    trig = Bitrix24OfflineEventsTrigger(event_names="ONCRMDEALUPDATE", batch_size=10)
    assert Bitrix24OfflineEventsTrigger(**trig.serialize()[1]).serialize() == trig.serialize()
    assert trig.event_names == ["ONCRMDEALUPDATE"]
    for wrong in (0, 1001):
        with pytest.raises(ValueError, match="between 1 and 1000"):
            Bitrix24OfflineEventsTrigger(batch_size=wrong)
        with pytest.raises(ValueError, match="between 1 and 1000"):  # the sensor takes the same rule
            Bitrix24OfflineEventsSensor(task_id="wait", batch_size=wrong)


def test_a_clear_the_portal_refuses_does_not_stall_the_watcher(emu, oauth_conn, file_store):
    _queue(emu, "ONCRMLEADADD", 3)
    trig = _trigger(file_store)
    batch = trig._reserve(None)  # handed over before a restart, not yet cleared
    FileCursorStore(file_store["path"]).save(
        "offline",
        {"phase": "delivered", "process_id": batch["process_id"], "ids": [e["ID"] for e in batch["events"]]},
    )
    emu.inject_fault(
        status=400,
        error="INVALID_REQUEST",
        description="process not found",
        method="event.offline.clear",
        count=1,
    )
    later = {
        str(
            queue_offline_event(
                emu.portal, "ONCRMLEADADD", {"FIELDS": {"ID": 99 + i}}, message_id=f"later-{i}"
            )
        )
        for i in range(2)
    }
    payloads = drive(_trigger(file_store), lambda ev: len(_ids(ev)) >= 2)
    assert set(_ids(payloads)) == later  # the delivered batch is not repeated, the new events flow
    assert [r.http_status for r in emu.requests if r.method == "event.offline.clear"][:1] == [400]


# -- a fault at each step: reserve, hand over, clear -----------------------------------------


def _all_drained(emu, file_store, queued: set[str], **kwargs) -> list[str]:
    """Drive until every queued event was delivered, then once more so the last batch is cleared."""
    payloads = drive(_trigger(file_store, **kwargs), lambda ev: set(_ids(ev)) >= queued, timeout=30)
    assert drive_quietly(_trigger(file_store, **kwargs)) == []
    assert offline_events(emu.portal) == [], "events left on the portal (stranded or not cleared)"
    return _ids(payloads)


def test_lost_reply_of_the_reservation_is_found_and_delivered(emu, oauth_conn, file_store):
    queued = {str(i) for i in _queue(emu, "ONCRMDEALUPDATE", 25)}
    # the portal reserves the first ten, then the connection drops before the reply
    emu.inject_fault(kind="drop_after", method="event.offline.get", count=1)
    ids = _all_drained(emu, file_store, queued, batch_size=10)
    assert sorted(ids) == sorted(queued)  # none stranded, none twice


def test_triggerer_killed_while_reserving_delivers_that_batch_after_restart(emu, oauth_conn, file_store):
    queued = {str(i) for i in _queue(emu, "ONCRMDEALUPDATE", 25)}
    first = _trigger(file_store, batch_size=10)
    # The trigger noted what it was about to reserve, the portal reserved it, and the triggerer
    # died before the reply arrived: the process id exists only on the portal.
    expected = first._expected()
    FileCursorStore(file_store["path"]).save("offline", {"phase": "reserving", "expected": expected})
    lost = first._reserve(None)
    payloads = drive(_trigger(file_store, batch_size=10), lambda ev: set(_ids(ev)) >= queued)
    assert payloads[0]["process_id"] == lost["process_id"] and payloads[0]["ids"] == expected
    assert sorted(_ids(payloads)) == sorted(queued)
    assert drive_quietly(_trigger(file_store, batch_size=10)) == []
    assert offline_events(emu.portal) == []


def test_lost_reply_of_a_clear_is_cleared_again(emu, oauth_conn, file_store):
    queued = {str(i) for i in _queue(emu, "ONCRMDEALUPDATE", 25)}
    emu.inject_fault(kind="drop_before", method="event.offline.clear", count=1)
    emu.inject_fault(kind="drop_after", method="event.offline.clear", count=1)
    ids = _all_drained(emu, file_store, queued, batch_size=10)
    assert sorted(ids) == sorted(queued)
