"""Bitrix24ToObjectStorageOperator: exact incremental row sets, atomic replacement, streaming."""

from __future__ import annotations

import gzip
import json
import time
from datetime import datetime, timedelta, timezone

import pytest
from airflow.sdk import ObjectStoragePath

from airflow_provider_bitrix24.client.errors import Bitrix24AccessDenied
from airflow_provider_bitrix24.operators import transfers
from airflow_provider_bitrix24.operators.transfers import Bitrix24ToObjectStorageOperator

DAY = datetime(2026, 3, 1, tzinfo=timezone.utc)
ROWS = 50_000
# Deal n was last modified n minutes after DAY - 10 days: about 1,440 deals per day.
FIRST = DAY - timedelta(days=10)


def modified_at(deal_id: int) -> datetime:
    return FIRST + timedelta(minutes=deal_id)


def factory(deal_id: int) -> dict:
    return {
        "TITLE": f"Deal {deal_id}",
        "STAGE_ID": "NEW",
        "OPPORTUNITY": deal_id % 1000,
        "DATE_CREATE": FIRST.isoformat(),
        "DATE_MODIFY": modified_at(deal_id).isoformat(),
    }


def interval_context(start: datetime, end: datetime) -> dict:
    return {"data_interval_start": start, "data_interval_end": end}


def read_ids(path: ObjectStoragePath) -> list[int]:
    raw = path.read_bytes()
    text = gzip.decompress(raw).decode() if path.name.endswith(".gz") else raw.decode()
    return [int(json.loads(line)["ID"]) for line in text.splitlines()]


@pytest.fixture
def deals(emu, webhook_conn):
    emu.seed_generated("crm.deal", ROWS, factory)
    return emu


def test_export_interval_exact_rows_rerun_identical_and_fault_keeps_previous(deals, tmp_path):
    target = ObjectStoragePath(f"file://{tmp_path}/deals/2026-03-01.jsonl.gz")
    start, end = DAY - timedelta(days=20), DAY + timedelta(days=30)  # most of the table
    expected = [i for i in range(1, ROWS + 1) if start <= modified_at(i) < end]
    op = Bitrix24ToObjectStorageOperator(
        task_id="export",
        method="crm.deal.list",
        path=str(target),
        parameters={"select": ["ID", "TITLE", "DATE_MODIFY"]},
    )

    began = time.monotonic()
    result = op.execute(interval_context(start, end))
    elapsed = time.monotonic() - began
    assert result == {"path": str(target), "rows": len(expected)}
    assert read_ids(target) == expected  # no loss, no duplicates, ID order
    first = target.read_bytes()

    # a re-run of the same interval yields a byte-identical object
    op.execute(interval_context(start, end))
    assert target.read_bytes() == first

    # a fault midway (every window is requested at once, so the sixth request fails after the
    # first windows were written): the export fails, the previous object stays intact, no temp
    # file is left
    written = []
    real_write = transfers._LineWriter.write

    def counting_write(self, record):
        real_write(self, record)
        written.append(self.rows)

    deals.inject_fault(status=403, error="ACCESS_DENIED", description="revoked", count=1, skip=5)
    transfers._LineWriter.write = counting_write
    try:
        with pytest.raises(Bitrix24AccessDenied):
            op.execute(interval_context(start, end))
    finally:
        transfers._LineWriter.write = real_write
    assert 0 < len(written) < len(expected)
    assert target.read_bytes() == first
    assert [p.name for p in target.parent.iterdir()] == [target.name]
    assert elapsed < 30, f"50k-row export took {elapsed:.1f}s"


def test_incremental_day_and_full_export(deals, tmp_path):
    day_path = ObjectStoragePath(f"file://{tmp_path}/day.jsonl")
    op = Bitrix24ToObjectStorageOperator(
        task_id="day", method="crm.deal.list", path=str(day_path), parameters={"select": ["ID"]}
    )
    result = op.execute(interval_context(DAY, DAY + timedelta(days=1)))
    expected = [i for i in range(1, ROWS + 1) if DAY <= modified_at(i) < DAY + timedelta(days=1)]
    assert result["rows"] == len(expected) == 1440
    assert read_ids(day_path) == expected

    full_path = ObjectStoragePath(f"file://{tmp_path}/all.jsonl")
    full = Bitrix24ToObjectStorageOperator(
        task_id="full",
        method="crm.deal.list",
        path=str(full_path),
        incremental=False,
        parameters={"select": ["ID"], "filter": {"<=ID": 3000}},
    )
    assert full.execute({})["rows"] == 3000


def test_incremental_needs_an_interval(webhook_conn, tmp_path):
    op = Bitrix24ToObjectStorageOperator(
        task_id="x", method="crm.deal.list", path=f"file://{tmp_path}/x.jsonl"
    )
    with pytest.raises(ValueError, match="data interval"):
        op.execute({})


def test_empty_interval_fails_with_the_fix_and_sends_nothing(emu, webhook_conn, tmp_path):
    """Airflow 3's default "@daily" runs have start == end: refuse instead of exporting nothing."""
    target = tmp_path / "x.jsonl"
    op = Bitrix24ToObjectStorageOperator(task_id="x", method="crm.deal.list", path=f"file://{target}")
    emu.clear_requests()
    with pytest.raises(ValueError, match="data interval is empty") as caught:
        op.execute(interval_context(DAY, DAY))
    assert "CronDataIntervalTimetable" in str(caught.value) and "incremental=False" in str(caught.value)
    assert emu.calls("crm.deal.list") == [] and not target.exists()


def test_action_id_resolves_to_its_list_method():
    op = Bitrix24ToObjectStorageOperator(task_id="x", action="crm_deal_get_all", path="file:///tmp/x.jsonl")
    assert op.method == "crm.deal.list"
    with pytest.raises(ValueError, match="not a single paged list"):
        Bitrix24ToObjectStorageOperator(task_id="y", action="crm_deal_get", path="file:///tmp/x.jsonl")


def test_crm_items_use_updated_time(emu, webhook_conn, tmp_path):
    from airflow_provider_bitrix24.hooks.bitrix24 import Bitrix24Hook

    hook = Bitrix24Hook()
    ids = [
        hook.call("crm.item.add", {"entityTypeId": 2, "fields": {"title": f"i{n}"}})["item"]["id"]
        for n in range(3)
    ]
    now = datetime.now(timezone.utc)
    path = ObjectStoragePath(f"file://{tmp_path}/items.jsonl")
    op = Bitrix24ToObjectStorageOperator(
        task_id="items",
        method="crm.item.list",
        path=str(path),
        parameters={"entityTypeId": 2, "select": ["id", "title"]},
    )
    assert op.execute(interval_context(now - timedelta(hours=1), now + timedelta(hours=1)))["rows"] == 3
    assert [json.loads(line)["id"] for line in path.read_text().splitlines()] == ids
    assert op.execute(interval_context(now + timedelta(hours=1), now + timedelta(hours=2)))["rows"] == 0


def test_tasks_export_filters_on_changed_date(emu, webhook_conn, tmp_path):
    from airflow_provider_bitrix24.hooks.bitrix24 import Bitrix24Hook

    hook = Bitrix24Hook()
    ids = [
        int(hook.call("tasks.task.add", {"fields": {"TITLE": f"t{n}", "RESPONSIBLE_ID": 1}})["task"]["id"])
        for n in range(3)
    ]
    now = datetime.now(timezone.utc)
    path = ObjectStoragePath(f"file://{tmp_path}/tasks.jsonl")
    op = Bitrix24ToObjectStorageOperator(
        task_id="tasks",
        method="tasks.task.list",
        path=str(path),
        parameters={"select": ["ID", "TITLE", "CHANGED_DATE"]},
    )
    assert op.execute(interval_context(now - timedelta(hours=1), now + timedelta(hours=1)))["rows"] == 3
    assert [int(json.loads(line)["id"]) for line in path.read_text().splitlines()] == ids
    assert op.execute(interval_context(now - timedelta(hours=3), now - timedelta(hours=2)))["rows"] == 0


def test_get_all_output_file_is_replaced_only_by_a_complete_export(emu, webhook_conn, tmp_path):
    from airflow_provider_bitrix24.operators import operator_class

    emu.seed_generated("crm.deal", 6000, lambda i: {"TITLE": f"Deal {i}"})
    target = tmp_path / "deals.jsonl"
    op = operator_class("crm_deal_get_all")(task_id="all", output_path=str(target))
    assert op.execute({})["count"] == 6000
    complete = target.read_bytes()
    # the portal breaks down after the first request: the export fails, the complete file stays
    emu.inject_fault(status=403, error="ACCESS_DENIED", description="revoked", count=1, skip=1)
    with pytest.raises(Exception, match="ACCESS_DENIED|revoked"):
        op.execute({})
    assert target.read_bytes() == complete
    assert [p.name for p in tmp_path.iterdir()] == ["deals.jsonl"]


KILLED_EXPORT = """
import sys
from datetime import datetime, timezone
from airflow_provider_bitrix24.operators.transfers import Bitrix24ToObjectStorageOperator
op = Bitrix24ToObjectStorageOperator(task_id="export", method="crm.deal.list", path=sys.argv[1])
op.execute({"data_interval_start": datetime(2000, 1, 1, tzinfo=timezone.utc),
            "data_interval_end": datetime(2100, 1, 1, tzinfo=timezone.utc)})
"""


def test_next_run_sweeps_the_temporary_a_killed_run_left(deals, tmp_path):
    import os
    import signal
    import subprocess
    import sys

    target = tmp_path / "deals.jsonl"
    # the portal holds one reply for a minute, so the task is mid-export when it is killed
    deals.inject_fault(kind="delay", delay=30, method="crm.deal.list", count=1, skip=2)
    child = subprocess.Popen([sys.executable, "-c", KILLED_EXPORT, f"file://{target}"], env=os.environ.copy())
    try:
        deadline = time.monotonic() + 60
        while not list(tmp_path.glob(".deals.jsonl.*.tmp")) and time.monotonic() < deadline:
            assert child.poll() is None, "the export ended before it could be killed"
            time.sleep(0.05)
        assert list(tmp_path.glob(".deals.jsonl.*.tmp")), "no temporary appeared"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert not target.exists() and len(list(tmp_path.glob(".deals.jsonl.*.tmp"))) == 1
    deals.clear_faults()

    op = Bitrix24ToObjectStorageOperator(
        task_id="export", method="crm.deal.list", path=f"file://{target}", incremental=False
    )
    assert op.execute({})["rows"] == ROWS
    assert [p.name for p in tmp_path.iterdir()] == ["deals.jsonl"]


def test_custom_fields_come_with_the_uf_mask(emu, webhook_conn, tmp_path):
    emu.seed("crm.deal", [{"TITLE": "d", "UF_CRM_SOURCE_REF": "ext-1", "DATE_MODIFY": DAY.isoformat()}])
    path = ObjectStoragePath(f"file://{tmp_path}/deals.jsonl")
    op = Bitrix24ToObjectStorageOperator(
        task_id="uf", method="crm.deal.list", path=str(path), parameters={"select": ["*", "UF_*"]}
    )
    op.execute(interval_context(DAY, DAY + timedelta(days=1)))
    (row,) = [json.loads(line) for line in path.read_text().splitlines()]
    assert row["UF_CRM_SOURCE_REF"] == "ext-1" and row["TITLE"] == "d"
    # without the mask, a select that names standard fields leaves custom fields out
    op = Bitrix24ToObjectStorageOperator(
        task_id="no_uf", method="crm.deal.list", path=str(path), parameters={"select": ["ID", "TITLE"]}
    )
    op.execute(interval_context(DAY, DAY + timedelta(days=1)))
    assert "UF_CRM_SOURCE_REF" not in json.loads(path.read_text())
