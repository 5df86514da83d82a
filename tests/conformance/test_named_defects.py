"""The docs' own requests, driven through the operators against the emulator: each case here is a
request a doc page shows (or a rule its parameter table states) that the operators once got
wrong."""

from __future__ import annotations

import json
import logging

import pytest
import requests

from airflow_provider_bitrix24.catalogue.params import ParameterError
from airflow_provider_bitrix24.emulator.handlers.disk import drive
from airflow_provider_bitrix24.operators import operator_class


def _op(action_id, **kwargs):
    return operator_class(action_id)(task_id="t", **kwargs)


def _post(emu, method, body):
    reply = requests.post(emu.webhook_url + method, json=body, timeout=10).json()
    assert "error" not in reply, reply
    return reply["result"]


# -- the docs' upper-case FILTER / ORDER / SELECT (crm-company-list.md, crm-deal-list.md) ---------


def test_company_list_doc_example_returns_only_the_filtered_type(emu, webhook_conn):
    emu.seed("crm.company", [{"TITLE": f"c{i}", "COMPANY_TYPE": "CUSTOMER"} for i in range(137)])
    emu.seed("crm.company", [{"TITLE": f"p{i}", "COMPANY_TYPE": "PARTNER"} for i in range(88)])
    example = {
        "ORDER": {"DATE_CREATE": "ASC"},
        "FILTER": {"COMPANY_TYPE": "CUSTOMER", ">=DATE_CREATE": "2025-01-01"},
        "SELECT": ["TITLE", "ASSIGNED_BY_ID", "PHONE"],
    }
    rows = _op("crm_company_get_all", parameters=example).execute({})
    assert len(rows) == 137
    assert all(row["TITLE"].startswith("c") for row in rows)


def test_deal_export_with_upper_case_filter_and_order_by_title_returns_every_row(emu, webhook_conn):
    emu.seed("crm.deal", [{"TITLE": f"d{i:03}", "STAGE_ID": "NEW"} for i in range(120)])
    emu.seed("crm.deal", [{"TITLE": f"w{i:03}", "STAGE_ID": "WON"} for i in range(30)])
    rows = _op(
        "crm_deal_get_all", parameters={"FILTER": {"STAGE_ID": "NEW"}, "ORDER": {"TITLE": "ASC"}}
    ).execute({})
    assert [row["TITLE"] for row in rows] == [f"d{i:03}" for i in range(120)]


# -- list methods page when asked for all (decided by the method's page) ---------------------------


def test_shared_drives_list_returns_every_storage(emu, webhook_conn):
    state = drive(emu.portal)
    for i in range(139):
        state.add_storage("group", 1000 + i, f"group {i}")
    rows = _op("disk_get_shared_items").execute({})
    assert len(rows) >= 139 and len({row["ID"] for row in rows}) == len(rows)
    assert len(_op("disk_get_shared_items", limit=60).execute({})) == 60


def test_document_template_list_returns_every_template(emu, webhook_conn, tmp_path):
    for i in range(137):
        _post(emu, "documentgenerator.template.add", {"fields": {"name": f"t{i}", "numeratorId": 1}})
    rows = _op("document_generator_get_providers").execute({})
    assert len(rows) == 137
    target = tmp_path / "templates.jsonl"
    result = _op("document_generator_get_providers", output_path=str(target)).execute({})
    assert result == {"path": str(target), "count": 137}
    assert len(target.read_text().splitlines()) == 137


def test_status_list_returns_every_status(emu, webhook_conn):
    for i in range(75):
        _post(
            emu, "crm.status.add", {"fields": {"ENTITY_ID": "SOURCE", "STATUS_ID": f"S{i}", "NAME": f"s{i}"}}
        )
    rows = _op("status_get_all").execute({})
    assert len(rows) == 75
    assert len(_op("status_get_all", limit=55).execute({})) == 55


def test_hook_call_on_a_paged_method_says_how_to_get_the_rest(emu, webhook_conn, caplog):
    from airflow_provider_bitrix24.hooks.bitrix24 import Bitrix24Hook

    emu.seed("crm.deal", [{"TITLE": f"d{i}"} for i in range(60)])
    hook = Bitrix24Hook()
    with caplog.at_level(logging.WARNING):
        page = hook.call("crm.deal.list", {})
    assert len(page) == 50
    assert any("next" in r.getMessage() and "call_raw" in r.getMessage() for r in caplog.records)
    envelope = hook.call_raw("crm.deal.list", {})
    assert envelope["next"] == 50 and envelope["total"] == 60


# -- the validator follows each method's page ------------------------------------------------------


def test_user_get_filters_by_user_fields_at_the_top_level(emu, webhook_conn):
    """user-get.md: any user field may be sent at the top level, as its first example does."""
    emu.clear_requests()
    _op("user_get_all", parameters={"UF_DEPARTMENT": 1, "SORT": "ID", "ORDER": "asc"}).execute({})
    sent = emu.calls("user.get")[0].params
    assert sent["UF_DEPARTMENT"] in (1, "1") and sent["SORT"] == "ID"
    _op("user_get", parameters={"ID": 1}).execute({})


def test_bot_registration_takes_one_event_handler_for_all_events(emu, webhook_conn):
    """imbot-register.md: EVENT_HANDLER stands for every EVENT_* URL."""
    emu.clear_requests()
    example = {
        "CODE": "newbot",
        "TYPE": "B",
        "EVENT_HANDLER": "https://example.com/bot/events",
        "OPENLINE": "N",
        "PROPERTIES": {"NAME": "NewBot", "WORK_POSITION": "Support bot"},
        "CLIENT_ID": "client-1",
    }
    _op("chatbot_register_bot", parameters=example).execute({})
    assert emu.calls("imbot.register")[0].params == example


def test_bot_registration_on_a_webhook_needs_client_id_before_any_request(emu, webhook_conn):
    """imbot-register.md: CLIENT_ID is required for webhooks."""
    emu.clear_requests()
    operator = _op(
        "chatbot_register_bot",
        parameters={"CODE": "newbot", "EVENT_HANDLER": "https://example.com/e", "PROPERTIES": {"NAME": "B"}},
    )
    with pytest.raises(ParameterError, match="CLIENT_ID"):
        operator.execute({})
    assert emu.requests == []


def test_user_field_config_list_takes_select_as_an_object(emu, webhook_conn):
    """userfieldconfig-list.md: ``select`` is an object (its example: {"0": "*", "language": "de"})."""
    emu.clear_requests()
    example = {
        "moduleId": "crm",
        "select": {"0": "*", "language": "de"},
        "order": {"id": "DESC"},
        "filter": {"multiple": "Y"},
    }
    _op("user_field_config_get_list", parameters=json.loads(json.dumps(example))).execute({})
    sent = emu.calls("userfieldconfig.list")[0].params
    assert sent["select"] == example["select"] and sent["moduleId"] == "crm"
