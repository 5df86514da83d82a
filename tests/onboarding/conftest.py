"""An Airflow home with a migrated metadata database, made once per session and copied by the
tests that run ``airflow`` commands or Variables against a real database."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "example_dags"


def airflow_env(home: Path) -> dict:
    """The environment of a subprocess using the Airflow home ``home`` (no connection or setting
    of the test session leaks in)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_CONN_", "AIRFLOW__"))}
    env.pop("AIRFLOW_HOME", None)
    return {
        **env,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(EXAMPLES),
    }


@pytest.fixture(scope="session")
def airflow_template(tmp_path_factory):
    """An Airflow home with a migrated metadata database, to be copied by each test."""
    home = tmp_path_factory.mktemp("airflow-template")
    result = subprocess.run(
        [str(Path(sys.executable).with_name("airflow")), "db", "migrate"],
        env=airflow_env(home),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return home
