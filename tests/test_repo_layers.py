"""The layer contracts in pyproject.toml (run by ``lint-imports`` in the test command) catch an import
that breaks a layer even when it sits inside a function: a copy of the package gets one such import
per rule and every contract it breaks must report BROKEN."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "airflow_provider_bitrix24"
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")

# (module that gets a function-level import, what it imports, the contract that must break)
VIOLATIONS = [
    ("client/errors.py", "airflow.models", "client imports nothing else of the package and no Airflow"),
    ("catalogue/params.py", "airflow.models", "catalogue and emulator import no Airflow"),
    ("emulator/registry.py", f"{PACKAGE}.hooks", "emulator imports at most catalogue"),
    ("hooks/bitrix24.py", f"{PACKAGE}.operators", "hooks import at most client and catalogue"),
    ("operators/crm.py", f"{PACKAGE}.triggers", "operators import no sensors, triggers or plugins"),
    ("triggers/events.py", f"{PACKAGE}.sensors", "triggers import no operators or sensors"),
    ("sensors/base.py", f"{PACKAGE}.operators", "sensors may defer to triggers but import no operators"),
    ("plugins/bitrix24.py", f"{PACKAGE}.oauth", "nothing in the package imports oauth"),
]


def lint_imports(tree: Path) -> str:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    done = subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=tree, env=env, capture_output=True, text=True, timeout=120
    )
    return done.stdout + done.stderr


def contract_states(output: str) -> dict[str, str]:
    """Contract name -> KEPT | BROKEN (names may wrap onto a second line)."""
    lines = " ".join(output.split("\n")).split()
    text = " ".join(lines)
    states = {}
    for _, _, name in VIOLATIONS:
        for state in ("KEPT", "BROKEN"):
            if f"{name} {state}" in text:
                states[name] = state
    return states


@pytest.mark.skipif(not LINT_IMPORTS.exists(), reason="import-linter is not installed (test extra)")
def test_function_level_imports_break_the_layer_contracts(tmp_path):
    shutil.copytree(ROOT / PACKAGE, tmp_path / PACKAGE, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    clean = contract_states(lint_imports(tmp_path))
    assert clean == {name: "KEPT" for _, _, name in VIOLATIONS}, clean

    for module, target, _ in VIOLATIONS:
        with (tmp_path / PACKAGE / module).open("a") as source:
            source.write(f"\n\ndef _layer_probe():\n    import {target}\n\n    return {target}\n")
    broken = contract_states(lint_imports(tmp_path))
    assert broken == {name: "BROKEN" for _, _, name in VIOLATIONS}, broken
