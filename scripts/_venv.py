"""Shared by demo.py and test.py: create or reuse ``.venv`` with the package installed.

Only the Python standard library is used here, so a fresh machine needs nothing but
Python 3.10+. The install is skipped when a stamp file shows that pyproject.toml, the extras
and the interpreter are unchanged since the last successful install (the package itself is
installed editable, so code changes never need a reinstall).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# B24_AIRFLOW_VERSION=3.2.0 pins Airflow (e.g. the oldest supported release) in a venv of its own.
AIRFLOW_PIN = os.environ.get("B24_AIRFLOW_VERSION", "").strip()
VENV = Path(os.environ.get("B24_VENV") or ROOT / (f".venv-airflow-{AIRFLOW_PIN}" if AIRFLOW_PIN else ".venv"))
PIN_CONSTRAINTS = ROOT / "scripts" / "pinned-airflow-constraints.txt"
EXTRAS = "test"
STAMP = VENV / ".airflow-provider-bitrix24.stamp"


def _python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _fingerprint() -> str:
    digest = hashlib.sha256()
    digest.update((ROOT / "pyproject.toml").read_bytes())
    digest.update(f"{EXTRAS}|{sys.version_info[:2]}|{ROOT}|{AIRFLOW_PIN}".encode())
    if AIRFLOW_PIN:
        digest.update(PIN_CONSTRAINTS.read_bytes())
    return digest.hexdigest()


def say(message: str) -> None:
    print(f"==> {message}", flush=True)


def ensure_venv() -> Path:
    """Return the venv's python, creating the venv and installing ``.[test]`` when needed."""
    if sys.version_info < (3, 10):  # noqa: UP036 - this script runs under any python3 the user has
        sys.exit(f"Python 3.10+ is required, this is {sys.version.split()[0]}")
    python = _python(VENV)
    if not python.exists():
        say(f"Creating virtual environment {VENV}")
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    want = _fingerprint()
    if STAMP.exists() and STAMP.read_text().strip() == want:
        return python
    pinned = f" with apache-airflow=={AIRFLOW_PIN}" if AIRFLOW_PIN else ""
    say(f"Installing airflow-provider-bitrix24[{EXTRAS}]{pinned} into {VENV} (first run takes a few minutes)")
    started = time.monotonic()
    command = [
        str(python),
        "-m",
        "pip",
        "install",
        "-q",
        "--disable-pip-version-check",
        "--progress-bar",
        "off",
        "-e",
        f"{ROOT}[{EXTRAS}]",
        *([f"apache-airflow=={AIRFLOW_PIN}", "-c", str(PIN_CONSTRAINTS)] if AIRFLOW_PIN else []),
    ]
    subprocess.run(command, check=True, cwd=ROOT)
    STAMP.write_text(want + "\n")
    say(f"Installed in {time.monotonic() - started:.0f} s")
    return python


def in_venv() -> bool:
    return Path(sys.prefix).resolve() == VENV.resolve()


def reexec_in_venv(script: str, argv: list[str]) -> None:
    """Run ``script`` again with the venv's interpreter (never returns)."""
    python = ensure_venv()
    os.execv(str(python), [str(python), script, *argv])
