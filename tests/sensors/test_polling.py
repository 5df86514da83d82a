"""The shared probe layer: cursors that move past what was reported, serialization, time values,
and how the sensors turn a trigger timeout into a failure or a skip."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from airflow.sdk.bases.operator import TRIGGER_FAIL_REPR, TriggerFailureReason
from airflow.sdk.exceptions import AirflowSensorTimeout, AirflowSkipException

from airflow_provider_bitrix24.emulator.handlers.disk import drive
from airflow_provider_bitrix24.polling.probes import PROBES, CrmChangesProbe, DriveFolderProbe, Probe
from airflow_provider_bitrix24.polling.timestamps import format_timestamp, parse_timestamp
from airflow_provider_bitrix24.sensors import Bitrix24CrmStageSensor


def test_every_probe_round_trips_through_a_dict():
    samples = {
        "crm_stage": {"entity": "deal", "record_id": 1, "stages": ["WON"]},
        "crm_changes": {"entity": "lead", "since": "2026-01-01T00:00:00+00:00", "seen_ids": [3]},
        "task_status": {"task_id": 5, "statuses": [5]},
        "workflow_finished": {"workflow_id": "abc.1"},
        "drive_folder": {"folder_id": 9, "pattern": "*.csv", "since": None},
        "offline_events": {"event_names": ["ONCRMDEALADD"], "auth_connector": "erp"},
    }
    assert set(samples) == set(PROBES)
    for kind, fields in samples.items():
        probe = Probe.from_dict({"kind": kind, **fields})
        assert Probe.from_dict(probe.to_dict()) == probe
    with pytest.raises(ValueError, match="unknown probe"):
        Probe.from_dict({"kind": "nope"})


def test_time_values():
    assert format_timestamp("2026-03-01 10:00:00") == "2026-03-01T10:00:00+00:00"
    assert (
        format_timestamp(datetime(2026, 3, 1, 10, 0, 0, 500, tzinfo=timezone.utc))
        == "2026-03-01T10:00:00+00:00"
    )
    assert parse_timestamp("2026-03-01T13:00:00+03:00") == datetime(2026, 3, 1, 10, tzinfo=timezone.utc)
    assert parse_timestamp("2026-03-01T10:00:00Z") == datetime(2026, 3, 1, 10, tzinfo=timezone.utc)
    assert parse_timestamp(None) is None
    with pytest.raises(ValueError):
        format_timestamp("")


def test_changes_cursor_moves_past_reported_records_without_losing_same_second_ones(emu, hook):
    stamp = "2026-03-01T10:00:00+00:00"
    emu.seed("crm.deal", [{"TITLE": t, "DATE_MODIFY": stamp} for t in ("a", "b")])
    probe = CrmChangesProbe(entity="deal", since="2026-03-01T09:00:00+00:00")
    first = probe.check(hook)
    assert first.done and first.value == [1, 2]
    follow = first.next_probe
    assert parse_timestamp(follow.since) == parse_timestamp(stamp) and follow.seen_ids == [1, 2]
    assert follow.check(hook).done is False  # nothing new: the same records are not reported twice
    # a record changed later in that same second is still seen
    emu.seed("crm.deal", [{"TITLE": "c", "DATE_MODIFY": stamp}])
    second = follow.check(hook)
    assert second.value == [3] and second.next_probe.seen_ids == [1, 2, 3]
    assert Probe.from_dict(second.next_probe.to_dict()) == second.next_probe


def test_drive_cursor(emu, hook):
    state = drive(emu.portal)
    folder = int(next(iter(state.storages.values()))["ROOT_OBJECT_ID"])
    state.add_file(folder, "a.csv", b"1")
    first = DriveFolderProbe(folder_id=folder, pattern="*.csv").check(hook)
    assert [f["NAME"] for f in first.value] == ["a.csv"]
    assert first.next_probe.check(hook).done is False
    state.add_file(folder, "b.csv", b"2", update_time=parse_timestamp(first.next_probe.since).timestamp() + 5)
    assert [f["NAME"] for f in first.next_probe.check(hook).value] == ["b.csv"]


def test_trigger_timeout_fails_or_skips_like_any_sensor():
    timeout = {"error": TriggerFailureReason.TRIGGER_TIMEOUT}
    hard = Bitrix24CrmStageSensor(task_id="h", record_id=1, stages=["WON"], deferrable=True)
    with pytest.raises(AirflowSensorTimeout):
        hard.resume_execution(TRIGGER_FAIL_REPR, timeout, {})
    soft = Bitrix24CrmStageSensor(task_id="s", record_id=1, stages=["WON"], deferrable=True, soft_fail=True)
    with pytest.raises(AirflowSkipException):
        soft.resume_execution(TRIGGER_FAIL_REPR, timeout, {})
