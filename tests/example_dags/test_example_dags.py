"""Every example DAG imports cleanly; every one tagged "demo" runs end to end against the emulator
(fixtures ``dagbag`` and ``metadata_db`` in conftest.py)."""

from __future__ import annotations

import json
import re
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "example_dags"


def demo_dag_ids() -> list[str]:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(EXAMPLES))
    return sorted(dag_id for dag_id, dag in bag.dags.items() if "demo" in dag.tags)


def test_every_example_dag_imports(dagbag):
    assert dagbag.import_errors == {}
    files = {Path(dag.fileloc).name for dag in dagbag.dags.values()}
    assert files >= {p.name for p in EXAMPLES.glob("example_*.py")}
    for dag in dagbag.dags.values():
        assert dag.doc_md or (dag.description and Path(dag.fileloc).read_text().lstrip().startswith('"""')), (
            dag.dag_id
        )


def test_every_example_task_runs_in_the_portal_pool_the_demo_creates(dagbag):
    """Without one pool per portal, parallel exports overrun the portal's request limit."""
    demo = (EXAMPLES.parent / "scripts" / "demo.py").read_text()
    pool = re.search(r'^DEMO_POOL = "([^"]+)"', demo, re.MULTILINE).group(1)
    assert re.search(r'"pools",\s*"set",\s*DEMO_POOL', demo), "scripts/demo.py no longer creates its pool"
    for dag in dagbag.dags.values():
        for task in dag.tasks:
            assert task.pool == pool, f"{dag.dag_id}.{task.task_id} runs in pool {task.pool!r}"


SECRET_SHAPES = (
    re.compile(r"/rest/\d+/[0-9a-z]{8,}", re.IGNORECASE),  # an inbound webhook URL with its code
    re.compile(
        r"[\"'](password|client_secret|access_token|refresh_token)[\"']\s*[:=]\s*[\"'][^\"'{<]{6,}",
        re.IGNORECASE,
    ),
)


def test_example_dags_hold_no_secrets():
    for path in EXAMPLES.glob("*.py"):
        text = path.read_text()
        for shape in SECRET_SHAPES:
            assert not shape.search(text), f"{path.name}: looks like a hard-coded secret ({shape.pattern})"
    assert SECRET_SHAPES[0].search("https://x.bitrix24.com/rest/1/abc123def456/")  # the check itself bites
    assert SECRET_SHAPES[1].search('{"password": "s3cr3t-code"}')


# Per-DAG setup and checks; DAGs tagged "demo" without an entry here only have to succeed.
def _export_setup(emu, tmp_path):
    day = datetime(2026, 3, 1, tzinfo=timezone.utc)
    emu.seed(
        "crm.deal",
        [{"TITLE": f"d{i}", "DATE_MODIFY": (day + timedelta(hours=i)).isoformat()} for i in range(30)],
    )
    # a manual run's data interval is the day before its logical date
    return {
        "logical_date": day + timedelta(days=1),
        "run_conf": {"export_root": f"file://{tmp_path}/exports"},
    }


def _export_check(emu, tmp_path, run):
    import gzip

    day_file = tmp_path / "exports" / "crm_deal" / "2026-03-01.jsonl.gz"
    assert len(gzip.decompress(day_file.read_bytes()).splitlines()) == 24


def _import_setup(emu, tmp_path):
    return {
        "logical_date": datetime(2026, 3, 1, 10, tzinfo=timezone.utc),
        "run_conf": {"import_root": f"file://{tmp_path}/in"},
    }


def _import_check(emu, tmp_path, run):
    leads = emu.rows("crm.lead")
    emails = sorted(lead["EMAIL"][0]["VALUE"].lower() for lead in leads)
    assert emails == ["ada@example.com", "alan@example.com", "grace@example.com"]
    assert list((tmp_path / "in" / "leads").glob("*.rejects.jsonl"))


def _deal_won_check(emu, tmp_path, run):
    deal = emu.rows("crm.deal")[0]
    assert deal["STAGE_ID"] == "WON"
    tasks = emu.rows("tasks.task")
    assert len(tasks) == 1 and f"#{deal['ID']}" in tasks[0]["TITLE"]
    table = emu.portal.table("im.message")
    messages, _, _ = table.query({}, [], 0, len(table), False)
    assert len(messages) == 1 and f"#{deal['ID']} is won" in messages[0]["MESSAGE"]


def _housekeeping_setup(emu, tmp_path):
    long_ago = datetime.now(timezone.utc) - timedelta(hours=30)
    recent = datetime.now(timezone.utc) - timedelta(hours=1)
    emu.seed(
        "imopenlines.session",
        [
            {"CHAT_ID": 11, "USER_CODE": "a", "DATE_CREATE": long_ago.isoformat()},
            {"CHAT_ID": 12, "USER_CODE": "b", "DATE_CREATE": recent.isoformat()},
            {
                "CHAT_ID": 13,
                "USER_CODE": "c",
                "DATE_CREATE": long_ago.isoformat(),
                "CLOSED": "Y",
                "STATUS": "closed",
            },
        ],
    )
    return {"run_conf": {"chat_ids": [11, 12, 13], "idle_hours": 24}}


def _housekeeping_check(emu, tmp_path, run):
    closed = {row["CHAT_ID"]: row["CLOSED"] for row in emu.rows("imopenlines.session")}
    assert closed == {11: "Y", 12: "N", 13: "Y"}
    assert [c.params.get("CHAT_ID") for c in emu.calls("imopenlines.operator.another.finish")] in (
        [11],
        ["11"],
    )


SCENARIOS = {
    "example_bitrix24_crm_export": (_export_setup, _export_check),
    "example_bitrix24_lead_import": (_import_setup, _import_check),
    "example_bitrix24_deal_won": (None, _deal_won_check),
    "example_bitrix24_openlines_housekeeping": (_housekeeping_setup, _housekeeping_check),
}


@pytest.mark.parametrize("dag_id", demo_dag_ids())
def test_demo_dag_runs_against_the_emulator(dag_id, dagbag, metadata_db, emu, webhook_conn, tmp_path):
    setup, check = SCENARIOS.get(dag_id, (None, None))
    kwargs = setup(emu, tmp_path) if setup else {}
    started = time.monotonic()
    run = dagbag.dags[dag_id].test(**kwargs)
    print(f"{dag_id}: {time.monotonic() - started:.1f}s")
    assert run.state == "success", json.dumps({"dag": dag_id, "state": str(run.state)})
    if check:
        check(emu, tmp_path, run)
