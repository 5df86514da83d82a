"""Manual end-to-end check (a script, not a test: a few minutes, ~2 GB of RAM).

Runs ``airflow standalone`` (scheduler, triggerer, dag-processor, API server, LocalExecutor) with
only the deal-won example DAG, against an in-process emulator, and checks that

1. the watcher's trigger stores its cursor in an Airflow Variable from inside the triggerer;
2. moving a deal to WON creates an asset-triggered run, and that run succeeds;
3. a deal won while Airflow is stopped is delivered after the restart, once, in a run of its own;
4. a Bitrix24 event call POSTed to the push endpoint (the provider's plugin, mounted by the real API
   server from the plugins folder) is accepted once, refused when replayed, and starts a run.

Run: ``python tests/events/manual_e2e_standalone.py`` with the project's virtualenv.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

from airflow_provider_bitrix24.emulator import Emulator

REPO = Path(__file__).resolve().parents[2]
DAG_ID = "example_bitrix24_event_deal_won"
CURSOR_VARIABLE = "bitrix24_cursor_bitrix24_deals_won"
AIRFLOW = str(Path(sys.executable).with_name("airflow"))
API_PORT = "18093"
PUSH_TOKEN = "e2e-application-token-0123456789"


def airflow_env(home: Path, dags: Path, emu: Emulator) -> dict:
    conn = {
        "conn_type": "bitrix24",
        "host": emu.url,
        "login": str(emu.webhook_user_id),
        "password": emu.webhook_code,
        "extra": {"auth_type": "webhook"},
    }
    env = {
        **os.environ,
        "PATH": str(Path(sys.executable).parent)
        + os.pathsep
        + os.environ["PATH"],  # standalone spawns `airflow`
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__BITRIX24__PUSH_ENDPOINT_ENABLED": "True",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW__API__PORT": API_PORT,
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://localhost:{API_PORT}/execution/",
        "AIRFLOW_CONN_BITRIX24_DEFAULT": json.dumps(conn),
        "AIRFLOW_CONN_B24_PUSH": json.dumps(
            {
                "conn_type": "bitrix24",
                "extra": {"application_token": PUSH_TOKEN, "push_assets": ["bitrix24/deals_won"]},
            }
        ),
    }
    env.pop("AIRFLOW__CORE__UNIT_TEST_MODE", None)
    return env


def wait_for(what: str, check, started: float, timeout: float, every: float = 5.0):
    while time.time() - started < timeout:
        value = check()
        if value:
            print(f"{time.time() - started:5.0f}s {what}", flush=True)
            return value
        time.sleep(every)
    raise SystemExit(f"timed out waiting for: {what}")


def main() -> None:
    home = Path(tempfile.mkdtemp(prefix="b24-e2e-"))
    dags = home / "dags"
    dags.mkdir()
    (dags / f"{DAG_ID}.py").symlink_to(REPO / "example_dags" / f"{DAG_ID}.py")
    (home / "plugins").mkdir()
    (home / "plugins" / "bitrix24_events.py").write_text(
        "from airflow_provider_bitrix24.plugins.bitrix24 import Bitrix24EventsPlugin  # noqa: F401\n"
    )
    emu = Emulator(port=0)
    emu.configure(rate_limit=None, operating_limit=None)
    emu.start()
    env = airflow_env(home, dags, emu)

    def af(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([AIRFLOW, *args], env=env, capture_output=True, text=True, timeout=120)

    def finished_runs() -> list:
        out = af("dags", "list-runs", DAG_ID, "-o", "json").stdout
        lines = [line for line in out.splitlines() if line.startswith("[{")]
        return [r for r in json.loads(lines[-1])] if lines else []

    deal, second_deal, pushed_deal = emu.seed(
        "crm.deal", [{"TITLE": f"E2E deal {n}", "STAGE_ID": "NEW", "OPPORTUNITY": 777 * n} for n in (1, 2, 3)]
    )
    log = open(home / "standalone.log", "a")

    def start() -> subprocess.Popen:
        proc = subprocess.Popen(
            [AIRFLOW, "standalone"], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        print(f"AIRFLOW_HOME={home} standalone pid {proc.pid}", flush=True)
        return proc

    def stop(proc: subprocess.Popen) -> None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)

    def win(deal_id: int) -> float:
        requests.post(
            f"{emu.webhook_url.rstrip('/')}/crm.deal.update.json",
            json={"id": deal_id, "fields": {"STAGE_ID": "WON"}},
            timeout=10,
        ).raise_for_status()
        print(f"deal {deal_id} moved to WON", flush=True)
        return time.time()

    def deals_of(run: dict) -> str:
        task_log = (
            home
            / "logs"
            / f"dag_id={DAG_ID}"
            / f"run_id={run['run_id']}"
            / "task_id=won_deal_ids"
            / "attempt=1.log"
        )
        return next(
            (json.loads(line)["event"] for line in task_log.read_text().splitlines() if "Deals won" in line),
            "?",
        )

    proc = start()
    started = time.time()
    try:
        wait_for("DAG unpaused", lambda: DAG_ID in af("dags", "unpause", DAG_ID).stdout, started, 240)
        print(
            wait_for(
                "cursor Variable written by the triggerer",
                lambda: af("variables", "get", CURSOR_VARIABLE).stdout.strip(),
                started,
                300,
                3,
            )
        )
        moved = win(deal)
        runs = wait_for(
            "first asset-triggered run finished",
            lambda: [r for r in finished_runs() if r["state"] in ("success", "failed")],
            moved,
            180,
        )
        stop(proc)
        print("standalone stopped", flush=True)
        win(second_deal)  # while nothing watches
        proc = start()
        restarted = time.time()
        runs = wait_for(
            "second run finished",
            lambda: (
                [r for r in finished_runs() if r["state"] in ("success", "failed")][1:] and finished_runs()
            ),
            restarted,
            300,
        )
        time.sleep(40)  # one more poll: a repeat would show up as a third run
        # push: the deal is won and the portal calls the endpoint; the watcher sees the change too
        win(pushed_deal)
        body = {
            "event": "ONCRMDEALUPDATE",
            "event_handler_id": "7",
            "ts": str(int(time.time())),
            "data[FIELDS][ID]": str(pushed_deal),
            "auth[application_token]": PUSH_TOKEN,
            "auth[domain]": "e2e.example",
        }
        url = f"http://localhost:{API_PORT}/bitrix24/events/b24_push/bitrix24/deals_won"
        first_push = requests.post(url, data=body, timeout=30)
        replay = requests.post(url, data=body, timeout=30)
        forged = requests.post(url, data={**body, "auth[application_token]": "wrong"}, timeout=30)
        print(
            "push:",
            first_push.status_code,
            first_push.text,
            "| replay:",
            replay.status_code,
            "| forged:",
            forged.status_code,
            flush=True,
        )
        pushed = time.time()
        wait_for(
            "runs for the pushed deal finished",
            lambda: len([r for r in finished_runs() if r["state"] in ("success", "failed")]) >= 3,
            pushed,
            180,
        )
        time.sleep(40)
        runs = sorted(finished_runs(), key=lambda r: r["run_after"])
        for run in runs:
            print(run["run_id"], run["state"], deals_of(run))
        print(af("variables", "get", CURSOR_VARIABLE).stdout)
        # The push and the watcher may land in one run or in two; either way only the third deal.
        later = {deals_of(r) for r in runs[2:]}
        ok = (
            all(r["state"] == "success" for r in runs)
            and [deals_of(r) for r in runs[:2]] == [f"Deals won: [{deal}]", f"Deals won: [{second_deal}]"]
            and later == {f"Deals won: [{pushed_deal}]"}
            and (first_push.status_code, replay.status_code, forged.status_code) == (200, 409, 403)
        )
        print("E2E OK" if ok else "E2E FAILED", flush=True)
        if not ok:
            raise SystemExit(1)
    finally:
        stop(proc)
        emu.stop()


if __name__ == "__main__":
    main()
