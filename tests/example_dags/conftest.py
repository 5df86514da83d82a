"""The example-DAG tests create Airflow's metadata database in the session's AIRFLOW_HOME; run them
after every other test so that tests which expect no database never see one."""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(session, config, items):
    ours = [item for item in items if HERE in Path(str(item.fspath)).resolve().parents]
    if ours:
        rest = [item for item in items if item not in ours]
        items[:] = rest + ours
