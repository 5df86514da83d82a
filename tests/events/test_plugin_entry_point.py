"""The installed package registers the push endpoint plugin by itself (airflow.plugins entry point)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def test_airflow_discovers_the_push_plugin(tmp_path):
    airflow_bin = Path(sys.executable).with_name("airflow")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW__")}
    env["AIRFLOW_HOME"] = str(tmp_path)  # an empty plugins folder: only the entry point can supply it
    out = subprocess.run(
        [str(airflow_bin), "plugins", "-o", "json"], env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr[-2000:]
    start = out.stdout.index("[")
    plugins = {p["name"]: p for p in json.loads(out.stdout[start:])}
    assert "bitrix24_events" in plugins, sorted(plugins)
    assert "Bitrix24EventsPlugin" in json.dumps(plugins["bitrix24_events"])
