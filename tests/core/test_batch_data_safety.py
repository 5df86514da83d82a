"""Data is never code: values that look like the portal's batch references (``$result[...]``,
``$result_next[...]``, ...) reach the portal exactly as written, the rest of the batch goes ahead,
and references the package or a caller build on purpose (``result_ref``) keep working."""

from __future__ import annotations

import json

import pytest

from airflow_provider_bitrix24.client import Bitrix24Client, Bitrix24ConfigError, WebhookAuth
from airflow_provider_bitrix24.client.encoding import BatchRef, result_ref

FAST = {"rate_limit": None, "backoff_base": 0.01, "backoff_max": 0.05}

LOOKALIKES = [
    "$result[r0]",
    "$result[r0][ID]",
    "price $result[1] per unit",
    "$result_next[r0]",
    "$result_total[r0]",
    "$result_error[r0]",
    "$result_time[r0][start]",
]


def client_for(emu, **kwargs):
    return Bitrix24Client(emu.url, WebhookAuth(emu.webhook_user_id, emu.webhook_code), **{**FAST, **kwargs})


def test_the_emulator_substitutes_every_reference_section_like_the_portal(emu):
    """The oracle for the tests below: written into a raw command, each form is replaced."""
    with client_for(emu) as client:
        out = client.batch(
            {
                "r0": "crm.deal.list?select[0]=ID&start=0",
                **{
                    f"t{i}": f"crm.deal.add?fields[TITLE]={text.replace(' ', '%20').replace('[1]', '[r0]')}"
                    for i, text in enumerate(LOOKALIKES)
                },
            }
        )
    assert not out.errors
    titles = [r["TITLE"] for r in emu.rows("crm.deal")]
    assert not [t for t in titles if "$result" in str(t).lower()], titles


@pytest.mark.parametrize("title", LOOKALIKES)
def test_a_lookalike_value_is_stored_verbatim_and_the_batch_goes_ahead(emu, title):
    commands = {
        "r0": ("crm.deal.add", {"fields": {"TITLE": "first"}}),
        "r1": ("crm.deal.add", {"fields": {"TITLE": title}}),
        "r2": ("crm.deal.add", {"fields": {"TITLE": "third"}}),
    }
    with client_for(emu) as client:
        out = client.batch(commands)
    assert not out.errors and set(out.result) == {"r0", "r1", "r2"}
    stored = {int(r["ID"]): r["TITLE"] for r in emu.rows("crm.deal")}
    assert stored[int(out.result["r1"])] == title
    assert sorted(stored.values()) == sorted(["first", title, "third"])


def test_with_halt_the_order_of_commands_is_kept(emu):
    commands = [
        ("crm.deal.add", {"fields": {"TITLE": t}}) for t in ("a", "$result[0]", "c", "$result[2]", "e")
    ]
    with client_for(emu) as client:
        out = client.batch(commands, halt=True)
    assert not out.errors
    ids = [int(out.result[str(i)]) for i in range(5)]
    assert ids == sorted(ids)
    assert [r["TITLE"] for r in sorted(emu.rows("crm.deal"), key=lambda r: int(r["ID"]))] == [
        "a",
        "$result[0]",
        "c",
        "$result[2]",
        "e",
    ]


def test_commands_php_would_not_read_as_written_go_on_their_own(emu):
    """PHP's parse_str keeps 1000 values of a command (max_input_vars) and renames a top-level
    ``a.b`` to ``a_b``: such commands go as plain JSON calls, the others in the batch."""
    emu.seed_generated("crm.deal", 3)
    commands = {
        "many": ("crm.deal.list", {"filter": {"ID": list(range(1, 1002))}, "select": ["ID"]}),
        "dotted": ("server.time", {"a.b": 1}),
        "plain": ("server.time", {}),
    }
    with client_for(emu) as client:
        out = client.batch(commands)
    assert not out.errors and [int(r["ID"]) for r in out.result["many"]] == [1, 2, 3]
    batch, *plain = emu.requests
    assert [c.key for c in batch.sub_calls] == ["plain"]
    assert [(r.method, len(r.params.get("filter", {}).get("ID", []))) for r in plain] == [
        ("crm.deal.list", 1001),
        ("server.time", 0),
    ]
    assert plain[1].params["a.b"] == 1


def test_an_intended_reference_is_written_with_result_ref(emu):
    with client_for(emu) as client:
        out = client.batch(
            {
                "add": ("crm.deal.add", {"fields": {"TITLE": "Ref & co = 100%"}}),
                "get": ("crm.deal.get", {"id": result_ref("add")}),
                "list": ("crm.deal.list", {"filter": {"ID": result_ref("add")}, "select": ["ID"]}),
            }
        )
    assert not out.errors
    assert out.result["get"]["TITLE"] == "Ref & co = 100%"
    assert [int(r["ID"]) for r in out.result["list"]] == [int(out.result["add"])]


def test_result_ref_renders_each_section():
    assert str(result_ref("a", "items", 0, "id")) == "$result[a][items][0][id]"
    assert str(BatchRef("a", section="result_next")) == "$result_next[a]"
    with pytest.raises(Bitrix24ConfigError):
        BatchRef("a", section="result_other")
    with pytest.raises(Bitrix24ConfigError):
        result_ref("a]b")


def test_a_reference_to_a_command_sent_on_its_own_is_refused_before_sending(emu):
    commands = {
        "a": ("crm.deal.add", {"fields": {"TITLE": "$result[x]"}}),
        "b": ("crm.deal.get", {"id": result_ref("a")}),
    }
    with (
        client_for(emu) as client,
        pytest.raises(Bitrix24ConfigError, match=r"'b'.*\$result\[a\].*on its own"),
    ):
        client.batch(commands)
    assert not emu.requests


def test_a_command_mixing_a_reference_and_a_lookalike_is_refused_before_sending(emu):
    commands = {
        "a": ("crm.deal.add", {"fields": {"TITLE": "a"}}),
        "b": ("crm.deal.update", {"id": result_ref("a"), "fields": {"TITLE": "$result[a]"}}),
    }
    with client_for(emu) as client, pytest.raises(Bitrix24ConfigError, match=r"'b'.*fields\.TITLE"):
        client.batch(commands)
    assert not emu.requests


def test_paging_with_a_lookalike_filter_value_reads_exactly_the_matching_rows(emu):
    emu.seed_generated("crm.deal", 120)
    emu.seed("crm.deal", [{"TITLE": "$result[head]"} for _ in range(3)])
    emu.seed("crm.deal", [{"TITLE": "$result[p0][49][ID]"} for _ in range(2)])
    with client_for(emu) as client:
        for title, count in (("$result[head]", 3), ("$result[p0][49][ID]", 2)):
            for limit in (None, 10):
                rows = list(client.paginate("crm.deal.list", {"filter": {"TITLE": title}}, limit=limit))
                assert [r["TITLE"] for r in rows] == [title] * count


# ------------------------------------------------------------------ through the import operator


def write_jsonl(path, rows):
    from airflow.sdk import ObjectStoragePath

    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return ObjectStoragePath(f"file://{path}")


@pytest.fixture
def hook(webhook_conn):
    from airflow_provider_bitrix24.hooks.bitrix24 import Bitrix24Hook

    return Bitrix24Hook()


def import_rows(tmp_path, rows):
    from airflow_provider_bitrix24.operators.transfers import ObjectStorageToBitrix24Operator

    source = write_jsonl(tmp_path / "rows.jsonl", rows)
    return ObjectStorageToBitrix24Operator(
        task_id="import", path=str(source), entity="deal", match_field="ORIGIN_ID"
    ).execute({})


def test_an_imported_title_that_looks_like_a_reference_is_stored_verbatim(emu, hook, tmp_path):
    rows = [{"TITLE": "first", "ORIGIN_ID": "a"}, {"TITLE": "$result[r0]", "ORIGIN_ID": "b"}]
    result = import_rows(tmp_path, rows)
    assert result["created"] == 2 and result["failed"] == 0
    assert {r["ORIGIN_ID"]: r["TITLE"] for r in emu.rows("crm.deal")} == {"a": "first", "b": "$result[r0]"}


def test_a_reference_to_a_missing_command_in_a_row_does_not_stop_the_import(emu, hook, tmp_path):
    rows = [{"TITLE": f"Deal {n}", "ORIGIN_ID": f"o{n}"} for n in range(60)]
    rows[7]["TITLE"] = "costs $result[1] each"
    rows[55]["ORIGIN_ID"] = "$result[zz]"  # the match key too: looked up, then written
    result = import_rows(tmp_path, rows)
    assert result == {"created": 60, "updated": 0, "failed": 0, "rejects_path": None}
    stored = {r["ORIGIN_ID"]: r["TITLE"] for r in emu.rows("crm.deal")}
    assert stored["o7"] == "costs $result[1] each" and "$result[zz]" in stored
    assert import_rows(tmp_path, rows)["updated"] == 60  # a re-run finds every row, lookalikes too
