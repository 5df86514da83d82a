"""The benchmark script runs end to end at tiny N (a smoke test, not a timing test)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PEERS = {"fast_bitrix24": "fast_bitrix24", "b24pysdk": "b24pysdk"}


def test_benchmark_script_runs_and_reports(tmp_path):
    if importlib.util.find_spec("psutil") is None:
        pytest.skip("psutil (bench extra) is not installed")
    clients = ["ours", "ours_windows", "naive"] + [
        name for name, module in PEERS.items() if importlib.util.find_spec(module)
    ]
    out = tmp_path / "RESULTS.md"
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "run.py"),
            "--no-venv",
            "--sizes",
            "120",
            "--write-size",
            "60",
            "--cap",
            "60",
            "--scale",
            "0",
            "--clients",
            ",".join(clients),
            "--out",
            str(out),
            "--only",
            "scenarios",  # the many-workers row takes minutes (bounded in tests/reliability)
        ],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    report = out.read_text()
    assert "## Acceptance checks" in report
    # Every scenario finished with every id exactly once, and ours used no COUNT.
    for line in proc.stdout.splitlines():
        if line.startswith(("read", "create", "update")):
            assert line.rstrip().endswith(" ok"), line
    assert "- ours read N=120: " in report and "0 COUNT queries (pass)" in report
    assert "ok" in report.split("## Bulk read of N deals")[1]
