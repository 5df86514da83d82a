"""Offline events: reserved by the sensor, confirmed only once processed, never lost."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from airflow.sdk.exceptions import AirflowSensorTimeout, TaskDeferred
from sensor_helpers import defer, first_event, round_trip

from airflow_provider_bitrix24.client.errors import Bitrix24ConfigError
from airflow_provider_bitrix24.emulator.handlers.sensors_support import offline_events, queue_offline_event
from airflow_provider_bitrix24.sensors import Bitrix24OfflineEventsClearOperator, Bitrix24OfflineEventsSensor


@pytest.fixture
def app_hook(oauth_conn):
    from airflow_provider_bitrix24.hooks.bitrix24 import Bitrix24Hook

    return Bitrix24Hook()


def _queue(emu, name, n):
    return [
        queue_offline_event(emu.portal, name, {"FIELDS": {"ID": i}}, message_id=f"{name}-{i}")
        for i in range(n)
    ]


def test_webhook_connection_is_refused_before_any_request(emu, webhook_conn):
    emu.clear_requests()
    with pytest.raises(Bitrix24ConfigError, match="application"):
        Bitrix24OfflineEventsSensor(task_id="s", deferrable=True).execute({})
    with pytest.raises(Bitrix24ConfigError, match="application"):
        Bitrix24OfflineEventsClearOperator(task_id="c", process_id="p").execute({})
    assert emu.requests == []


def test_emulator_refuses_webhook_calls_too(emu, hook):
    from airflow_provider_bitrix24.client.errors import Bitrix24AuthError

    with pytest.raises(Bitrix24AuthError, match="WRONG_AUTH_TYPE"):
        hook.call("event.offline.get", {})


def test_reserve_process_and_clear_only_what_was_processed(emu, app_hook):
    _queue(emu, "ONCRMDEALADD", 3)
    _queue(emu, "ONCRMLEADADD", 1)
    sensor = Bitrix24OfflineEventsSensor(task_id="s", event_names=["OnCrmDealAdd"], batch_size=10)
    batch = sensor.poke({}).xcom_value
    assert {e["EVENT_NAME"] for e in batch["events"]} == {"ONCRMDEALADD"} and len(batch["events"]) == 3
    process_id = batch["process_id"]
    # reserved events are hidden from other readers but still on the portal
    assert sensor.poke({}) is False
    assert sum(1 for e in offline_events(emu.portal) if e["PROCESS_ID"] == process_id) == 3

    processed = [batch["events"][0]["ID"], batch["events"][1]["ID"]]
    result = Bitrix24OfflineEventsClearOperator(
        task_id="c", process_id=process_id, event_ids=processed
    ).execute({})
    assert result == {"process_id": process_id, "cleared": 2, "failed": 0}
    left = app_hook.call("event.offline.get", {"process_id": process_id, "clear": 0})
    assert [e["ID"] for e in left["events"]] == [batch["events"][2]["ID"]]

    # a failed event is flagged, not dropped: only error=1 hands it out again
    failed = batch["events"][2]["MESSAGE_ID"]
    Bitrix24OfflineEventsClearOperator(
        task_id="c", process_id=process_id, event_ids=[], failed_message_ids=[failed]
    ).execute({})
    assert (
        app_hook.call("event.offline.get", {"clear": 0, "filter": {"=EVENT_NAME": "ONCRMDEALADD"}})["events"]
        == []
    )
    assert [
        e["MESSAGE_ID"] for e in app_hook.call("event.offline.get", {"error": 1, "clear": 0})["events"]
    ] == [failed]
    # the lead event was never touched
    assert [
        e["EVENT_NAME"] for e in offline_events(emu.portal) if not e["PROCESS_ID"] and e["ERROR"] == "0"
    ] == ["ONCRMLEADADD"]


def test_clear_everything_of_a_process(emu, app_hook):
    _queue(emu, "ONTASKADD", 2)
    batch = Bitrix24OfflineEventsSensor(task_id="s").poke({}).xcom_value
    Bitrix24OfflineEventsClearOperator(task_id="c", process_id=batch["process_id"]).execute({})
    assert offline_events(emu.portal) == []


def test_same_object_changed_twice_is_one_event(emu):
    first = queue_offline_event(emu.portal, "ONCRMDEALUPDATE", {"ID": 5}, message_id="deal-5")
    second = queue_offline_event(emu.portal, "ONCRMDEALUPDATE", {"ID": 5}, message_id="deal-5")
    assert first == second and len(offline_events(emu.portal)) == 1


def test_deferrable_trigger_only_looks_and_the_worker_reserves(emu, app_hook):
    sensor = Bitrix24OfflineEventsSensor(
        task_id="s", event_names="ONCRMDEALADD", deferrable=True, poke_interval=0.02
    )
    trigger = round_trip(defer(sensor).trigger)
    emu.clear_requests()
    event = first_event(trigger, after=0.1, change=lambda: _queue(emu, "ONCRMDEALADD", 2))
    assert event.payload["status"] == "success"
    assert emu.calls("event.offline.get") == [], "the triggerer must not take events"
    batch = sensor.execute_complete({}, event.payload)
    assert len(batch["events"]) == 2 and batch["process_id"]


def test_deferrable_waits_again_when_another_consumer_took_the_events(emu, app_hook):
    _queue(emu, "ONCRMDEALADD", 1)
    sensor = Bitrix24OfflineEventsSensor(task_id="s", deferrable=True, poke_interval=0.02)
    trigger = round_trip(defer_trigger(sensor))
    event = first_event(trigger)
    app_hook.call("event.offline.get", {"clear": 0})  # someone else reserves them first
    deadline = time.time() + 100
    with pytest.raises(TaskDeferred) as again:
        sensor.execute_complete({}, event.payload, deadline=deadline)
    assert again.value.kwargs == {"deadline": deadline}  # the clock does not restart
    assert again.value.timeout <= timedelta(seconds=100)
    with pytest.raises(AirflowSensorTimeout):
        sensor.execute_complete({}, event.payload, deadline=time.time() - 1)


def defer_trigger(sensor):
    from airflow_provider_bitrix24.triggers.bitrix24 import Bitrix24PollTrigger

    return Bitrix24PollTrigger(sensor.build_probe().to_dict(), sensor.bitrix24_conn_id, sensor.poke_interval)


# -- a fault at each step: reserve, hand over, clear -----------------------------------------


def _reserved(emu) -> dict[str, list[str]]:
    held: dict[str, list[str]] = {}
    for event in offline_events(emu.portal):
        if event["PROCESS_ID"]:
            held.setdefault(event["PROCESS_ID"], []).append(event["ID"])
    return held


def test_lost_reply_of_the_reservation_returns_the_batch_it_reserved(emu, app_hook):
    queued = _queue(emu, "ONCRMDEALADD", 3)
    emu.inject_fault(kind="drop_after", method="event.offline.get", count=1)
    batch = Bitrix24OfflineEventsSensor(task_id="s", batch_size=10).poke({}).xcom_value
    assert [int(e["ID"]) for e in batch["events"]] == queued
    assert _reserved(emu) == {batch["process_id"]: [str(i) for i in queued]}  # the one batch, returned


def test_a_retry_takes_over_the_batch_an_earlier_try_reserved_and_never_handed_on(emu, app_hook):
    from unittest import mock

    queued = _queue(emu, "ONCRMDEALADD", 3)
    first = Bitrix24OfflineEventsSensor(task_id="s", batch_size=10, poke_interval=0.01, timeout=5)
    lost = first.poke({}).xcom_value  # the try died before its result reached XCom
    retry = Bitrix24OfflineEventsSensor(task_id="s", batch_size=10, poke_interval=0.01, timeout=5)
    batch = retry.execute({"ti": mock.MagicMock(try_number=2)})
    assert batch["process_id"] == lost["process_id"]
    assert [int(e["ID"]) for e in batch["events"]] == queued


def test_lost_reply_of_a_clear_is_safe_to_repeat(emu, app_hook):
    from airflow_provider_bitrix24.client.errors import Bitrix24TransportError

    _queue(emu, "ONCRMDEALADD", 3)
    batch = Bitrix24OfflineEventsSensor(task_id="s").poke({}).xcom_value
    clear = Bitrix24OfflineEventsClearOperator(task_id="c", process_id=batch["process_id"])
    emu.inject_fault(kind="drop_after", method="event.offline.clear", count=1)
    with pytest.raises(Bitrix24TransportError):
        clear.execute({})  # the task fails; its retry clears again
    assert clear.execute({})["cleared"] == "all"
    assert offline_events(emu.portal) == []
