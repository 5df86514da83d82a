"""
Daily incremental CRM export to object storage.

Every day, the deals, leads and contacts that were created or changed during the run's data
interval are written as gzipped JSON Lines, one object per entity and day::

    <export_root>/crm_deal/2026-03-01.jsonl.gz

The schedule is a ``CronDataIntervalTimetable``: each run covers the whole previous day. (Under
Airflow 3's defaults ``schedule="@daily"`` gives runs whose interval starts where it ends, and the
export refuses such an empty window instead of silently writing nothing.)

Re-running a day replaces that day's objects atomically with the same rows, so backfills and
retries are safe; a failed run leaves the previous object in place. ``export_root`` may be any
``ObjectStoragePath`` URL (``file://``, ``s3://``, ``gs://`` ... with its provider installed); it
defaults to the ``BITRIX24_EXPORT_ROOT`` environment variable or a folder under /tmp.

Needs the ``bitrix24_default`` connection. Runs as is against the local emulator::

    airflow dags test example_bitrix24_crm_export
"""

from __future__ import annotations

import os
from datetime import datetime

from airflow.sdk import DAG, CronDataIntervalTimetable, Param, task

from airflow_provider_bitrix24.operators.transfers import Bitrix24ToObjectStorageOperator

EXPORT_ROOT = os.environ.get("BITRIX24_EXPORT_ROOT", "file:///tmp/bitrix24/exports")
ENTITIES = {
    "crm_deal": (
        "crm.deal.list",
        ["ID", "TITLE", "STAGE_ID", "OPPORTUNITY", "CURRENCY_ID", "ASSIGNED_BY_ID", "DATE_MODIFY"],
    ),
    "crm_lead": ("crm.lead.list", ["ID", "TITLE", "STATUS_ID", "SOURCE_ID", "ASSIGNED_BY_ID", "DATE_MODIFY"]),
    "crm_contact": ("crm.contact.list", ["ID", "NAME", "LAST_NAME", "COMPANY_ID", "DATE_MODIFY"]),
}

with DAG(
    dag_id="example_bitrix24_crm_export",
    # One pool per portal caps the tasks calling it at once (docs/reliability.md); scripts/demo.py
    # creates it: `airflow pools set bitrix24_demo_portal 4 "Tasks calling the demo portal"`.
    default_args={"pool": "bitrix24_demo_portal"},
    description="Daily incremental export of CRM deals, leads and contacts to JSON Lines",
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),  # one real day per run
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    params={"export_root": Param(EXPORT_ROOT, type="string", description="Where the files go (URL)")},
    tags=["bitrix24", "example", "sync", "demo"],
) as dag:
    exports = [
        Bitrix24ToObjectStorageOperator(
            task_id=f"export_{name}",
            method=method,
            parameters={"select": select},
            path=f"{{{{ params.export_root }}}}/{name}/{{{{ data_interval_start.strftime('%Y-%m-%d') }}}}.jsonl.gz",
        )
        for name, (method, select) in ENTITIES.items()
    ]

    @task
    def summary(results: list[dict]) -> dict:
        """One line per entity in the log; the total goes to XCom."""
        for result in results:
            print(f"{result['rows']:>8} rows -> {result['path']}")
        return {"rows": sum(r["rows"] for r in results)}

    summary([export.output for export in exports])
