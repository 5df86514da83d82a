"""Bad input fails with a clear message before any request reaches the portal."""

from __future__ import annotations

import pytest

from airflow_provider_bitrix24.catalogue.params import ParameterError
from airflow_provider_bitrix24.client.errors import Bitrix24ConfigError, Bitrix24NotSupported
from airflow_provider_bitrix24.operators import operator_class
from airflow_provider_bitrix24.operators.base import Bitrix24Operator
from airflow_provider_bitrix24.operators.direct import Bitrix24CallOperator


def _op(action_id, **kwargs):
    return operator_class(action_id)(task_id="check", **kwargs)


CASES = [
    # (action, parameters, message fragment)
    ("crm_deal_get", {}, "missing required parameter 'id'"),
    ("crm_deal_get", {}, "apidocs.bitrix24.com/api-reference/crm/deals/crm-deal-get.html"),
    ("task_create", {"fields": {"TITLE": "x"}}, "'fields.RESPONSIBLE_ID'"),
    ("open_lines_close_session", {}, "'SESSION_ID' or 'CHAT_ID'"),
    ("crm_deal_get_all", {"filter": '{"STAGE_ID": "NEW"'}, "parameter 'filter' is not valid JSON"),
    ("crm_deal_get_all", {"filter": "[1, 2"}, "not valid JSON"),
    ("crm_deal_get", {"id": 1, "idd": 2}, "unknown parameter(s) 'idd'"),
    ("crm_deal_get", {"id": 1, "idd": 2}, "accepted: id"),
    ("calendar_set_meeting_status", {"eventId": 1, "status": "maybe"}, "must be one of Y, N, Q"),
    ("crm_invoice_get", {"entityTypeId": 5, "id": 1}, "fixed to '31'"),
    ("notify_get_notifications", {"LIMIT": 500}, "at most 50"),
    ("duplicate_find_by_communication", {"type": "EMAIL", "values": "a@b.c"}, "'values' must be a list"),
    ("crm_company_create", {"fields": "TITLE"}, "'fields' must be an object"),
    # The portal reads names in any case: one name in two spellings is two values for one key.
    ("crm_deal_get_all", {"FILTER": {"STAGE_ID": "NEW"}, "filter": {">ID": 5}}, "'FILTER' and 'filter'"),
    ("crm_deal_get", {"ID": 1, "id": 2}, "given twice"),
]


@pytest.mark.parametrize("action_id,params,fragment", CASES)
def test_bad_parameters_fail_before_any_request(action_id, params, fragment, emu, webhook_conn):
    with pytest.raises(ParameterError) as info:
        _op(action_id, parameters=params).execute({})
    assert fragment in str(info.value)
    assert action_id in str(info.value)
    assert emu.requests == []


def test_parameters_as_a_json_string(emu, webhook_conn):
    with pytest.raises(ParameterError, match="parameters must be an object"):
        _op("crm_deal_get", parameters='["id", 1]').execute({})
    with pytest.raises(ParameterError, match="not valid JSON"):
        _op("crm_deal_get", parameters='{"id": ').execute({})
    assert emu.requests == []
    deal = emu.seed("crm.deal", [{"TITLE": "json"}])[0]
    assert _op("crm_deal_get", parameters=f'{{"id": {deal}}}').execute({})["TITLE"] == "json"


def test_open_ended_rows_only_warn_about_unknown_names(emu, webhook_conn, caplog):
    emu.clear_requests()
    _op("user_add", parameters={"EMAIL": "a@example.com", "PERSONAL_ICQ": "1", "HOBBY": "chess"}).prepare()
    assert "unknown parameter(s) 'HOBBY'" in caplog.text
    assert emu.requests == []


def test_unknown_keys_inside_objects_warn(emu, webhook_conn, caplog):
    _op("spa_add_type", parameters={"fields": {"title": "T", "colour": "red"}}).prepare()
    assert "'colour' are not among the documented ones" in caplog.text


def test_selector_value_is_checked(emu, webhook_conn):
    with pytest.raises(ParameterError, match="closed_by must be one of operator, another_operator, bot"):
        _op("open_lines_close_session", parameters={"CHAT_ID": 1}, closed_by="supervisor").execute({})
    assert emu.requests == []


def test_app_only_action_on_a_webhook_names_the_need_for_an_oauth_app(emu, webhook_conn):
    with pytest.raises(Bitrix24ConfigError, match="needs an OAuth application") as info:
        _op(
            "events_register_handler", parameters={"event": "ONCRMDEALADD", "handler": "https://x.test/h"}
        ).execute({})
    assert "incoming webhook" in str(info.value)
    assert emu.requests == []


def test_app_only_action_runs_with_oauth(emu, oauth_conn):
    assert _op("events_get_handlers").execute({}) is not None
    assert [r.method for r in emu.requests] == ["event.get"]


@pytest.mark.parametrize(
    "action_id",
    [
        "message_service_send_message",
        "message_service_get_provider_limits",
        "message_service_get_message_status",
    ],
)
def test_not_offered_actions_fail_when_the_dag_is_parsed(action_id):
    with pytest.raises(Bitrix24NotSupported, match="not supported by the Bitrix24 REST API"):
        _op(action_id)
    with pytest.raises(Bitrix24NotSupported):
        Bitrix24Operator(task_id="generic", action_id=action_id)


def test_unknown_action_id_fails_when_the_dag_is_parsed():
    with pytest.raises(LookupError, match="did you mean crm_deal_get"):
        Bitrix24Operator(task_id="generic", action_id="crm_deal_gett")


def test_download_rows_need_an_output_path(emu, webhook_conn):
    with pytest.raises(ParameterError, match="output_path is required"):
        _op("document_generator_download_document", parameters={"id": 1}).execute({})
    assert emu.requests == []


def test_bad_limit_is_refused(emu, webhook_conn):
    with pytest.raises(ParameterError, match="limit must be a whole number"):
        _op("crm_deal_get_all", limit="many").execute({})
    assert emu.requests == []


def test_direct_call_warns_on_undocumented_method_and_raises_portal_errors(emu, webhook_conn, caplog):
    with pytest.raises(Exception, match="ERROR_METHOD_NOT_FOUND"):
        Bitrix24CallOperator(task_id="call", method="crm.deal.nosuch").execute({})
    assert "not in the documented method index" in caplog.text


@pytest.mark.parametrize(
    "action_id,options,fragment",
    [
        ("crm_deal_get", {"limit": 5}, "limit applies to list actions only"),
        ("crm_deal_get", {"output_path": "/tmp/deal.json"}, "output_path applies to list and download"),
        ("crm_deal_create", {"limit": 1}, "crm.deal.add returns one reply"),
    ],
)
def test_list_options_on_a_one_reply_action_are_refused(action_id, options, fragment, emu, webhook_conn):
    """limit and output_path never pass silently: they apply where rows are read to the end."""
    with pytest.raises(ParameterError, match=fragment):
        _op(action_id, parameters={"id": 1, "fields": {"TITLE": "x"}}, **options).execute({})
    assert emu.requests == []


def test_direct_call_takes_list_options_only_with_all_pages(emu, webhook_conn):
    with pytest.raises(ParameterError, match="all_pages=True"):
        Bitrix24CallOperator(task_id="c", method="crm.deal.list", limit=3).execute({})
    emu.seed("crm.deal", [{"TITLE": f"d{i}"} for i in range(5)])
    assert (
        len(Bitrix24CallOperator(task_id="c", method="crm.deal.list", limit=3, all_pages=True).execute({}))
        == 3
    )
