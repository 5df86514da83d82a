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
EXTRAS = "test"
STAMP_NAME = ".airflow-provider-bitrix24.stamp"


def venv_dir(pin: str = AIRFLOW_PIN) -> Path:
    """``.venv`` for the newest Airflow, ``.venv-airflow-<pin>`` for a pinned one (B24_VENV overrides)."""
    override = os.environ.get("B24_VENV")
    if override:
        return Path(override)
    return ROOT / (f".venv-airflow-{pin}" if pin else ".venv")


VENV = venv_dir()
STAMP = VENV / STAMP_NAME


def _python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _fingerprint(pin: str = AIRFLOW_PIN) -> str:
    digest = hashlib.sha256()
    digest.update((ROOT / "pyproject.toml").read_bytes())
    digest.update(f"{EXTRAS}|{sys.version_info[:2]}|{ROOT}|{pin}".encode())
    return digest.hexdigest()


def say(message: str) -> None:
    print(f"==> {message}", flush=True)


def ensure_venv(pin: str = AIRFLOW_PIN) -> Path:
    """Return the venv's python, creating the venv and installing ``.[test]`` when needed.

    ``pin`` is an Airflow version to install instead of the newest one (its venv is separate).
    """
    if sys.version_info < (3, 10):  # noqa: UP036 - this script runs under any python3 the user has
        sys.exit(f"Python 3.10+ is required, this is {sys.version.split()[0]}")
    venv = venv_dir(pin)
    stamp = venv / STAMP_NAME
    python = _python(venv)
    if not python.exists():
        say(f"Creating virtual environment {venv}")
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    want = _fingerprint(pin)
    if stamp.exists() and stamp.read_text().strip() == want:
        return python
    pinned = f" with apache-airflow=={pin}" if pin else ""
    say(f"Installing airflow-provider-bitrix24[{EXTRAS}]{pinned} into {venv} (first run takes a few minutes)")
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
        *([f"apache-airflow=={pin}"] if pin else []),
    ]
    subprocess.run(command, check=True, cwd=ROOT)
    stamp.write_text(want + "\n")
    say(f"Installed in {time.monotonic() - started:.0f} s")
    return python


def in_venv() -> bool:
    return Path(sys.prefix).resolve() == VENV.resolve()


def reexec_in_venv(script: str, argv: list[str]) -> None:
    """Run ``script`` again with the venv's interpreter (never returns)."""
    python = ensure_venv()
    os.execv(str(python), [str(python), script, *argv])
