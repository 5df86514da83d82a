"""The README commands' logic, without creating a venv: the venv stamp and the demo's DAG
discovery and log reading (test.py's steps: tests/test_repo_scripts.py)."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


def load(name: str):
    sys.path.insert(0, str(SCRIPTS))
    try:
        spec = importlib.util.spec_from_file_location(f"b24_script_{name}", SCRIPTS / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(SCRIPTS))


def test_venv_stamp_tracks_pyproject(tmp_path, monkeypatch):
    venv = load("_venv")
    first = venv._fingerprint()
    monkeypatch.setattr(venv, "ROOT", tmp_path)
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    assert venv._fingerprint() != first


def test_demo_finds_demo_tagged_dags_and_reads_results(tmp_path):
    demo = load("demo")
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    dags = dict(demo.find_demo_dags(env))
    assert "example_bitrix24_quickstart" in dags
    log = tmp_path / "run.log"
    log.write_text(
        "x [DAG TEST] starting task_id=create_deals map_index=-1 [airflow.sdk]\n"
        "x Done. Returned value was: [1, 2, 3] [airflow.task.operators.x]\n"
        "x [DAG TEST] starting task_id=read_back map_index=-1 [airflow.sdk]\n"
        "x Done. Returned value was: {'created': 3} [airflow.task.operators.x]\n"
    )
    assert demo.task_results(log) == [("create_deals", "[1, 2, 3]"), ("read_back", "{'created': 3}")]
