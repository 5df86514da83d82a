"""Task, workflow and Drive sensors in poke and deferrable modes against the emulator."""

from __future__ import annotations

import time

import pytest
from airflow.sdk.exceptions import AirflowRescheduleException
from sensor_helpers import defer, first_event, reschedule_context, round_trip

from airflow_provider_bitrix24.emulator.handlers.disk import drive
from airflow_provider_bitrix24.emulator.handlers.sensors_support import finish_workflow, start_workflow
from airflow_provider_bitrix24.sensors import (
    Bitrix24DriveFileSensor,
    Bitrix24TaskStatusSensor,
    Bitrix24WorkflowSensor,
)

# ---------------------------------------------------------------------------- tasks


def _task(hook, status=2):
    task = hook.call("tasks.task.add", {"fields": {"TITLE": "Check", "RESPONSIBLE_ID": 1}})["task"]
    if status != 2:
        hook.call("tasks.task.update", {"taskId": task["id"], "fields": {"STATUS": status}})
    return int(task["id"])


def test_task_status_poke(emu, hook):
    task_id = _task(hook)
    sensor = Bitrix24TaskStatusSensor(task_id="t", bitrix24_task_id=task_id, statuses=["completed", 4])
    assert sensor.poke({}) is False
    hook.call("tasks.task.update", {"taskId": task_id, "fields": {"STATUS": 5}})
    assert sensor.poke({}).xcom_value == {"id": task_id, "status": 5}


def test_task_status_reschedule_and_deferrable(emu, hook):
    task_id = _task(hook)
    rescheduling = Bitrix24TaskStatusSensor(task_id="r", bitrix24_task_id=task_id, mode="reschedule")
    with pytest.raises(AirflowRescheduleException):
        rescheduling.execute(reschedule_context())

    sensor = Bitrix24TaskStatusSensor(
        task_id="t", bitrix24_task_id=task_id, deferrable=True, poke_interval=0.02
    )
    original = defer(sensor).trigger
    clone = round_trip(original)

    def complete():
        hook.call("tasks.task.update", {"taskId": task_id, "fields": {"STATUS": 5}})

    event = first_event(clone, after=0.1, change=complete)
    assert sensor.execute_complete({}, event.payload) == {"id": task_id, "status": 5}
    assert first_event(original).payload == event.payload


def test_task_status_names_are_checked():
    with pytest.raises(ValueError, match="unknown task status"):
        Bitrix24TaskStatusSensor(task_id="t", bitrix24_task_id=1, statuses=["done-ish"])


# ---------------------------------------------------------------------------- workflows


def test_workflow_poke_until_finished(emu, hook):
    workflow_id = hook.call(
        "bizproc.workflow.start", {"TEMPLATE_ID": 7, "DOCUMENT_ID": ["crm", "CCrmDocumentDeal", "DEAL_1"]}
    )
    sensor = Bitrix24WorkflowSensor(task_id="w", workflow_id=workflow_id)
    assert sensor.poke({}) is False
    finish_workflow(emu.portal, workflow_id)
    assert sensor.poke({}).xcom_value == {"id": workflow_id, "finished": True}


def test_workflow_deferrable(emu, hook):
    workflow_id = start_workflow(emu.portal, runs_for=0.3)
    sensor = Bitrix24WorkflowSensor(task_id="w", workflow_id=workflow_id, deferrable=True, poke_interval=0.05)
    trigger = round_trip(defer(sensor).trigger)
    started = time.monotonic()
    event = first_event(trigger)
    assert time.monotonic() - started >= 0.1
    assert sensor.execute_complete({}, event.payload)["finished"] is True


# ---------------------------------------------------------------------------- Drive


def _root_folder(emu) -> int:
    state = drive(emu.portal)
    storage = next(iter(state.storages.values()))
    return int(storage["ROOT_OBJECT_ID"])


def test_drive_file_appears_and_changes(emu, hook):
    folder = _root_folder(emu)
    state = drive(emu.portal)
    state.add_file(folder, "old.csv", b"a", update_time=time.time() - 7200)
    state.add_file(folder, "notes.txt", b"x")
    since = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(time.time() - 3600))
    sensor = Bitrix24DriveFileSensor(task_id="f", folder_id=folder, pattern="*.csv", since=since)
    assert sensor.poke({}) is False
    hook.call(
        "disk.folder.uploadfile",
        {"id": folder, "data": {"NAME": "report.csv"}, "fileContent": ["report.csv", "YWJj"]},
    )
    files = sensor.poke({}).xcom_value
    assert [f["NAME"] for f in files] == ["report.csv"]
    # without `since`, any matching file counts
    assert {
        f["NAME"]
        for f in Bitrix24DriveFileSensor(task_id="g", folder_id=folder, pattern="*.csv").poke({}).xcom_value
    } == {"old.csv", "report.csv"}


def test_drive_deferrable(emu, hook):
    folder = _root_folder(emu)
    sensor = Bitrix24DriveFileSensor(
        task_id="f",
        folder_id=folder,
        pattern="in_*.json",
        since="2020-01-01",
        deferrable=True,
        poke_interval=0.02,
    )
    trigger = round_trip(defer(sensor).trigger)

    def upload():
        hook.call(
            "disk.folder.uploadfile",
            {"id": folder, "data": {"NAME": "in_1.json"}, "fileContent": ["in_1.json", "e30="]},
        )

    event = first_event(trigger, after=0.1, change=upload)
    assert [f["NAME"] for f in sensor.execute_complete({}, event.payload)] == ["in_1.json"]
