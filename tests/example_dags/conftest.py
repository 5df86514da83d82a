"""The example-DAG tests create Airflow's metadata database in the session's AIRFLOW_HOME; run them
after every other test so that tests which expect no database never see one.

``dag.test()`` needs a metadata database and the DAG in its bundle: one ``airflow db migrate``
per session in the isolated AIRFLOW_HOME of tests/conftest.py, with the DAGs folder pointed at
example_dags/.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
EXAMPLES = HERE.parents[1] / "example_dags"


@pytest.fixture(scope="session")
def dagbag():
    os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(EXAMPLES)
    from airflow import settings
    from airflow.dag_processing.dagbag import DagBag

    settings.DAGS_FOLDER = str(EXAMPLES)  # read once at import; the dags-folder bundle uses it

    return DagBag(dag_folder=str(EXAMPLES))


@pytest.fixture(scope="session")
def metadata_db(dagbag):
    started = time.monotonic()
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        check=True,
        env=os.environ.copy(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        timeout=240,
    )
    print(f"airflow db migrate: {time.monotonic() - started:.1f}s")


def pytest_collection_modifyitems(session, config, items):
    ours = [item for item in items if HERE in Path(str(item.fspath)).resolve().parents]
    if ours:
        rest = [item for item in items if item not in ours]
        items[:] = rest + ours
