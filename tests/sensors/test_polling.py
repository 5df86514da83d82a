"""The shared probe layer: cursors that move past what was reported, serialization, time values,
and how the sensors turn a trigger timeout into a failure or a skip."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from airflow.sdk.bases.operator import TRIGGER_FAIL_REPR, TriggerFailureReason
from airflow.sdk.exceptions import AirflowSensorTimeout, AirflowSkipException

from airflow_provider_bitrix24.emulator.handlers.disk import drive
from airflow_provider_bitrix24.polling.probes import PROBES, CrmChangesProbe, DriveFolderProbe, Probe
from airflow_provider_bitrix24.polling.timestamps import format_timestamp, iso_second, parse_timestamp
from airflow_provider_bitrix24.sensors import Bitrix24CrmStageSensor


def test_every_probe_round_trips_through_a_dict():
    samples = {
        "crm_stage": {"entity": "deal", "record_id": 1, "stages": ["WON"]},
        "crm_changes": {"entity": "lead", "since": "2026-01-01T00:00:00+00:00", "max_ids": 3},
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


def test_changes_probe_reports_each_record_changed_at_or_after_since(emu, hook):
    stamp = "2026-03-01T10:00:00+00:00"
    emu.seed("crm.deal", [{"TITLE": "old", "DATE_MODIFY": "2026-03-01T09:59:59+00:00"}])
    emu.seed("crm.deal", [{"TITLE": t, "DATE_MODIFY": stamp} for t in ("a", "b")])
    assert CrmChangesProbe(entity="deal", since=stamp).check(hook).value == [2, 3]
    assert CrmChangesProbe(entity="deal", since="2026-03-01T10:00:01+00:00").check(hook).done is False


def test_drive_probe_reports_files_changed_at_or_after_since(emu, hook):
    state = drive(emu.portal)
    folder = int(next(iter(state.storages.values()))["ROOT_OBJECT_ID"])
    state.add_file(folder, "a.csv", b"1")
    state.add_file(folder, "a.txt", b"1")
    first = DriveFolderProbe(folder_id=folder, pattern="*.csv").check(hook)
    assert [f["NAME"] for f in first.value] == ["a.csv"]
    since = parse_timestamp(first.value[0]["UPDATE_TIME"]).timestamp() + 5
    later = DriveFolderProbe(folder_id=folder, pattern="*.csv", since=iso_second(int(since)))
    assert later.check(hook).done is False
    state.add_file(folder, "b.csv", b"2", update_time=since)
    assert [f["NAME"] for f in later.check(hook).value] == ["b.csv"]


def test_trigger_timeout_fails_or_skips_like_any_sensor():
    timeout = {"error": TriggerFailureReason.TRIGGER_TIMEOUT}
    hard = Bitrix24CrmStageSensor(task_id="h", record_id=1, stages=["WON"], deferrable=True)
    with pytest.raises(AirflowSensorTimeout):
        hard.resume_execution(TRIGGER_FAIL_REPR, timeout, {})
    soft = Bitrix24CrmStageSensor(task_id="s", record_id=1, stages=["WON"], deferrable=True, soft_fail=True)
    with pytest.raises(AirflowSkipException):
        soft.resume_execution(TRIGGER_FAIL_REPR, timeout, {})
