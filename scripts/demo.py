#!/usr/bin/env python3
"""End-to-end demo on a local emulated portal: ``python3 scripts/demo.py``.

1. creates or reuses ``.venv`` and installs the provider (see ``_venv.py``);
2. starts the Bitrix24 emulator on 127.0.0.1 (a free port) and seeds sample CRM records;
3. points the ``bitrix24_default`` connection at it (``AIRFLOW_CONN_BITRIX24_DEFAULT``) in an
   isolated ``AIRFLOW_HOME`` under ``.demo/`` and runs ``airflow db migrate``;
4. runs every example DAG tagged ``demo`` with ``airflow dags test``;
5. prints what happened on the portal, then stops the emulator.

Options: ``--dag ID`` (repeatable) runs only those DAGs; ``--keep-home`` keeps the previous
Airflow metadata database instead of starting fresh.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _venv import ROOT, in_venv, reexec_in_venv, say  # noqa: E402

DEMO_TAG = "demo"
DAGS_FOLDER = ROOT / "example_dags"
DEMO_HOME = ROOT / ".demo" / "airflow-home"
DEMO_POOL = "bitrix24_demo_portal"


def find_demo_dags(env: dict) -> list[tuple[str, str]]:
    """(dag_id, file) of every example DAG tagged ``demo``, found by parsing the folder once."""
    probe = (
        "import json, sys\n"
        "try:\n"
        "    from airflow.dag_processing.dagbag import DagBag\n"
        "except ImportError:\n"
        "    from airflow.models.dagbag import DagBag\n"
        f"bag = DagBag(dag_folder={str(DAGS_FOLDER)!r})\n"
        "for path, err in bag.import_errors.items():\n"
        "    print('IMPORT ERROR', path, err.splitlines()[-1] if err else '', file=sys.stderr)\n"
        f"print(json.dumps(sorted((d.dag_id, d.fileloc) for d in bag.dags.values() if {DEMO_TAG!r} in (d.tags or []))))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True)
    for line in out.stderr.splitlines():
        if line.startswith("IMPORT ERROR"):
            say(f"warning: {line}")
    if out.returncode != 0:
        print(out.stderr[-3000:], file=sys.stderr)
        raise SystemExit("could not parse the example DAGs")
    return [tuple(item) for item in json.loads(out.stdout.strip().splitlines()[-1])]


# Sample CRM records, dated across yesterday (UTC) so that daily incremental DAGs find them.
SAMPLE_DATA = {"crm.company": 20, "crm.contact": 80, "crm.lead": 60, "crm.deal": 300}


def seed_sample_data(emulator) -> None:
    from datetime import datetime, timedelta, timezone

    from airflow_provider_bitrix24.emulator.entities import ENTITIES

    today = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    yesterday = (today - timedelta(days=1)).timestamp()
    for entity, count in SAMPLE_DATA.items():
        sample = ENTITIES[entity].sample
        step = 86_000 / count

        def row(record_id: int, sample=sample, step=step) -> dict:
            stamp = yesterday + record_id * step
            return {**sample(record_id), "DATE_CREATE": stamp, "DATE_MODIFY": stamp}

        emulator.seed_generated(entity, count, row)
    # The emulated Drive is created on first use with a few sample files; create it now, before
    # any DAG run starts, so that the Drive backup's one-day interval holds those files.
    from airflow_provider_bitrix24.emulator.handlers.disk import drive

    drive(emulator.portal)
    say(
        "Seeded the portal: "
        + ", ".join(f"{n} {e}" for e, n in SAMPLE_DATA.items())
        + " (dated yesterday)"
        + " and the shared Drive's sample files"
    )


def airflow(args: list[str], env: dict, log_path: Path) -> tuple[int, float]:
    started = time.monotonic()
    with open(log_path, "w") as log:
        code = subprocess.run(
            [str(Path(sys.executable).with_name("airflow")), *args],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        ).returncode
    return code, time.monotonic() - started


_TASK_START = re.compile(r"\[DAG TEST\] starting task_id=(\S+)")
_RETURNED = re.compile(r"Done\. Returned value was: (.*?) \[airflow\.")


def task_results(log_path: Path) -> list[tuple[str, str]]:
    """(task_id, returned value) pairs read from an ``airflow dags test`` log."""
    task, out = None, []
    for line in log_path.read_text(errors="replace").splitlines():
        if started := _TASK_START.search(line):
            task = started.group(1)
        elif (returned := _RETURNED.search(line)) and task:
            value = returned.group(1).rstrip()  # the log renderer pads the text before the logger name
            out.append((task, value if len(value) <= 110 else value[:107] + "..."))
    return out


def files_under(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*") if p.is_file()} if folder.exists() else set()


def written_files(before: set[Path], after: set[Path], data: Path, root: Path) -> list[str]:
    """One line per folder under ``data`` (export, import, backup) that received new files."""
    by_folder: Counter[Path] = Counter(data / path.relative_to(data).parts[0] for path in after - before)
    return [f"wrote {n} file(s) under {folder.relative_to(root)}/" for folder, n in sorted(by_folder.items())]


def tail(path: Path, lines: int = 40) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dag", action="append", help="run only this DAG id (repeatable)")
    parser.add_argument("--keep-home", action="store_true", help="reuse the previous demo Airflow home")
    args = parser.parse_args(argv)

    from airflow_provider_bitrix24.emulator import Emulator

    if DEMO_HOME.exists() and not args.keep_home:
        shutil.rmtree(DEMO_HOME)
    DEMO_HOME.mkdir(parents=True, exist_ok=True)
    logs = DEMO_HOME / "demo-logs"
    logs.mkdir(exist_ok=True)

    emulator = Emulator(port=0).start()
    try:
        say(f"Bitrix24 emulator running on {emulator.url}")
        seed_sample_data(emulator)
        connection = {
            "conn_type": "bitrix24",
            "host": emulator.url,
            "login": str(emulator.webhook_user_id),
            "password": emulator.webhook_code,
            "extra": {"auth_type": "webhook"},
        }
        env = {
            **os.environ,
            "AIRFLOW_HOME": str(DEMO_HOME),
            "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW_CONN_BITRIX24_DEFAULT": json.dumps(connection),
            "PYTHONWARNINGS": "ignore",
            # Exports, imports and backups of the example DAGs stay inside the demo's folder.
            **{
                f"BITRIX24_{kind}_ROOT": (DEMO_HOME / "data" / kind.lower()).as_uri()
                for kind in ("EXPORT", "IMPORT", "BACKUP")
            },
        }
        say(f"Airflow home {DEMO_HOME}: airflow db migrate")
        code, seconds = airflow(["db", "migrate"], env, logs / "db-migrate.log")
        if code:
            print(tail(logs / "db-migrate.log"))
            return code
        # One pool per portal caps concurrent tasks against it (docs/reliability.md).
        airflow(
            ["pools", "set", DEMO_POOL, "4", "Tasks calling the demo Bitrix24 portal"], env, logs / "pool.log"
        )

        dags = find_demo_dags(env)
        if args.dag:
            dags = [d for d in dags if d[0] in args.dag]
        if not dags:
            say(f"No example DAG tagged {DEMO_TAG!r} found in {DAGS_FOLDER}")
            return 1
        say(f"Running {len(dags)} demo DAG(s): {', '.join(d for d, _ in dags)}")

        results = []
        data = DEMO_HOME / "data"
        for dag_id, fileloc in dags:
            log_path = logs / f"{dag_id}.log"
            before = files_under(data)
            code, seconds = airflow(["dags", "test", dag_id, "-f", fileloc], env, log_path)
            ok = code == 0 and "state=success" in log_path.read_text(errors="replace")
            results.append((dag_id, ok, seconds))
            say(
                f"{'OK    ' if ok else 'FAILED'} {dag_id} ({seconds:.1f} s, log: {log_path.relative_to(ROOT)})"
            )
            for task_id, value in task_results(log_path):
                print(f"         {task_id} -> {value}")
            for line in written_files(before, files_under(data), data, ROOT):
                print(f"         {line}")
            if not ok:
                print(tail(log_path))

        report(emulator, results)
        return 0 if all(ok for _, ok, _ in results) else 1
    finally:
        emulator.stop()
        say("Emulator stopped")


def report(emulator, results) -> None:
    print("\nWhat happened on the emulated portal:")
    tables = {name: len(table) for name, table in sorted(emulator.portal.tables.items()) if len(table)}
    for name, rows in tables.items():
        print(f"  {name:<32} {rows:>6} record(s) stored")
    methods: Counter[str] = Counter()
    for record in emulator.requests:
        for call in record.sub_calls if record.is_batch else [record]:
            methods[call.method] += 1
    http = len(emulator.requests)
    print(
        f"  {http} HTTP request(s) served, {sum(methods.values())} method call(s) (batch commands counted one by one):"
    )
    for method, count in methods.most_common(12):
        print(f"    {method:<40} {count:>5}")
    passed = sum(ok for _, ok, _ in results)
    print(f"\n{passed} of {len(results)} demo DAG(s) succeeded.")


if __name__ == "__main__":
    if not in_venv():
        reexec_in_venv(__file__, sys.argv[1:])
    sys.exit(main(sys.argv[1:]))
