#!/usr/bin/env python3
"""Side-by-side benchmark of this provider's client against fast_bitrix24 and b24pysdk.

    python3 benchmarks/run.py            # full run (N = 10k, 100k, 1M reads; 10k writes)
    python3 benchmarks/run.py --quick    # smoke run at small N, a couple of minutes
    python3 benchmarks/run.py --only many-workers   # one row only; its section of the report is replaced

The first run creates ``.venv-bench`` next to ``pyproject.toml`` and installs ``.[bench]`` into
it; the script then re-runs itself with that interpreter. It starts the project's emulator on
127.0.0.1 (TLS, in its own process), runs every scenario in a fresh process per client and writes
``benchmarks/RESULTS.md`` (``--out`` to change). See ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
VENV = ROOT / ".venv-bench"
MARKER = VENV / ".bench-installed"

READ_CLIENTS = ("decode_only", "ours", "ours_k8", "ours_windows", "naive", "fast_bitrix24", "b24pysdk")
# ``paginate_parallel`` fixed at the former default: what the automatic choice (every window at
# once while the export fits in the burst) buys. Run only while it does (N <= 50 * 2,500): beyond
# it both read with 8 windows in flight.
PARALLEL = {"ours_k8": 8}
BURST_ROWS = 50 * 2500
REPEAT, REPEAT_BELOW_S = 3, 20.0  # scenarios faster than this run three times; the median is reported
WRITE_CLIENTS = ("ours", "fast_bitrix24", "b24pysdk")
# What ``--only`` can pick; all run by default. "scenarios" is every read and write comparison above;
# the others are sections appended to the report by their own scripts.
ROWS = ("scenarios", "many-workers", "triggerer")


# ---------------------------------------------------------------------------------------------- venv


def _requirements_digest() -> str:
    return hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()


def ensure_venv() -> None:
    """Re-exec inside ``.venv-bench`` (created and filled with ``.[bench]`` when missing or stale)."""
    if Path(sys.prefix).resolve() == VENV.resolve():
        return
    python = VENV / "bin" / "python"
    if not python.exists():
        print(f"creating {VENV.name} ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    digest = _requirements_digest()
    if not MARKER.exists() or MARKER.read_text().strip() != digest:
        print(f"installing .[bench] into {VENV.name} (log: {VENV.name}/install.log) ...", flush=True)
        with open(VENV / "install.log", "w") as log:
            subprocess.run(
                [str(python), "-m", "pip", "install", "-e", f"{ROOT}[bench]"],
                check=True,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        MARKER.write_text(digest)
    os.execv(str(python), [str(python), str(Path(__file__).resolve()), *sys.argv[1:]])


# ---------------------------------------------------------------------------------------------- portal


class PortalProcess:
    """``portal.py`` in a child process, driven by JSON lines."""

    def __init__(self, cert: Path, key: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "portal.py"), str(cert), str(key)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.info = json.loads(self.proc.stdout.readline())

    def command(self, **command) -> dict:
        self.proc.stdin.write(json.dumps(command) + "\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def close(self) -> None:
        try:
            self.proc.stdin.write(json.dumps({"op": "quit"}) + "\n")
            self.proc.stdin.flush()
            self.proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()


# ---------------------------------------------------------------------------------------------- proposal


PROPOSAL = HERE / "proposals" / "client.patch"


def proposal_tree(tmpdir: Path) -> Path | None:
    """A copy of the package with the proposal patch applied (client ``ours_windows``), or None
    when the patch is gone, already in the client, or no longer applies."""
    if not PROPOSAL.exists():
        return None
    tree = tmpdir / "proposal"
    shutil.copytree(
        ROOT / "airflow_provider_bitrix24",
        tree / "airflow_provider_bitrix24",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    applied = subprocess.run(
        ["git", "apply", "-p1", "--include=airflow_provider_bitrix24/*", str(PROPOSAL)],
        cwd=tree,
        capture_output=True,
    )
    return tree if applied.returncode == 0 else None


# ---------------------------------------------------------------------------------------------- scenarios


def run_worker(spec: dict, env: dict, log_path: Path) -> dict:
    """Run one scenario process (it stops itself at ``spec["cap"]``); keep its last progress."""
    with open(log_path, "w") as stderr:
        proc = subprocess.Popen(
            [sys.executable, str(HERE / "workloads.py"), json.dumps(spec)],
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            env=env,
        )
        state = {"progress": 0, "result": None}

        def read() -> None:
            for line in proc.stdout:
                if line.startswith("PROGRESS "):
                    state["progress"] = int(line.split()[1])
                elif line.startswith("RESULT "):
                    state["result"] = json.loads(line[len("RESULT ") :])

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        try:
            proc.wait(timeout=spec["cap"] + 120)  # a backstop: imports and set-up are not capped
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        reader.join(timeout=5)
    if state["result"] is None:
        tail = log_path.read_text(errors="replace").strip().splitlines()[-3:]
        return {
            "timed_out": False,
            "rows": state["progress"],
            "wall_s": None,
            "correct": False,
            "error": ("crashed: " + " | ".join(tail))[:300],
        }
    return state["result"]


def _unfinished(result: dict) -> bool:
    return bool(result["timed_out"] or result.get("error"))


def scenario_list(args: argparse.Namespace) -> list[dict]:
    out = []
    for n in args.sizes:
        for client in args.clients:
            if client in PARALLEL and n > BURST_ROWS:
                continue
            if client in READ_CLIENTS:
                out.append(
                    {
                        "op": "read",
                        "client": client,
                        "n": n,
                        **({"parallel": PARALLEL[client]} if client in PARALLEL else {}),
                    }
                )
    for op in ("create", "update"):
        for client in args.clients:
            if client in WRITE_CLIENTS:
                out.append({"op": op, "client": client, "n": args.write_size})
    return out


def run_many_workers(quick: bool) -> dict:
    """``many_workers.py`` in its own process (it starts its own emulator and worker processes)."""
    processes, repeat = ("4", 1) if quick else ("4,8", 3)
    proc = subprocess.run(
        [
            sys.executable,
            str(HERE / "many_workers.py"),
            "--json",
            "--processes",
            processes,
            "--repeat",
            str(repeat),
        ],
        stdout=subprocess.PIPE,
        text=True,
        check=True,
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def put_section(path: Path, lines: list[str]) -> None:
    """Put a report section (``lines`` holding its ``## `` heading) into ``path``, replacing an
    older copy of it, so one row can be measured again without rerunning the others."""
    heading = next(line for line in lines if line.startswith("## "))
    old = path.read_text().splitlines() if path.exists() else ["# Benchmark results"]
    if heading in old:
        start = old.index(heading)
        end = next((i for i in range(start + 1, len(old)) if old[i].startswith("## ")), len(old))
        while start > 0 and not old[start - 1].strip():
            start -= 1
        old[start:end] = lines
    else:
        old.extend(lines)
    path.write_text("\n".join(old).rstrip("\n") + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small sizes and short caps (smoke run)")
    parser.add_argument(
        "--sizes", type=lambda s: [int(x) for x in s.split(",")], help="read sizes, e.g. 10000,100000"
    )
    parser.add_argument("--write-size", type=int, help="deals to create and to update")
    parser.add_argument(
        "--cap",
        type=float,
        help="seconds a scenario may take before it is stopped "
        "(raised to 1.3x its floor + 20 s where the limits alone need longer)",
    )
    parser.add_argument(
        "--scale",
        type=float,
        default=1.0,
        help="CostModel.realistic scale (default 1: the official docs' costs)",
    )
    parser.add_argument("--clients", type=lambda s: s.split(","), default=list(READ_CLIENTS))
    parser.add_argument(
        "--out", type=Path, help="report path (default benchmarks/RESULTS.md, quick: RESULTS-quick.md)"
    )
    parser.add_argument("--no-venv", action="store_true", help="use the current interpreter as is")
    parser.add_argument(
        "--only",
        type=lambda s: s.split(","),
        default=list(ROWS),
        help=f"run only these rows, comma-separated, of: {', '.join(ROWS)} (default: all). Without "
        "scenarios, the report keeps its other sections and only the chosen ones are replaced",
    )
    args = parser.parse_args()
    if set(args.only) - set(ROWS):
        parser.error(f"--only: unknown {sorted(set(args.only) - set(ROWS))}; choose from {', '.join(ROWS)}")
    if not args.no_venv:
        ensure_venv()

    import report  # noqa: E402 - needs the bench venv (psutil)
    from floor import Limits, read_floor, write_floor

    from airflow_provider_bitrix24.emulator import CostModel

    args.sizes = args.sizes or ([1_000, 5_000] if args.quick else [10_000, 100_000, 1_000_000])
    args.write_size = args.write_size or (500 if args.quick else 10_000)
    args.cap = args.cap or (20.0 if args.quick else 60.0)
    args.out = args.out or HERE / ("RESULTS-quick.md" if args.quick else "RESULTS.md")
    limits = Limits.from_cost_model(CostModel.realistic(scale=args.scale))
    command = " ".join(
        ["python3 benchmarks/run.py", *(shlex.quote(a) for a in sys.argv[1:] if a != "--no-venv")]
    )

    from tls import client_environment, make_certificate

    began, load = time.time(), [os.getloadavg()[0]]
    with tempfile.TemporaryDirectory(prefix="b24-bench-") as tmp:
        tmpdir = Path(tmp)
        cert, key = make_certificate(tmpdir)
        env = {**os.environ, **client_environment(cert)}
        proposal = proposal_tree(tmpdir) if "ours_windows" in args.clients else None
        if proposal is None and "ours_windows" in args.clients:
            args.clients.remove("ours_windows")
            print("ours_windows: the proposal patch is absent or already applied; not run", flush=True)
        portal = PortalProcess(cert, key)
        rows = []
        given_up: set[tuple[str, str]] = set()
        try:
            for spec in scenario_list(args) if "scenarios" in args.only else []:
                label = f"{spec['op']:6} {spec['client']:13} N={spec['n']:>9,}"
                if (spec["op"], spec["client"]) in given_up:
                    rows.append({**spec, "skipped": True})
                    print(f"{label}  skipped (stopped at a smaller N)", flush=True)
                    continue
                deals = 0 if spec["op"] == "create" else spec["n"]
                sink = tmpdir / "sink.jsonl"
                worker_env = env
                if spec["client"] == "ours_windows":
                    worker_env = {
                        **env,
                        "PYTHONPATH": os.pathsep.join(filter(None, [str(proposal), env.get("PYTHONPATH")])),
                    }
                floor = (
                    read_floor(spec["n"], limits) if spec["op"] == "read" else write_floor(spec["n"], limits)
                )
                # Every client gets the cap, or more where the limits alone need longer.
                cap = max(args.cap, 1.3 * floor.floor_s + 20)
                runs = []
                # A scenario that takes seconds is at the mercy of one scheduling hiccup: run it
                # REPEAT times on a fresh portal each and keep the median run.
                while True:
                    portal.command(op="prepare", deals=deals, scale=args.scale)
                    spec_full = {**spec, **portal.info, "sink": str(sink), "cap": cap}
                    result = run_worker(spec_full, worker_env, tmpdir / "worker.log")
                    stats = portal.command(op="stats")
                    sink.unlink(missing_ok=True)
                    runs.append({**spec, **result, "cap_s": cap, "stats": stats, "floor": floor.__dict__})
                    short = (result.get("wall_s") or REPEAT_BELOW_S) < REPEAT_BELOW_S
                    if _unfinished(result) or not short or len(runs) >= REPEAT:
                        break
                runs.sort(key=lambda r: r.get("wall_s") or 0.0)
                row = {**runs[len(runs) // 2], "wall_runs": [r.get("wall_s") for r in runs]}
                rows.append(row)
                if _unfinished(row):
                    given_up.add((spec["op"], spec["client"]))
                print(report.progress_line(label, row), flush=True)
        finally:
            portal.close()
    load.append(os.getloadavg()[0])
    raw = args.out.with_suffix(".json")  # every measured row, for anyone who wants other views
    data = {"command": command, "scale": args.scale, "rows": rows}
    if "scenarios" in args.only:
        report.write(
            args.out,
            rows,
            limits=limits,
            scale=args.scale,
            command=command,
            cap=args.cap,
            elapsed=time.time() - began,
            load=load,
        )
    elif raw.exists():
        data = json.loads(raw.read_text())  # keep the rows measured before
    if "many-workers" in args.only:
        import many_workers

        data["many_workers"] = figures = run_many_workers(args.quick)
        put_section(args.out, many_workers.report_lines(figures, command))
    if "triggerer" in args.only:  # "triggerer 200 sensors": its own process, as many-workers
        import triggerer

        out = subprocess.run(
            [sys.executable, str(HERE / "triggerer.py"), "--json"],
            stdout=subprocess.PIPE,
            text=True,
            check=True,
        )
        data["triggerer"] = figures = json.loads(out.stdout.strip().splitlines()[-1])
        put_section(args.out, triggerer.report_lines(figures, "python3 benchmarks/triggerer.py"))
    raw.write_text(json.dumps(data, indent=1) + "\n")
    for path in (args.out, raw):
        print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    main()
