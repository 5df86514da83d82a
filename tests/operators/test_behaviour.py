"""What the shared operator machinery does around the calls: paging, output files, uploads,
downloads, deprecation notes, continue_on_fail, templating and the multi-call rows."""

from __future__ import annotations

import base64
import json
import logging
from datetime import datetime

import pytest

from airflow_provider_bitrix24.client.errors import Bitrix24Error
from airflow_provider_bitrix24.operators import base as base_module
from airflow_provider_bitrix24.operators import operator_class
from airflow_provider_bitrix24.operators.base import Bitrix24Operator
from airflow_provider_bitrix24.operators.direct import Bitrix24BatchOperator, Bitrix24CallOperator

from .samples import distinct, rest_calls


def _op(action_id, **kwargs):
    return operator_class(action_id)(task_id="t", **kwargs)


def _sent(emu, method):
    return [r.params for r in emu.calls(method)]


# -- paging ---------------------------------------------------------------------------------


def test_get_all_returns_every_row_and_honours_limit(emu, webhook_conn):
    emu.seed("crm.deal", [{"TITLE": f"d{i}"} for i in range(120)])
    assert len(_op("crm_deal_get_all").execute({})) == 120
    assert [d["TITLE"] for d in _op("crm_deal_get_all", limit=7).execute({})] == [f"d{i}" for i in range(7)]


def test_get_all_streams_to_output_path_as_json_lines(emu, webhook_conn, tmp_path):
    emu.seed("crm.deal", [{"TITLE": f"d{i}"} for i in range(75)])
    target = tmp_path / "deals.jsonl"
    result = _op("crm_deal_get_all", output_path=str(target), parameters={"filter": '{">ID": 0}'}).execute({})
    assert result == {"path": str(target), "count": 75}
    rows = [json.loads(line) for line in target.read_text().splitlines()]
    assert len(rows) == 75 and rows[0]["TITLE"] == "d0"


def test_generic_list_methods_page_through_the_emulator(emu, oauth_conn):
    for i in range(60):
        _op("data_storage_add_entity_item", parameters={"ENTITY": "menu", "NAME": f"n{i}"}).execute({})
    emu.clear_requests()
    rows = _op("data_storage_get_entity_item", parameters={"ENTITY": "menu"}).execute({})
    assert len(rows) == 60
    assert distinct(rest_calls(emu)) == ["entity.item.get"]


# -- uploads and downloads ------------------------------------------------------------------


@pytest.fixture
def sample_file(tmp_path):
    path = tmp_path / "call.mp3"
    path.write_bytes(b"ID3 sample audio")
    return path


B64 = base64.b64encode(b"ID3 sample audio").decode()


def test_files_are_encoded_in_the_shape_the_row_documents(emu, webhook_conn, sample_file):
    _op(
        "telephony_attach_call_record", parameters={"CALL_ID": "c1"}, files={"FILE_CONTENT": str(sample_file)}
    ).execute({})
    assert _sent(emu, "telephony.externalcall.attachrecord")[0] == {
        "CALL_ID": "c1",
        "FILE_CONTENT": B64,
        "FILENAME": "call.mp3",
    }

    _op(
        "timeline_add_comment",
        parameters={"fields": {"ENTITY_ID": 1, "ENTITY_TYPE": "deal", "COMMENT": "c"}},
        files={"fields.FILES": [str(sample_file), str(sample_file)]},
    ).execute({})
    assert _sent(emu, "crm.timeline.comment.add")[0]["fields"]["FILES"] == [["call.mp3", B64]] * 2

    _op(
        "crm_deal_create",
        parameters={"fields": {"TITLE": "with file"}},
        files={"fields.UF_CRM_DOC": str(sample_file)},
    ).execute({})
    assert _sent(emu, "crm.deal.add")[0]["fields"]["UF_CRM_DOC"] == {"fileData": ["call.mp3", B64]}

    _op("chatbot_update_chat_avatar", parameters={"CHAT_ID": 5}, files={"AVATAR": str(sample_file)}).execute(
        {}
    )
    assert _sent(emu, "imbot.chat.updateavatar")[0] == {"CHAT_ID": 5, "AVATAR": B64}


def test_document_download_writes_the_chosen_format(emu, webhook_conn, tmp_path):
    docx = _op(
        "document_generator_download_document", parameters={"id": 4}, output_path=str(tmp_path / "a.docx")
    ).execute({})
    pdf = _op(
        "document_generator_download_document",
        parameters={"id": 4, "format": "pdf"},
        output_path=str(tmp_path / "a.pdf"),
    ).execute({})
    assert (tmp_path / "a.docx").read_bytes() == b"emulated docx document 4" and docx["size"] == 24
    assert (tmp_path / "a.pdf").read_bytes().startswith(b"emulated pdf") and pdf["format"] == "pdf"
    assert all("format" not in p for p in _sent(emu, "documentgenerator.document.get"))


def test_list_element_files_land_in_the_output_folder(emu, webhook_conn, tmp_path):
    result = _op(
        "lists_get_element_file",
        output_path=str(tmp_path),
        parameters={"IBLOCK_TYPE_ID": "lists", "IBLOCK_ID": 3, "ELEMENT_ID": 9, "FIELD_ID": "64"},
    ).execute({})
    assert result["count"] == 1
    assert (tmp_path / "9_64_1").read_bytes() == b"emulated list file 9"


# -- deprecation, continue_on_fail, templating ---------------------------------------------


def test_deprecated_action_names_its_successor_once_per_process(emu, webhook_conn, caplog, monkeypatch):
    monkeypatch.setattr(base_module, "_deprecations_logged", set())
    caplog.set_level(logging.WARNING)
    for _ in range(3):
        _op("crm_lead_get_all").execute({})
    notes = [r for r in caplog.records if "stopped developing" in r.getMessage()]
    assert len(notes) == 1
    assert "crm.item.list entityTypeId=1" in notes[0].getMessage()


def test_continue_on_fail_returns_the_error_as_data_without_secrets(emu, webhook_conn):
    result = _op("crm_deal_get", parameters={"id": 999}, continue_on_fail=True).execute({})
    assert set(result) == {"error", "resource", "timestamp"}
    assert result["resource"] == "CRM" and "crm.deal.get" in result["error"]
    assert datetime.fromisoformat(result["timestamp"]).utcoffset().total_seconds() == 0
    assert emu.webhook_code not in json.dumps(result)
    missing = _op("crm_deal_get", continue_on_fail=True).execute({})
    assert "missing required parameter 'id'" in missing["error"]


def test_failures_raise_without_continue_on_fail(emu, webhook_conn):
    with pytest.raises(Bitrix24Error):
        _op("crm_deal_get", parameters={"id": 999}).execute({})


def test_parameters_are_templated(emu, webhook_conn):
    deal = emu.seed("crm.deal", [{"TITLE": "templated"}])[0]
    op = _op("crm_deal_get", parameters={"id": "{{ params_id }}"})
    assert "parameters" in op.template_fields
    op.render_template_fields({"params_id": deal})
    assert op.execute({})["TITLE"] == "templated"


# -- rows with more than one call ----------------------------------------------------------


@pytest.fixture
def session(emu):
    return emu.seed("imopenlines.session", [{"CHAT_ID": 42, "USER_CODE": "livechat|1|1|1"}])[0]


@pytest.mark.parametrize(
    "closed_by,method",
    [
        ("operator", "imopenlines.operator.finish"),
        ("another_operator", "imopenlines.operator.another.finish"),
        ("bot", "imopenlines.bot.session.finish"),
    ],
)
def test_close_open_line_session_resolves_the_chat_then_closes_it(
    emu, webhook_conn, session, closed_by, method
):
    from airflow_provider_bitrix24.operators import CloseOpenLineSessionOperator

    CloseOpenLineSessionOperator(
        task_id="close", parameters={"SESSION_ID": session}, closed_by=closed_by
    ).execute({})
    assert distinct(rest_calls(emu)) == ["imopenlines.dialog.get", method]
    assert _sent(emu, method)[0]["CHAT_ID"] == 42


def test_session_actions_skip_the_lookup_when_the_chat_is_known(emu, webhook_conn, session):
    Bitrix24Operator(
        task_id="g", action_id="open_lines_transfer_session", parameters={"CHAT_ID": 42, "TRANSFER_ID": 5}
    ).execute({})
    assert rest_calls(emu) == ["imopenlines.operator.transfer"]
    assert _sent(emu, "imopenlines.operator.transfer")[0] == {"CHAT_ID": 42, "TRANSFER_ID": 5}


def test_generic_operator_uses_the_row_class_logic(emu, webhook_conn, session):
    Bitrix24Operator(
        task_id="g", action_id="open_lines_close_session", parameters={"SESSION_ID": session}, closed_by="bot"
    ).execute({})
    assert distinct(rest_calls(emu)) == ["imopenlines.dialog.get", "imopenlines.bot.session.finish"]


def test_chat_update_calls_only_the_setters_for_given_values(emu, webhook_conn):
    assert _op("chat_update_chat", parameters={"CHAT_ID": 3, "COLOR": "MINT"}).execute({}) == {"COLOR": True}
    assert rest_calls(emu) == ["im.chat.updatecolor"]
    emu.clear_requests()
    with pytest.raises(Exception, match="give at least one of TITLE, COLOR, AVATAR"):
        _op("chat_update_chat", parameters={"CHAT_ID": 3}).execute({})
    assert emu.requests == []


def test_find_duplicates_searches_each_communication_type(emu, webhook_conn):
    lead = emu.seed("crm.lead", [{"TITLE": "l", "PHONE": [{"VALUE": "+1", "VALUE_TYPE": "WORK"}]}])[0]
    result = _op("duplicate_find_duplicates", parameters={"entityTypeId": 1, "id": lead}).execute({})
    assert set(result) == {"PHONE"}
    assert _sent(emu, "crm.duplicate.findbycomm")[0] == {"type": "PHONE", "values": ["+1"]}
    emu.clear_requests()
    with pytest.raises(Exception, match="entityTypeId must be 1"):
        _op("duplicate_find_duplicates", parameters={"entityTypeId": 2, "id": 1}).execute({})
    assert emu.requests == []


def test_spa_status_reads_each_pipeline_stage_list(emu, webhook_conn):
    result = _op("spa_get_spa_status", parameters={"entityTypeId": 1040}).execute({})
    assert list(result["stages"]) == [1]
    sent = _sent(emu, "crm.status.list")[0]  # the list pages: start is the paging's own
    assert {k: v for k, v in sent.items() if k != "start"} == {
        "filter": {"ENTITY_ID": "DYNAMIC_1040_STAGE_1"}
    }


def test_add_multiple_fields_reports_each_field(emu, webhook_conn):
    fields = [{"entityId": "CRM_DEAL", "fieldName": f"UF_CRM_{n}", "userTypeId": "string"} for n in "AB"]
    result = _op("user_field_config_add_multiple", parameters={"moduleId": "crm", "fields": fields}).execute(
        {}
    )
    assert [r["fieldName"] for r in result] == ["UF_CRM_A", "UF_CRM_B"]
    assert [r.method for r in emu.requests] == ["batch"]


def test_add_multiple_fields_names_what_failed(emu, webhook_conn):
    emu.inject_fault(status=400, error="ERROR_FIELD", description="bad field", method="userfieldconfig.add")
    fields = [{"entityId": "CRM_DEAL", "fieldName": f"UF_CRM_{n}", "userTypeId": "string"} for n in "AB"]
    with pytest.raises(Bitrix24Error, match="created: UF_CRM_B; failed: UF_CRM_A"):
        _op("user_field_config_add_multiple", parameters={"moduleId": "crm", "fields": fields}).execute({})


# -- Direct API ----------------------------------------------------------------------------


def test_call_operator_passes_any_documented_method(emu, webhook_conn):
    me = Bitrix24CallOperator(task_id="c", method="user.current").execute({})
    assert me["ID"] in (1, "1")
    emu.seed("crm.deal", [{"TITLE": f"d{i}"} for i in range(55)])
    assert len(Bitrix24CallOperator(task_id="c", method="crm.deal.list", all_pages=True).execute({})) == 55


def test_batch_operator_returns_keyed_results_and_raises_on_failed_commands(emu, webhook_conn):
    deal = emu.seed("crm.deal", [{"TITLE": "b"}])[0]
    out = Bitrix24BatchOperator(
        task_id="b",
        commands={"me": ["user.current", {}], "deal": {"method": "crm.deal.get", "params": {"id": deal}}},
    ).execute({})
    assert out["result"]["deal"]["TITLE"] == "b"
    with pytest.raises(Bitrix24Error, match="1 of 2 commands failed: missing"):
        Bitrix24BatchOperator(
            task_id="b", commands='{"ok": ["user.current", {}], "missing": ["crm.deal.get", {"id": 999}]}'
        ).execute({})


def test_generic_operator_builds_the_row_class_with_its_extra_arguments(emu, webhook_conn, tmp_path):
    from airflow_provider_bitrix24.operators import CrmDealGetOperator, OpenLinesCloseSessionOperator

    assert (
        type(Bitrix24Operator(task_id="g", action_id="crm_deal_get", parameters={"id": 1}))
        is CrmDealGetOperator
    )
    op = Bitrix24Operator(task_id="g", action_id="open_lines_close_session", closed_by="bot")
    assert isinstance(op, OpenLinesCloseSessionOperator) and op.variant == "bot"
    call = Bitrix24Operator(task_id="g", action_id="direct_api_call", method="user.current")
    assert call.execute({})["ID"] in (1, "1")


def test_large_call_records_take_the_two_step_upload(emu, webhook_conn, tmp_path):
    record = tmp_path / "long.wav"
    record.write_bytes(b"RIFF" + bytes(5000))
    result = _op(
        "telephony_attach_call_record",
        parameters={"CALL_ID": "c9"},
        files={"FILE_CONTENT": str(record)},
        inline_limit=1000,
    ).execute({})
    assert "FILE_ID" in result
    assert _sent(emu, "telephony.externalcall.attachrecord") == [{"CALL_ID": "c9", "FILENAME": "long.wav"}]
    assert "upload" in [r.method for r in emu.requests]
