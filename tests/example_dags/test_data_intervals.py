"""Every example DAG that relies on data intervals gets a non-empty one under Airflow's real
defaults (Airflow 3 gives a cron preset such as "@daily" runs whose interval starts where it ends).

The DAGs are loaded in a subprocess with a fresh AIRFLOW_HOME and no test-mode configuration, so
nothing this test session set can hide the defaults.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[2] / "example_dags"

PROBE = r"""
import json, sys
from pathlib import Path

import pendulum
from airflow.dag_processing.dagbag import DagBag
from airflow.sdk import DAG
from airflow.serialization.encoders import coerce_to_core_timetable
from airflow.timetables.base import TimeRestriction

from airflow_provider_bitrix24.operators.transfers import Bitrix24ToObjectStorageOperator

RUN_AFTER = pendulum.datetime(2026, 3, 2, 12, 30, tz="UTC")


def intervals(dag):
    timetable = coerce_to_core_timetable(dag.timetable)
    manual = timetable.infer_manual_data_interval(run_after=RUN_AFTER)
    restriction = TimeRestriction(earliest=dag.start_date, latest=None, catchup=True)
    scheduled = timetable.next_dagrun_info(last_automated_data_interval=None, restriction=restriction)
    as_pair = lambda interval: [interval.start.isoformat(), interval.end.isoformat()]
    return {"manual": as_pair(manual), "scheduled": as_pair(scheduled.data_interval) if scheduled else None}


def uses_intervals(dag):
    text = Path(dag.fileloc).read_text()
    incremental = any(isinstance(t, Bitrix24ToObjectStorageOperator) and t.incremental for t in dag.tasks)
    return incremental or "data_interval" in text


bag = DagBag(dag_folder=sys.argv[1])
with DAG("control_daily_preset", schedule="@daily", start_date=pendulum.datetime(2026, 1, 1, tz="UTC")) as control:
    pass
print(json.dumps({
    "errors": {path: str(error) for path, error in bag.import_errors.items()},
    "dags": {dag_id: {"uses": uses_intervals(dag), **intervals(dag)} for dag_id, dag in bag.dags.items()},
    "control": intervals(control),
}))
"""


def test_interval_dags_get_non_empty_intervals_under_real_defaults(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(AIRFLOW_HOME=str(tmp_path / "airflow-home"), AIRFLOW__CORE__LOAD_EXAMPLES="False")
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, str(EXAMPLES)], env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["errors"] == {}

    # The probe really runs on the defaults: a plain "@daily" gets an empty interval there.
    start, end = report["control"]["manual"]
    assert start == end

    users = {dag_id: info for dag_id, info in report["dags"].items() if info["uses"]}
    assert {
        "example_bitrix24_crm_export",
        "example_bitrix24_lead_import",
        "example_bitrix24_drive_backup",
    } <= set(users)
    for dag_id, info in users.items():
        for kind in ("manual", "scheduled"):
            assert info[kind] is not None, f"{dag_id}: no {kind} run"
            start, end = info[kind]
            assert start < end, f"{dag_id}: empty {kind} data interval {start} .. {end}"
