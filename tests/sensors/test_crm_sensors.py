"""CRM sensors in poke, reschedule and deferrable modes against the emulator."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from airflow.sdk.exceptions import (
    AirflowException,
    AirflowRescheduleException,
    AirflowSensorTimeout,
    AirflowSkipException,
)
from sensor_helpers import defer, first_event, reschedule_context, round_trip

from airflow_provider_bitrix24.sensors import Bitrix24CrmChangesSensor, Bitrix24CrmStageSensor
from airflow_provider_bitrix24.triggers.bitrix24 import Bitrix24PollTrigger


def _deal(emu, stage="NEW", **fields):
    return emu.seed("crm.deal", [{"TITLE": "Deal", "STAGE_ID": stage, **fields}])[0]


def test_stage_poke_waits_then_returns_the_record(emu, hook):
    deal_id = _deal(emu)
    sensor = Bitrix24CrmStageSensor(
        task_id="won", record_id=deal_id, stages=["WON", "LOSE"], poke_interval=0.01
    )
    assert sensor.poke({}) is False
    hook.call("crm.deal.update", {"id": deal_id, "fields": {"STAGE_ID": "WON"}})
    result = sensor.poke({})
    assert result.is_done
    assert result.xcom_value["id"] == deal_id and result.xcom_value["stage"] == "WON"
    assert result.xcom_value["record"]["TITLE"] == "Deal"


def test_stage_poke_mode_execute_times_out_and_soft_fails(emu, hook):
    deal_id = _deal(emu)
    kwargs = dict(record_id=deal_id, stages="WON", poke_interval=0.01, timeout=0.05)
    with pytest.raises(AirflowSensorTimeout):
        Bitrix24CrmStageSensor(task_id="hard", **kwargs).execute({})
    with pytest.raises(AirflowSkipException):
        Bitrix24CrmStageSensor(task_id="soft", soft_fail=True, **kwargs).execute({})


def test_stage_reschedule_mode_frees_the_slot_until_found(emu, hook):
    deal_id = _deal(emu)
    sensor = Bitrix24CrmStageSensor(
        task_id="r", record_id=deal_id, stages=["WON"], mode="reschedule", poke_interval=5
    )
    with pytest.raises(AirflowRescheduleException):
        sensor.execute(reschedule_context())
    hook.call("crm.deal.update", {"id": deal_id, "fields": {"STAGE_ID": "WON"}})
    assert sensor.execute(reschedule_context())["stage"] == "WON"


def test_stage_deferrable_round_trip_and_complete(emu, hook):
    deal_id = _deal(emu)
    sensor = Bitrix24CrmStageSensor(
        task_id="d", record_id=deal_id, stages=["WON"], deferrable=True, poke_interval=0.02, timeout=30
    )
    deferred = defer(sensor)
    assert deferred.method_name == "execute_complete"
    assert deferred.timeout == timedelta(seconds=30)
    trigger = round_trip(deferred.trigger)
    assert isinstance(trigger, Bitrix24PollTrigger) and trigger.poll_interval == 0.02

    def win():
        hook.call("crm.deal.update", {"id": deal_id, "fields": {"STAGE_ID": "WON"}})

    event = first_event(trigger, after=0.1, change=win)
    assert event.payload["status"] == "success"
    # the original trigger and its clone behave alike on the same portal state
    assert first_event(deferred.trigger).payload == event.payload
    result = sensor.execute_complete({}, event.payload)
    assert result["id"] == deal_id and result["stage"] == "WON"


def test_stage_deferrable_returns_at_once_when_already_there(emu, webhook_conn):
    deal_id = _deal(emu, stage="WON")
    sensor = Bitrix24CrmStageSensor(task_id="d", record_id=deal_id, stages=["WON"], deferrable=True)
    assert sensor.execute({})["stage"] == "WON"


def test_trigger_reports_a_permanent_error_and_sensor_fails_clearly(emu, webhook_conn):
    sensor = Bitrix24CrmStageSensor(
        task_id="missing", record_id=999, stages=["WON"], deferrable=True, poke_interval=0.01
    )
    trigger = round_trip(Bitrix24PollTrigger(sensor.build_probe().to_dict(), poll_interval=0.01))
    event = first_event(trigger)
    assert event.payload["status"] == "error"
    assert "999" in event.payload["message"] or "not found" in event.payload["message"].lower()
    assert emu.webhook_code not in event.payload["message"]
    with pytest.raises(AirflowException, match="waiting on Bitrix24 failed"):
        sensor.execute_complete({}, event.payload)
    soft = Bitrix24CrmStageSensor(
        task_id="soft", record_id=999, stages=["WON"], deferrable=True, soft_fail=True
    )
    with pytest.raises(AirflowSkipException):
        soft.resume_execution("execute_complete", {"event": event.payload}, {})


def test_trigger_rides_out_rate_limits(emu, webhook_conn, monkeypatch):
    # No client-side retries: each look meets the rate limit itself, and the trigger keeps looking.
    conn = {**webhook_conn, "extra": {**webhook_conn["extra"], "max_retries": 0}}
    monkeypatch.setenv("AIRFLOW_CONN_B24_NO_RETRY", json.dumps(conn))
    deal_id = _deal(emu, stage="WON")
    emu.inject_fault(status=503, error="QUERY_LIMIT_EXCEEDED", count=3, method="crm.deal.get")
    trigger = Bitrix24PollTrigger(
        {"kind": "crm_stage", "entity": "deal", "record_id": deal_id, "stages": ["WON"]},
        bitrix24_conn_id="b24_no_retry",
        poll_interval=0.01,
    )
    event = first_event(trigger)
    assert event.payload["status"] == "success"
    assert len([c for c in emu.calls("crm.deal.get") if c.ok]) == 1
    assert len(emu.calls("crm.deal.get")) == 4


def test_item_stage_for_a_smart_process(emu, hook):
    item = hook.call("crm.item.add", {"entityTypeId": 2, "fields": {"title": "as item", "stageId": "NEW"}})[
        "item"
    ]
    sensor = Bitrix24CrmStageSensor(
        task_id="i", entity="item", entity_type_id=2, record_id=item["id"], stages=["WON"]
    )
    assert sensor.poke({}) is False
    hook.call("crm.item.update", {"entityTypeId": 2, "id": item["id"], "fields": {"stageId": "WON"}})
    assert sensor.poke({}).xcom_value["stage"] == "WON"


def test_list_arguments_rendered_as_text_still_work(emu, hook):
    lead = int(hook.call("crm.lead.add", {"fields": {"TITLE": "l", "STATUS_ID": "CONVERTED"}}))
    sensor = Bitrix24CrmStageSensor(task_id="l", entity="lead", record_id="{{ lead }}", stages="{{ stages }}")
    sensor.render_template_fields(
        {"lead": lead, "stages": ["JUNK", "CONVERTED"]}
    )  # renders to "['JUNK', ...]"
    assert sensor.stages == "['JUNK', 'CONVERTED']"
    assert sensor.poke({}).xcom_value["stage"] == "CONVERTED"


def test_lead_status_and_bad_entity():
    with pytest.raises(ValueError, match="no stages"):
        Bitrix24CrmStageSensor(task_id="x", entity="contact", record_id=1, stages=["A"])


def test_changes_sensor_pushes_ids_since_a_point_in_time(emu, hook):
    old = emu.seed("crm.deal", [{"TITLE": "old", "DATE_MODIFY": "2020-01-01T00:00:00+00:00"}])[0]
    sensor = Bitrix24CrmChangesSensor(
        task_id="c", since="2024-01-01T00:00:00+00:00", filter={"CATEGORY_ID": 0}, poke_interval=0.01
    )
    assert sensor.poke({}) is False
    new = hook.call("crm.deal.add", {"fields": {"TITLE": "new"}})
    hook.call("crm.deal.update", {"id": old, "fields": {"TITLE": "touched"}})
    other = hook.call("crm.deal.add", {"fields": {"TITLE": "other pipeline", "CATEGORY_ID": 7}})
    result = sensor.poke({})
    assert sorted(result.xcom_value) == sorted([int(new), old])
    assert int(other) not in result.xcom_value


def test_changes_sensor_deferrable(emu, hook):
    sensor = Bitrix24CrmChangesSensor(
        task_id="c", entity="lead", since="{{ since }}", deferrable=True, poke_interval=0.02
    )
    sensor.render_template_fields({"since": "2024-01-01 00:00:00+00:00"})
    trigger = round_trip(defer(sensor).trigger)
    created = {}

    def add():
        created["id"] = int(hook.call("crm.lead.add", {"fields": {"TITLE": "lead"}}))

    event = first_event(trigger, after=0.1, change=add)
    assert sensor.execute_complete({}, event.payload) == [created["id"]]


def _deals_changed_newest_first(emu, n: int = 5) -> list[int]:
    """Deals 1..n where deal 1 changed last: ID order and change order are opposite."""
    base = "2026-03-01T10:00:{:02d}+00:00"
    return emu.seed("crm.deal", [{"TITLE": f"d{i}", "DATE_MODIFY": base.format(n - i)} for i in range(n)])


def test_changes_sensor_with_max_ids_reports_the_oldest_changes_first(emu, hook):
    ids = _deals_changed_newest_first(emu)
    sensor = Bitrix24CrmChangesSensor(task_id="c", since="2026-03-01T09:00:00+00:00", max_ids=2)
    # deals 5 and 4 changed first; 3..1 come after them, so they are not reported in their place
    assert sensor.poke({}).xcom_value == [ids[4], ids[3]]


def test_changes_trigger_with_max_ids_reports_the_oldest_changes_first(emu, hook):
    ids = _deals_changed_newest_first(emu)
    sensor = Bitrix24CrmChangesSensor(
        task_id="c", since="2026-03-01T09:00:00+00:00", max_ids=2, deferrable=True, poke_interval=0.01
    )
    trigger = Bitrix24PollTrigger(sensor.build_probe().to_dict(), poll_interval=0.01)
    event = first_event(round_trip(trigger))
    assert sensor.execute_complete({}, event.payload) == [ids[4], ids[3]]
