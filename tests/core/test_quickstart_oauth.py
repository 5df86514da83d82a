"""End to end inside Airflow: the quickstart DAG with an OAuth connection whose access token has
expired. Its three tasks run in separate processes; the first refreshes once and stores the
rotated pair in the default Airflow Variable store, the others start from that pair."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from airflow_provider_bitrix24.hooks.bitrix24 import default_token_key

ROOT = Path(__file__).resolve().parents[2]
DAG_FILE = ROOT / "example_dags" / "example_bitrix24_quickstart.py"


def test_quickstart_dag_with_oauth_and_variable_token_store(emu, tmp_path):
    access, refresh = emu.issue_tokens()
    emu.expire_access_tokens()
    airflow = str(Path(sys.executable).with_name("airflow"))
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(tmp_path),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAG_FILE.parent),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW_CONN_BITRIX24_DEFAULT": json.dumps(
            {
                "conn_type": "bitrix24",
                "host": emu.url,
                "login": emu.client_id,
                "password": emu.client_secret,
                "extra": {
                    "auth_type": "oauth2",
                    "access_token": access,
                    "refresh_token": refresh,
                    "token_url": emu.token_url,
                },
            }
        ),
    }
    env.pop("AIRFLOW__CORE__UNIT_TEST_MODE", None)

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([airflow, *args], env=env, capture_output=True, text=True, timeout=240)

    assert run("db", "migrate").returncode == 0
    result = run("dags", "test", "example_bitrix24_quickstart", "-f", str(DAG_FILE))
    output = result.stdout + result.stderr
    assert result.returncode == 0 and "state=success" in output, output[-3000:]
    assert emu.refresh_count == 1  # three task processes, one refresh
    assert len(emu.rows("crm.deal")) == 3
    for secret in (access, refresh, emu.client_secret):
        assert secret not in output

    stored = json.loads(
        run("variables", "get", default_token_key(emu.url, emu.client_id)).stdout.strip().splitlines()[-1]
    )
    assert stored["refresh_token"] and stored["refresh_token"] != refresh
    assert stored["refresh_token"] in emu.portal.refresh_tokens  # the live (rotated) token was persisted
