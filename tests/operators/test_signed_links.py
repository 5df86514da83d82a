"""Signed file links carry the caller's access token: no operator result (XCom) and no
``output_path`` file may contain one, whatever the action."""

from __future__ import annotations

import json
import logging

import pytest

from airflow_provider_bitrix24.client.errors import Bitrix24Error
from airflow_provider_bitrix24.client.files import mask_links
from airflow_provider_bitrix24.operators import operator_class
from airflow_provider_bitrix24.operators.direct import Bitrix24BatchOperator, Bitrix24CallOperator


@pytest.fixture
def signed_deal(emu, oauth_conn):
    """A deal whose file field holds the links a portal signs with the caller's token."""
    token = oauth_conn["extra"]["access_token"]
    link = f"{emu.url}/rest/crm.controller.item.getFile/?auth={token}&token=crm%7Cabc"
    file_field = {
        "id": 7,
        "showUrl": f"{emu.url}/bitrix/tools/crm_show_file.php?fileId=7",
        "downloadUrl": link,
        "urlMachine": link,
        "imageUrlMachine": link,  # not in the named key list: caught by its "Machine" suffix
        "file_url": link,  # any key: caught by the credential in its query
    }
    deal_id = emu.seed("crm.deal", [{"TITLE": "signed", "UF_CRM_CONTRACT": file_field}])[0]
    return deal_id, token


def _assert_masked(value, token):
    text = json.dumps(value)
    assert token not in text
    assert "auth=" not in text
    return text


def test_action_results_and_output_files_carry_no_token(signed_deal, tmp_path):
    deal_id, token = signed_deal
    got = operator_class("crm_deal_get")(task_id="get", parameters={"id": deal_id}).execute({})
    field = got["UF_CRM_CONTRACT"]
    _assert_masked(got, token)
    assert field["downloadUrl"].endswith("/rest/crm.controller.item.getFile/?***")
    assert field["imageUrlMachine"].endswith("?***") and field["file_url"].endswith("?***")
    assert field["showUrl"].endswith("fileId=7")  # unsigned links stay usable

    rows = operator_class("crm_deal_get_all")(task_id="all").execute({})
    _assert_masked(rows, token)
    target = tmp_path / "deals.jsonl"
    written = operator_class("crm_deal_get_all")(task_id="file", output_path=str(target)).execute({})
    assert written["count"] == 1
    _assert_masked(target.read_text(), token)


def test_direct_call_and_batch_results_carry_no_token(signed_deal):
    deal_id, token = signed_deal
    called = Bitrix24CallOperator(task_id="call", method="crm.deal.get", parameters={"id": deal_id}).execute(
        {}
    )
    assert called["UF_CRM_CONTRACT"]["urlMachine"].endswith("?***")
    _assert_masked(called, token)
    paged = Bitrix24CallOperator(task_id="paged", method="crm.deal.list", all_pages=True).execute({})
    _assert_masked(paged, token)
    batch = Bitrix24BatchOperator(task_id="batch", commands={"d": ("crm.deal.get", {"id": deal_id})}).execute(
        {}
    )
    assert batch["result"]["d"]["UF_CRM_CONTRACT"]["downloadUrl"].endswith("?***")
    _assert_masked(batch, token)


def test_a_failed_batch_logs_its_results_without_the_token(signed_deal, caplog, capfd):
    deal_id, token = signed_deal
    caplog.set_level(logging.INFO)
    commands = {"d": ("crm.deal.get", {"id": deal_id}), "missing": ("crm.deal.get", {"id": 99999})}
    with pytest.raises(Bitrix24Error, match="1 of 2 commands failed"):
        Bitrix24BatchOperator(task_id="batch", commands=commands).execute({})
    out, err = capfd.readouterr()  # the task logger may write to the streams or to logging
    logged = "\n".join([out, err, *(r.getMessage() for r in caplog.records)])
    assert "batch results before the failure" in logged and "signed" in logged
    assert token not in logged


def test_mask_links_keeps_everything_but_signed_queries():
    value = {
        "n": 1,
        "note": "no link",
        "DETAIL_URL": "https://p/disk/file/1/",
        "items": [{"pdfUrlMachine": "https://p/x?a=1"}],
        "url": "https://p/f.php?fileId=3&auth=T0K",
    }
    assert mask_links(value) == {
        "n": 1,
        "note": "no link",
        "DETAIL_URL": "https://p/disk/file/1/",
        "items": [{"pdfUrlMachine": "https://p/x?***"}],
        "url": "https://p/f.php?***",
    }
