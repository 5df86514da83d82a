"""
Incremental backup of a Bitrix24 Drive folder to object storage.

Every run copies the files of one Drive folder (and all its sub-folders) whose ``UPDATE_TIME``
falls inside the run's data interval, keeping their relative paths::

    <backup_root>/<folder id>/<path inside the folder>

A file that changed again later is copied again by the run whose interval holds the change, so a
chain of daily runs keeps the backup current; a backfill re-copies exactly its days. Nothing is
ever deleted on either side, and the DAG only reads from the portal.

How it works: ``find_changed_files`` walks the folder tree (one ``disk.folder.getchildren`` page
of 50 items per request) and picks the files changed in the interval; ``download`` is a mapped
:class:`~airflow_provider_bitrix24.operators.disk.DiskDownloadOperator`, one task instance per
file, which streams the file from its ``DOWNLOAD_URL`` (memory stays flat for any size), checks
the size and removes a partial copy if the transfer breaks off, so a retry starts clean.

Params: ``folder_id`` (0 = the root of the company's shared drive, the ``common`` storage) and ``backup_root`` (any ``ObjectStoragePath`` URL: ``file://``, ``s3://``... with its provider
installed; default ``BITRIX24_BACKUP_ROOT`` or ``file:///tmp/bitrix24/drive-backup``).

Needs the ``bitrix24_default`` connection (scope ``disk``). Runs as is against the emulator::

    airflow dags test example_bitrix24_drive_backup
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from airflow.sdk import DAG, DeltaDataIntervalTimetable, Param, task

from airflow_provider_bitrix24.operators.disk import DiskDownloadOperator

BACKUP_ROOT = os.environ.get("BITRIX24_BACKUP_ROOT", "file:///tmp/bitrix24/drive-backup")

with DAG(
    dag_id="example_bitrix24_drive_backup",
    # One pool per portal caps the tasks calling it at once (docs/reliability.md); scripts/demo.py
    # creates it: `airflow pools set bitrix24_demo_portal 4 "Tasks calling the demo portal"`.
    default_args={"pool": "bitrix24_demo_portal"},
    description="Copy the Drive files changed in each day to object storage",
    schedule=DeltaDataIntervalTimetable(timedelta(days=1)),  # a real one-day data interval per run
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    params={
        "folder_id": Param(
            0, type="integer", description="Drive folder to back up (0: the shared drive's root)"
        ),
        "backup_root": Param(BACKUP_ROOT, type="string", description="Where the copies go (URL)"),
    },
    tags=["bitrix24", "example", "disk", "demo"],
) as dag:

    @task
    def find_changed_files(params: dict, data_interval_start=None, data_interval_end=None) -> list[dict]:
        """Arguments for one download per file changed in [data_interval_start, data_interval_end)."""
        from airflow_provider_bitrix24.client.files import Drive
        from airflow_provider_bitrix24.hooks.bitrix24 import Bitrix24Hook

        drive = Drive(Bitrix24Hook().get_conn())
        folder_id = int(params["folder_id"])
        if not folder_id:
            shared = drive.client.paginate("disk.storage.getlist", {"filter": {"ENTITY_TYPE": "common"}})
            folder_id = int(next(iter(shared))["ROOT_OBJECT_ID"])
        root = f"{str(params['backup_root']).rstrip('/')}/{folder_id}"
        changed = [
            {"file_id": int(item["ID"]), "output_path": f"{root}/{path}"}
            for path, item in drive.modified_files(folder_id, data_interval_start, data_interval_end)
        ]
        print(
            f"{len(changed)} files changed in folder {folder_id} between {data_interval_start} and {data_interval_end}"
        )
        return changed

    copies = DiskDownloadOperator.partial(task_id="download", retries=2).expand_kwargs(find_changed_files())

    @task(trigger_rule="none_failed")
    def summary(results: list[dict] | None = None) -> dict:
        """Totals of the run (an interval without changes skips ``download`` and reports 0)."""
        results = [results[i] for i in range(len(results))] if results else []  # len() first: one count query
        total = sum(int(r["size"]) for r in results)
        for result in results:
            print(f"{result['size']:>12} bytes -> {result['path']}")
        return {"files": len(results), "bytes": total}

    summary(copies.output)
