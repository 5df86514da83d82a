"""ObjectStorageToBitrix24Operator: upserts by key, re-runs create nothing twice, rejects carry the error."""

from __future__ import annotations

import gzip
import json

import pytest
from airflow.sdk import ObjectStoragePath

from airflow_provider_bitrix24.operators.transfers import ObjectStorageToBitrix24Operator


def write_jsonl(path, rows, gz=False):
    data = "".join(json.dumps(r) + "\n" for r in rows).encode()
    path.write_bytes(gzip.compress(data) if gz else data)
    return ObjectStoragePath(f"file://{path}")


@pytest.fixture
def hook(webhook_conn):
    from airflow_provider_bitrix24.hooks.bitrix24 import Bitrix24Hook

    return Bitrix24Hook()


def test_field_key_upsert_rerun_creates_each_record_once(emu, hook, tmp_path):
    rows = [{"TITLE": f"Deal {n}", "UF_CRM_EXT_ID": f"ext-{n}", "OPPORTUNITY": n} for n in range(120)]
    source = write_jsonl(tmp_path / "deals.jsonl.gz", rows, gz=True)
    emu.seed("crm.deal", [{"TITLE": "pre-existing", "UF_CRM_EXT_ID": "ext-5"}])

    def run():
        return ObjectStorageToBitrix24Operator(
            task_id="import", path=str(source), entity="deal", match_by="field", match_field="UF_CRM_EXT_ID"
        ).execute({})

    assert run() == {"created": 119, "updated": 1, "failed": 0, "rejects_path": None}
    assert run() == {"created": 0, "updated": 120, "failed": 0, "rejects_path": None}
    assert run()["created"] == 0
    stored = emu.rows("crm.deal")
    assert len(stored) == 120
    assert sorted(r["UF_CRM_EXT_ID"] for r in stored) == sorted(r["UF_CRM_EXT_ID"] for r in rows)
    assert next(r for r in stored if r["UF_CRM_EXT_ID"] == "ext-5")["TITLE"] == "Deal 5"
    # writes go in batches of 50: 120 rows = 3 batch requests of writes per run
    writes = [c for c in emu.calls() if c.method in ("crm.deal.add", "crm.deal.update")]
    assert len(writes) == 360


def test_same_key_twice_in_one_file_is_one_record(emu, hook, tmp_path):
    rows = [
        {"TITLE": "first", "ORIGIN_ID": "a"},
        {"TITLE": "second", "ORIGIN_ID": "a"},
        {"TITLE": "b", "ORIGIN_ID": "b"},
    ]
    source = write_jsonl(tmp_path / "d.jsonl", rows)
    result = ObjectStorageToBitrix24Operator(
        task_id="i", path=str(source), entity="deal", match_field="ORIGIN_ID"
    ).execute({})
    assert result["created"] == 2 and result["updated"] == 1
    assert {r["ORIGIN_ID"]: r["TITLE"] for r in emu.rows("crm.deal")} == {"a": "second", "b": "b"}


def test_email_dedup_against_existing_leads(emu, hook, tmp_path):
    emu.seed(
        "crm.lead", [{"TITLE": "Known", "EMAIL": [{"VALUE": "Known@Example.com", "VALUE_TYPE": "WORK"}]}]
    )
    rows = [
        {"TITLE": "Known again", "EMAIL": "known@example.com"},
        {"TITLE": "New", "EMAIL": "new@example.com", "PHONE": "+1 555 0100"},
        {"TITLE": "No e-mail"},
    ]
    source = write_jsonl(tmp_path / "leads.jsonl", rows)

    def run():
        return ObjectStorageToBitrix24Operator(
            task_id="i", path=str(source), entity="lead", match_by="email"
        ).execute({})

    first = run()
    assert (first["created"], first["updated"], first["failed"]) == (1, 1, 1)
    second = run()
    assert (second["created"], second["updated"], second["failed"]) == (0, 2, 1)
    leads = emu.rows("crm.lead")
    assert len(leads) == 2
    known = next(r for r in leads if r["TITLE"] == "Known again")
    # not appended to: still the one value
    assert [(v["VALUE"], v["VALUE_TYPE"]) for v in known["EMAIL"]] == [("Known@Example.com", "WORK")]
    rejects = [
        json.loads(line) for line in ObjectStoragePath(second["rejects_path"]).read_text().splitlines()
    ]
    missing = {"code": "MISSING_KEY", "description": "no value in 'EMAIL'"}
    assert rejects == [{"line": 3, "row": {"TITLE": "No e-mail"}, "error": missing}]


def test_phone_match(emu, hook, tmp_path):
    emu.seed(
        "crm.contact", [{"NAME": "Ann", "PHONE": [{"VALUE": "+1 (555) 010-0200", "VALUE_TYPE": "WORK"}]}]
    )
    source = write_jsonl(tmp_path / "c.jsonl", [{"NAME": "Ann B.", "PHONE": "15550100200"}])
    result = ObjectStorageToBitrix24Operator(
        task_id="i", path=str(source), entity="contact", match_by="phone"
    ).execute({})
    assert result["updated"] == 1 and len(emu.rows("crm.contact")) == 1


def test_bitrix24_errors_go_to_rejects_and_clear_on_a_clean_rerun(emu, hook, tmp_path):
    rows = [{"ORIGIN_ID": "c1", "TITLE": "Acme"}, {"ORIGIN_ID": "c2"}, "not an object"]
    source = write_jsonl(tmp_path / "companies.jsonl", rows)
    rejects_path = tmp_path / "rejects.jsonl"
    op = ObjectStorageToBitrix24Operator(
        task_id="i",
        path=str(source),
        entity="company",
        match_field="ORIGIN_ID",
        rejects_path=f"file://{rejects_path}",
    )
    result = op.execute({})
    assert (result["created"], result["failed"]) == (1, 2)
    rejects = [json.loads(line) for line in rejects_path.read_text().splitlines()]
    assert [r["line"] for r in rejects] == [3, 2]
    assert rejects[0]["error"]["code"] == "INVALID_ROW"
    assert rejects[1]["row"] == {"ORIGIN_ID": "c2"} and rejects[1]["error"]["code"]
    assert emu.webhook_code not in rejects_path.read_text()

    write_jsonl(tmp_path / "companies.jsonl", [{"ORIGIN_ID": "c2", "TITLE": "Fixed"}])
    assert op.execute({})["failed"] == 0
    assert not rejects_path.exists()

    strict = ObjectStorageToBitrix24Operator(
        task_id="s",
        path=str(write_jsonl(tmp_path / "bad.jsonl", [{"ORIGIN_ID": "c3"}])),
        entity="company",
        match_field="ORIGIN_ID",
        max_failed=0,
    )
    with pytest.raises(Exception, match="IMPORT_REJECTS"):
        strict.execute({})


def test_smart_process_items(emu, hook, tmp_path):
    rows = [{"title": f"Item {n}", "ufCrmExtId": f"x{n}"} for n in range(3)]
    source = write_jsonl(tmp_path / "items.jsonl", rows)
    op = ObjectStorageToBitrix24Operator(
        task_id="i", path=str(source), entity="item", entity_type_id=128, match_field="ufCrmExtId"
    )
    assert op.execute({})["created"] == 3
    assert op.execute({})["updated"] == 3
    assert len(emu.rows("crm.item", entity_type_id=128)) == 3


def test_configuration_errors():
    with pytest.raises(ValueError, match="match_field"):
        ObjectStorageToBitrix24Operator(task_id="a", path="file:///x", entity="deal")
    with pytest.raises(ValueError, match="works for"):
        ObjectStorageToBitrix24Operator(task_id="b", path="file:///x", entity="deal", match_by="email")
    with pytest.raises(ValueError, match="entity_type_id"):
        ObjectStorageToBitrix24Operator(task_id="c", path="file:///x", entity="item", match_field="x")
