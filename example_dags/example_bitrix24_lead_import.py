"""
Hourly lead import with de-duplication.

Each hour an upstream system drops a JSON Lines file of leads (one object of lead fields per
line, e-mail as a plain string) at::

    <import_root>/leads/<YYYY-MM-DDTHH>.jsonl

A run covers the hour that has just ended (a ``CronDataIntervalTimetable``; Airflow 3's
``"@hourly"`` would start each run's interval at its end and name the hour still being written).

The import upserts them into CRM leads matched by e-mail (crm.duplicate.findbycomm): a lead whose
e-mail is already known is updated, others are created, and the same e-mail twice in a file
makes one lead. Running an hour again creates nothing twice. Rows that Bitrix24 rejects, or
that have no e-mail, are written next to the input as ``<file>.rejects.jsonl`` with the error.

``write_sample_input`` (on by default so the DAG runs on its own against the emulator) writes a
small sample file, duplicates included, when the hour's file is missing. Turn it off in production.

Needs the ``bitrix24_default`` connection::

    airflow dags test example_bitrix24_lead_import
"""

from __future__ import annotations

import json
import os
from datetime import datetime

from airflow.sdk import DAG, CronDataIntervalTimetable, ObjectStoragePath, Param, task

from airflow_provider_bitrix24.operators.transfers import ObjectStorageToBitrix24Operator

IMPORT_ROOT = os.environ.get("BITRIX24_IMPORT_ROOT", "file:///tmp/bitrix24/imports")
INPUT = "{{ params.import_root }}/leads/{{ data_interval_start.strftime('%Y-%m-%dT%H') }}.jsonl"

SAMPLE_LEADS = [
    {
        "TITLE": "Website enquiry",
        "NAME": "Ada",
        "LAST_NAME": "Lovelace",
        "EMAIL": "ada@example.com",
        "SOURCE_ID": "WEB",
    },
    {
        "TITLE": "Trade show",
        "NAME": "Alan",
        "LAST_NAME": "Turing",
        "EMAIL": "alan@example.com",
        "PHONE": "+44 20 7946 0000",
    },
    {"TITLE": "Website enquiry (again)", "NAME": "Ada", "LAST_NAME": "Lovelace", "EMAIL": "ADA@example.com"},
    {"TITLE": "Call back", "NAME": "Grace", "LAST_NAME": "Hopper", "EMAIL": "grace@example.com"},
    {"TITLE": "No contact details", "NAME": "Anonymous"},
]

with DAG(
    dag_id="example_bitrix24_lead_import",
    # One pool per portal caps the tasks calling it at once (docs/reliability.md); scripts/demo.py
    # creates it: `airflow pools set bitrix24_demo_portal 4 "Tasks calling the demo portal"`.
    default_args={"pool": "bitrix24_demo_portal"},
    description="Hourly upsert of leads from JSON Lines, de-duplicated by e-mail",
    schedule=CronDataIntervalTimetable("0 * * * *", timezone="UTC"),  # the hour that just ended
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    params={
        "import_root": Param(IMPORT_ROOT, type="string", description="Where the hourly files arrive (URL)"),
        "write_sample_input": Param(
            True, type="boolean", description="Write a sample file when the hour's file is missing"
        ),
    },
    tags=["bitrix24", "example", "sync", "demo"],
) as dag:

    @task
    def write_sample_input(path: str, params: dict | None = None) -> str:
        target = ObjectStoragePath(path)
        if params["write_sample_input"] and not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text("".join(json.dumps(lead) + "\n" for lead in SAMPLE_LEADS))
            print(f"wrote {len(SAMPLE_LEADS)} sample leads to {target}")
        return path

    staged = write_sample_input(INPUT)

    upsert = ObjectStorageToBitrix24Operator(
        task_id="upsert_leads",
        path=INPUT,
        entity="lead",
        match_by="email",
        max_failed=100,
    )

    @task
    def report(result: dict) -> dict:
        print(f"created {result['created']}, updated {result['updated']}, rejected {result['failed']}")
        if result["rejects_path"]:
            print(f"rejected rows and their errors: {result['rejects_path']}")
        return {key: result[key] for key in ("created", "updated", "failed")}

    staged >> upsert
    report(upsert.output)
