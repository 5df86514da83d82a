#!/usr/bin/env python3
"""Run the checks and the test suite in the project's own venv: ``python3 scripts/test.py [pytest args]``.

Creates or reuses ``.venv`` (see ``_venv.py``), installs ``.[test]`` when pyproject.toml changed,
then runs, in order: ruff check, ruff format --check, mypy, lint-imports (the layer contracts) and
pytest with the given arguments. Every step runs; any failure fails the command. Exit code 5 of
pytest (no tests collected) counts as a failure.

On CI (environment variable ``CI=true``), or with ``--all-airflow``, the suite then runs a second
time on the oldest supported Airflow (``OLDEST_AIRFLOW``) in a venv of its own. With
``B24_AIRFLOW_VERSION`` set, only pytest runs, on that pinned release (the static checks judge the
code, not the Airflow release, and run with the newest one).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _venv import AIRFLOW_PIN, ROOT, ensure_venv, say  # noqa: E402

NO_TESTS_COLLECTED = 5
OLDEST_AIRFLOW = "3.2.0"
ALL_AIRFLOW_FLAG = "--all-airflow"


def _bin(python: Path, tool: str) -> str:
    return str(python.parent / tool)


def checks(python: Path) -> list[tuple[str, list[str]]]:
    """The static checks, each a (name, command) run from the repository root."""
    return [
        ("ruff check", [_bin(python, "ruff"), "check", "--quiet", "."]),
        ("ruff format --check", [_bin(python, "ruff"), "format", "--check", "--quiet", "."]),
        ("mypy", [_bin(python, "mypy")]),
        ("lint-imports", [_bin(python, "lint-imports"), "--no-cache"]),
    ]


def run_check(name: str, command: list[str]) -> int:
    """Run one check; print one line when it passes and its whole output when it fails."""
    started = time.monotonic()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    took = time.monotonic() - started
    if done.returncode == 0:
        say(f"{name}: ok ({took:.0f} s)")
    else:
        sys.stdout.write(done.stdout + done.stderr)
        say(f"{name}: FAILED (exit code {done.returncode})")
    return done.returncode


def run_pytest(python: Path, argv: list[str], label: str) -> int:
    env = {k: v for k, v in os.environ.items() if k != "AIRFLOW_HOME"}  # tests isolate their own
    say(" ".join(["Running pytest", *argv, f"({label})"]))
    started = time.monotonic()
    code = subprocess.run([str(python), "-m", "pytest", *argv], cwd=ROOT, env=env).returncode
    say(f"pytest ({label}) finished in {time.monotonic() - started:.0f} s with exit code {code}")
    if code == NO_TESTS_COLLECTED:
        say("No tests were collected: treating that as a failure")
        return 1
    return code


def all_airflow(argv: list[str]) -> bool:
    return ALL_AIRFLOW_FLAG in argv or os.environ.get("CI", "").lower() == "true"


def main(argv: list[str]) -> int:
    both = all_airflow(argv) and not AIRFLOW_PIN
    pytest_args = [a for a in argv if a != ALL_AIRFLOW_FLAG]
    python = ensure_venv()
    failures = [] if AIRFLOW_PIN else [name for name, command in checks(python) if run_check(name, command)]
    label = f"Airflow {AIRFLOW_PIN}" if AIRFLOW_PIN else "newest Airflow"
    if run_pytest(python, pytest_args, label) != 0:
        failures.append(f"pytest ({label})")
    if both:
        oldest = ensure_venv(OLDEST_AIRFLOW)
        if run_pytest(oldest, pytest_args, f"Airflow {OLDEST_AIRFLOW}") != 0:
            failures.append(f"pytest (Airflow {OLDEST_AIRFLOW})")
    if failures:
        say("FAILED: " + ", ".join(failures))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
