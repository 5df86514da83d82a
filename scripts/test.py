#!/usr/bin/env python3
"""Run the whole test suite in the project's own venv: ``python3 scripts/test.py [pytest args]``.

Creates or reuses ``.venv`` (see ``_venv.py``), installs ``.[test]`` when pyproject.toml
changed, then runs pytest with the given arguments. Exit code 5 (no tests collected) counts as
a failure.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _venv import ROOT, ensure_venv, say  # noqa: E402

NO_TESTS_COLLECTED = 5


def main(argv: list[str]) -> int:
    python = ensure_venv()
    env = {k: v for k, v in os.environ.items() if k != "AIRFLOW_HOME"}  # tests isolate their own
    say("Running pytest " + " ".join(argv))
    started = time.monotonic()
    code = subprocess.run([str(python), "-m", "pytest", *argv], cwd=ROOT, env=env).returncode
    say(f"pytest finished in {time.monotonic() - started:.0f} s with exit code {code}")
    if code == NO_TESTS_COLLECTED:
        say("No tests were collected: treating that as a failure")
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
