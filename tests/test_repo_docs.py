"""docs/architecture.md states what the code does: its generated blocks (modules, imports between
packages, connection defaults) are current, and its hand-written numbers agree with the code."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ROOT / "scripts"
ARCHITECTURE = ROOT / "docs" / "architecture.md"


def load_generator():
    sys.path.insert(0, str(SCRIPTS))
    try:
        spec = importlib.util.spec_from_file_location(
            "b24_gen_architecture_docs", SCRIPTS / "gen_architecture_docs.py"
        )
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(SCRIPTS))


def test_generated_facts_in_architecture_doc_are_current():
    generator = load_generator()
    text = ARCHITECTURE.read_text(encoding="utf-8")
    assert generator.render(text) == text, (
        "docs/architecture.md is stale: run scripts/gen_architecture_docs.py"
    )


def test_every_module_of_the_package_is_in_the_architecture_doc():
    text = ARCHITECTURE.read_text(encoding="utf-8")
    package = ROOT / "airflow_provider_bitrix24"
    for folder in ("client", "hooks", "polling", "sensors", "triggers", "plugins", "oauth"):
        for module in (package / folder).glob("*.py"):
            if module.name != "__init__.py":
                assert f"`{module.name}`" in text, f"{folder}/{module.name} missing from docs/architecture.md"


def test_generator_reports_a_stale_doc(tmp_path, monkeypatch):
    generator = load_generator()
    stale = tmp_path / "architecture.md"
    stale.write_text(ARCHITECTURE.read_text(encoding="utf-8").replace("| `timeout` |", "| `timeout_s` |"))
    monkeypatch.setattr(generator, "OUTPUT", stale)
    monkeypatch.setattr(generator, "ROOT", tmp_path)
    assert generator.main(["--check"]) == 1
    assert generator.main([]) == 0
    assert generator.main(["--check"]) == 0


def test_hand_written_numbers_agree_with_the_code():
    import inspect
    import re

    from airflow_provider_bitrix24.client import Bitrix24Client
    from airflow_provider_bitrix24.client.encoding import BATCH_LIMIT
    from airflow_provider_bitrix24.client.paging import PAGE_SIZE

    text = ARCHITECTURE.read_text(encoding="utf-8")
    timeout = re.search(r"timeout=\(([\d.]+), ([\d.]+)\)", text)
    assert timeout, "the client example states its timeouts"
    default = inspect.signature(Bitrix24Client).parameters["timeout"].default
    assert (float(timeout[1]), float(timeout[2])) == default
    assert f"at most {BATCH_LIMIT} commands" in text
    assert f"{PAGE_SIZE * BATCH_LIMIT:,} records per request" in text
