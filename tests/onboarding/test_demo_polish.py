"""What a new user reads first: the demo's summary lines, the quick start's task order, and the
links to the emulator's page."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def load_demo():
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        spec = importlib.util.spec_from_file_location("b24_demo_script", ROOT / "scripts" / "demo.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(ROOT / "scripts"))


def test_returned_values_have_no_trailing_padding(tmp_path):
    # Airflow's console renderer pads the event text before the logger name.
    log = tmp_path / "run.log"
    log.write_text(
        "x [DAG TEST] starting task_id=summary map_index=-1 [airflow.sdk]\n"
        "x Done. Returned value was: {'rows': 3}                [airflow.task.operators.x]\n"
    )
    assert load_demo().task_results(log) == [("summary", "{'rows': 3}")]


def test_the_lines_say_where_new_files_went(tmp_path):
    demo = load_demo()
    data = tmp_path / "data"
    (data / "export" / "crm_deal").mkdir(parents=True)
    (data / "export" / "old.jsonl.gz").write_text("")
    before = demo.files_under(data)
    for name in ("crm_deal/2026-03-01.jsonl.gz", "crm_lead/2026-03-01.jsonl.gz"):
        (data / "export" / name).parent.mkdir(parents=True, exist_ok=True)
        (data / "export" / name).write_text("x")
    lines = demo.written_files(before, demo.files_under(data), data, tmp_path)
    assert lines == ["wrote 2 file(s) under data/export/"]
    assert demo.written_files(before, before, data, tmp_path) == []
    for line in lines:
        assert line == line.rstrip()


def test_quickstart_creates_deals_only_after_the_connection_check():
    from airflow.dag_processing.dagbag import DagBag

    path = ROOT / "example_dags" / "example_bitrix24_quickstart.py"
    dag = DagBag(dag_folder=str(path)).dags["example_bitrix24_quickstart"]
    assert "check_connection" in dag.get_task("create_deals").upstream_task_ids


def test_the_emulator_page_is_linked_from_the_readme_and_its_documentation_list():
    readme = (ROOT / "README.md").read_text()
    documentation = readme.split("\n## Documentation\n", 1)[1].split("\n## ", 1)[0]
    assert re.search(r"\]\(docs/emulator\.md\)", documentation)
    assert readme.count("(docs/emulator.md)") >= 2
