"""Helpers shared by the reliability tests (imported by name; pytest puts this folder on sys.path)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path

from airflow_provider_bitrix24.client import Bitrix24Client, FileTokenStore, OAuth2Auth

FAST = {"rate_limit": None, "backoff_base": 0.005, "backoff_max": 0.02}


def make_oauth_client(emu, store_path, access=None, refresh=None, **kwargs) -> Bitrix24Client:
    if refresh is None:
        access, refresh = emu.issue_tokens()
    auth = OAuth2Auth(
        emu.client_id,
        emu.client_secret,
        refresh,
        access,
        token_url=emu.token_url,
        store=FileTokenStore(store_path),
    )
    return Bitrix24Client(emu.url, auth, **{**FAST, **kwargs})


def executed(emu, method: str) -> list:
    """Calls of ``method`` the portal really ran (not refused by a fault, limit or auth)."""
    return [
        r for r in emu.calls(method) if r.fault not in ("drop_before", "html", "redirect") and r.error is None
    ]


def sent(emu, method: str) -> list:
    """Every HTTP request (or batch command) for ``method`` that reached the portal."""
    return emu.calls(method)


def seed_deals(emu, n: int) -> list[int]:
    return emu.seed("crm.deal", [{"TITLE": f"Deal {i}"} for i in range(n)]) if n else []


def race(workers: int, work: Callable[[int], object], timeout: float = 30.0) -> list[BaseException]:
    """Run ``work(i)`` in ``workers`` threads released at the same instant; return their errors."""
    barrier, errors = threading.Barrier(workers), []

    def run(i: int) -> None:
        barrier.wait()
        try:
            work(i)
        except BaseException as exc:  # handed back to the test
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
    return errors


# ---------------------------------------------------------------------- worker processes

WORKER = str(Path(__file__).with_name("portal_worker.py"))


def start_workers(emu, n: int, store: Path, **extra) -> list[subprocess.Popen]:
    access, refresh = emu.issue_tokens()
    cfg = dict(
        url=emu.url,
        client_id=emu.client_id,
        client_secret=emu.client_secret,
        token_url=emu.token_url,
        access=access,
        refresh=refresh,
        store=str(store),
        **extra,
    )
    workers = [
        subprocess.Popen(
            [sys.executable, WORKER, json.dumps(cfg)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(n)
    ]
    for w in workers:
        line = w.stdout.readline()
        assert json.loads(line or "{}").get("ready"), w.stderr.read()
    return workers


def ask(workers: list[subprocess.Popen], jobs: list[dict]) -> list[dict]:
    for w, job in zip(workers, jobs, strict=True):
        w.stdin.write(json.dumps(job) + "\n")
        w.stdin.flush()
    return [json.loads(w.stdout.readline()) for w in workers]


def stop(workers: list[subprocess.Popen]) -> list[str]:
    logs = []
    for w in workers:
        try:
            _, err = w.communicate(timeout=20)
        finally:
            w.kill()
        logs.append(err)
    return logs


# ---------------------------------------------------------------------- uncoordinated workers

# A portal of burst 20 draining 10 requests/s, and every worker process configured with that whole
# limit, knowing nothing of the others (workers on different hosts, process scope). Measured here
# for test_many_workers.py and, as figures, by benchmarks/many_workers.py: one measurement for both.
SHARED_PORTAL = {"burst": 20, "per_second": 10.0}
CALLS = 40


def measure_uncoordinated_workers(emu, tmp_path: Path, processes: int, rate_limit: dict) -> dict:
    """Start ``processes`` workers, let each make CALLS calls at once; return what the portal saw.

    The floor is the least time the portal's own limit allows: ``(calls - burst) / rate``."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    workers = start_workers(
        emu,
        processes,
        tmp_path / "tokens.json",
        rate_limit=rate_limit,
        backoff_base=1.0,
        backoff_max=30.0,
        max_retries=10,
    )
    try:
        emu.configure(rate_limit=SHARED_PORTAL)  # a fresh, empty portal bucket for the measured run
        emu.clear_requests()
        started = time.monotonic()
        replies = ask(workers, [{"job": "calls", "threads": 1, "calls": CALLS}] * processes)
        elapsed = time.monotonic() - started
    finally:
        stop(workers)
    rest = [r for r in emu.requests if r.path.startswith("/rest")]
    refused = sum(r.error == "QUERY_LIMIT_EXCEEDED" for r in rest)
    floor = (processes * CALLS - SHARED_PORTAL["burst"]) / SHARED_PORTAL["per_second"]
    return {
        "errors": [e for r in replies for e in r["errors"]],
        "accepted": sum(r.error is None for r in rest),
        "refused": refused,
        "requests": len(rest),
        "refused_share": refused / len(rest),
        "seconds": elapsed,
        "floor": floor,
        "vs_floor": elapsed / floor,
    }


# ---------------------------------------------------------------------- secrets probe (background)

MODES = ("webhook", "oauth2", "api_key")

PROBE_DAG = textwrap.dedent(
    '''
    """Every auth mode side by side (reliability suite)."""
    import logging
    import sys
    from datetime import datetime, timedelta

    from airflow.sdk import DAG, task

    from airflow_provider_bitrix24.hooks.bitrix24 import Bitrix24Hook
    from airflow_provider_bitrix24.operators.base import Bitrix24Operator
    from airflow_provider_bitrix24.operators.direct import Bitrix24CallOperator


    def debug_http_logs(context):
        """DEBUG records of the HTTP stack and the provider, written raw to stderr (no Airflow masking)."""
        for name in ("urllib3", "requests", "airflow_provider_bitrix24"):
            logger = logging.getLogger(name)
            logger.setLevel(logging.DEBUG)
            if not any(getattr(h, "b24_probe", False) for h in logger.handlers):
                handler = logging.StreamHandler(sys.stderr)
                handler.b24_probe = True
                handler.setFormatter(logging.Formatter("RAW %(name)s %(levelname)s %(message)s"))
                logger.addHandler(handler)

    with DAG("b24_secrets_probe", schedule=None, start_date=datetime(2024, 1, 1), catchup=False,
             default_args={"on_execute_callback": debug_http_logs}):
        for mode in ("webhook", "oauth2", "api_key"):
            conn_id = f"b24_{mode}"

            @task(task_id=f"{mode}_check")
            def check(conn_id=conn_id):
                ok, message = Bitrix24Hook(conn_id).test_connection()
                assert ok, message
                return message

            create = Bitrix24Operator(
                task_id=f"{mode}_create", action_id="crm_deal_create", bitrix24_conn_id=conn_id,
                parameters={"fields": {"TITLE": "deal {{ run_id }}"}},
            )

            @task(task_id=f"{mode}_reprs")
            def reprs(conn_id=conn_id):
                hook = Bitrix24Hook(conn_id)
                client = hook.get_conn()
                rows = hook.get_all("crm.deal.list", {"select": ["ID", "TITLE"]})
                logging.getLogger(__name__).info("hook %r client %r auth %r", hook, client, client.auth)
                return {"client": repr(client), "auth": repr(client.auth), "rows": len(rows),
                        "store": repr(getattr(client.auth, "store", None))}

            soft = Bitrix24CallOperator(task_id=f"{mode}_lost_soft", method="crm.deal.update", bitrix24_conn_id=conn_id,
                                        continue_on_fail=True, parameters={"id": 1, "fields": {"TITLE": "x"}})
            hard = Bitrix24CallOperator(task_id=f"{mode}_lost_hard", method="crm.deal.delete", bitrix24_conn_id=conn_id,
                                        parameters={"id": 1}, retries=2, retry_delay=timedelta(0))
            check() >> create >> reprs() >> soft >> hard
    '''
)


class SecretsProbe:
    """``airflow dags test`` of PROBE_DAG in its own AIRFLOW_HOME against its own emulator, started
    in the background (Airflow's in-process API server takes ~25 s to start) and awaited by
    test_secrets.py, so the rest of the suite runs meanwhile."""

    def __init__(self, root: Path) -> None:
        from airflow_provider_bitrix24.emulator import Emulator

        self.emu = emu = Emulator(port=0).start()
        emu.configure(rate_limit=None, operating_limit=None)
        folder, home = root / "dags", root / "home"
        folder.mkdir(parents=True)
        home.mkdir()
        (folder / "b24_secrets_probe.py").write_text(PROBE_DAG)
        self.db = home / "airflow.db"
        self.tokens = folder / "tokens.json"
        access, refresh = emu.issue_tokens(expires_in=-60)  # expired: the first call refreshes and rotates
        api_key, _ = emu.issue_tokens(expires_in=3600)
        conns = {
            # the whole webhook URL in the password: the code sits in a URL path that urllib3 logs
            "b24_webhook": {
                "conn_type": "bitrix24",
                "password": emu.webhook_url,
                "extra": {"auth_type": "webhook"},
            },
            "b24_oauth2": {
                "conn_type": "bitrix24",
                "host": emu.url,
                "login": emu.client_id,
                "password": emu.client_secret,
                "extra": {
                    "auth_type": "oauth2",
                    "access_token": access,
                    "refresh_token": refresh,
                    "token_url": emu.token_url,
                    "token_store": {"type": "file", "path": str(self.tokens)},
                },
            },
            "b24_api_key": {
                "conn_type": "bitrix24",
                "host": emu.url,
                "password": api_key,
                "extra": {"auth_type": "api_key"},
            },
        }
        for method in ("crm.deal.update", "crm.deal.delete"):
            emu.inject_fault(kind="drop_after", method=method, count=len(conns))
        self.secrets = {
            "webhook code": emu.webhook_code,
            "client secret": emu.client_secret,
            "api key": api_key,
            "initial access token": access,
            "initial refresh token": refresh,
        }
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_CONN_", "AIRFLOW__"))}
        env.update({f"AIRFLOW_CONN_{cid.upper()}": json.dumps(conn) for cid, conn in conns.items()})
        env.update(
            AIRFLOW_HOME=str(home),
            AIRFLOW__CORE__DAGS_FOLDER=str(folder),
            AIRFLOW__CORE__LOAD_EXAMPLES="False",
            PYTHONWARNINGS="ignore",
        )
        script = (
            "import subprocess, sys; "
            "subprocess.run([sys.executable, '-m', 'airflow', 'db', 'migrate'], check=True, stdout=subprocess.DEVNULL); "
            "sys.exit(subprocess.run([sys.executable, '-m', 'airflow', 'dags', 'test', 'b24_secrets_probe']).returncode)"
        )
        self.proc = subprocess.Popen(
            [sys.executable, "-c", script],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._output: str | None = None

    def output(self) -> str:
        if self._output is None:
            self._output, _ = self.proc.communicate(timeout=300)
            stored = json.loads(self.tokens.read_text()) if self.tokens.exists() else {}
            self.secrets.update(
                {
                    "rotated access token": stored.get("access_token"),
                    "rotated refresh token": stored.get("refresh_token"),
                }
            )
        return self._output

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.emu.stop()
