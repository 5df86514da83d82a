"""The Drive backup example DAG, run with ``dag.test()`` against the emulator: only the files
changed inside the run's data interval are copied, with their folder structure."""

from __future__ import annotations

import importlib.util
import json
import shutil
from datetime import datetime, timezone
from pathlib import Path

import pytest

DAG_FILE = Path(__file__).resolve().parents[2] / "example_dags" / "example_bitrix24_drive_backup.py"


@pytest.fixture(scope="module")
def airflow_db():
    """A migrated metadata database in the test session's AIRFLOW_HOME (sqlite)."""
    from airflow.utils import db

    db.resetdb()


@pytest.fixture
def dags_folder(airflow_db, monkeypatch, tmp_path_factory):
    """dag.test() runs DAGs from a bundle: one holding just this DAG file (fast, and isolated from
    the other examples)."""
    folder = tmp_path_factory.mktemp("bundle")
    shutil.copy(DAG_FILE, folder / DAG_FILE.name)
    bundle = {
        "name": "drive-backup-example",
        "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
        "kwargs": {"path": str(folder), "refresh_interval": 0},
    }
    monkeypatch.setenv("AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST", json.dumps([bundle]))


def load_dag():
    spec = importlib.util.spec_from_file_location("example_bitrix24_drive_backup", DAG_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.dag


def ts(day: int, hour: int = 12) -> float:
    return datetime(2026, 3, day, hour, tzinfo=timezone.utc).timestamp()


@pytest.mark.timeout(180)
def test_backup_copies_only_files_changed_in_the_interval(
    dags_folder, webhook_conn, emu, drive_state, root_folder, tmp_path
):
    docs = drive_state.folder(drive_state.add_file(root_folder, "placeholder.txt", b"")["PARENT_ID"])
    sub = drive_state._insert("folder", "reports", docs["STORAGE_ID"], docs["ID"], user_id=1)
    drive_state.add_file(root_folder, "old.txt", b"old", update_time=ts(1))
    drive_state.add_file(root_folder, "fresh.txt", b"fresh", update_time=ts(2, 1))
    drive_state.add_file(sub["ID"], "q1.csv", b"a,b\n", update_time=ts(2, 23))
    drive_state.add_file(sub["ID"], "tomorrow.csv", b"later", update_time=ts(3, 0))  # end is exclusive
    drive_state.objects[
        next(o["ID"] for o in drive_state.objects.values() if o["NAME"] == "placeholder.txt")
    ]["UPDATE_TIME"] = ts(1)

    dag = load_dag()
    run = dag.test(
        logical_date=datetime(2026, 3, 3, tzinfo=timezone.utc),  # interval [03-02, 03-03)
        run_conf={"folder_id": root_folder, "backup_root": f"file://{tmp_path}"},
    )
    assert run.state == "success"
    copied = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    assert copied == [f"{root_folder}/fresh.txt", f"{root_folder}/reports/q1.csv"]
    assert (tmp_path / str(root_folder) / "reports" / "q1.csv").read_bytes() == b"a,b\n"


@pytest.mark.timeout(180)
def test_backup_of_an_unchanged_day_succeeds_with_nothing_to_copy(dags_folder, webhook_conn, emu, tmp_path):
    dag = load_dag()
    run = dag.test(
        logical_date=datetime(2026, 3, 5, tzinfo=timezone.utc), run_conf={"backup_root": f"file://{tmp_path}"}
    )
    assert run.state == "success"
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]


def test_runs_get_a_real_data_interval_under_default_settings(monkeypatch):
    """With Airflow's defaults a plain timedelta/cron schedule gives zero-length intervals (the
    run would copy nothing); the DAG pins a one-day data-interval timetable."""
    from airflow.serialization.encoders import coerce_to_core_timetable
    from pendulum import datetime as pdt

    monkeypatch.setenv("AIRFLOW__SCHEDULER__CREATE_DELTA_DATA_INTERVALS", "False")
    monkeypatch.setenv("AIRFLOW__SCHEDULER__CREATE_CRON_DATA_INTERVALS", "False")
    interval = coerce_to_core_timetable(load_dag().timetable).infer_manual_data_interval(
        run_after=pdt(2026, 3, 3, 9)
    )
    assert (interval.start, interval.end) == (pdt(2026, 3, 2, 9), pdt(2026, 3, 3, 9))
