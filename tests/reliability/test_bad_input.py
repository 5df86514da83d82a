"""Typos and wrong input fail before any request, with a message naming the problem.

Every test asserts on the emulator's request log that nothing at all was sent.
"""

from __future__ import annotations

import json

import pytest

from airflow_provider_bitrix24.catalogue import UnknownActionError
from airflow_provider_bitrix24.client import Bitrix24ConfigError
from airflow_provider_bitrix24.client.encoding import result_ref
from airflow_provider_bitrix24.operators.base import Bitrix24Operator
from airflow_provider_bitrix24.operators.direct import Bitrix24BatchOperator, Bitrix24CallOperator


@pytest.fixture
def nothing_sent(emu):
    yield
    assert emu.requests == [], f"a request reached the portal: {[r.method for r in emu.requests]}"


def run(action_id: str, **kwargs):
    return Bitrix24Operator(task_id="t", action_id=action_id, **kwargs).execute({})


def test_unknown_action_id_suggests_close_ones(nothing_sent):
    with pytest.raises(UnknownActionError, match=r"'crm_deal_gett'.*did you mean crm_deal_get"):
        Bitrix24Operator(task_id="t", action_id="crm_deal_gett")


@pytest.mark.parametrize(
    ("action_id", "parameters", "expected"),
    [
        ("crm_deal_get", {}, r"missing required parameter 'id'"),
        ("crm_deal_get", {"idd": 7}, r"unknown parameter\(s\) 'idd'; accepted: id"),
        ("crm_deal_get", {"id": {"ID": 7}}, r"parameter 'id' must be a number or a string \(got dict\)"),
        ("crm_deal_get", [7], r"parameters must be an object, got list"),
        ("crm_deal_create", {"fields": "TITLE=x"}, r"parameter 'fields' must be an object"),
        ("crm_deal_get_all", {"select": "ID"}, r"parameter 'select' must be a list \(got str\)"),
        ("crm_deal_get_all", {"filter": "ID>5"}, r"parameter 'filter' must be an object \(got str\)"),
        ("crm_deal_get_all", {"filter": '{"ID": 1'}, r"parameter 'filter' is not valid JSON"),
        ("crm_deal_get_all", '{"filter": ', r"parameter 'parameters' is not valid JSON"),
    ],
    ids=[
        "missing",
        "misspelt",
        "id-wrong-type",
        "params-wrong-type",
        "fields-not-object",
        "select-not-list",
        "filter-not-object",
        "filter-invalid-json",
        "parameters-invalid-json",
    ],
)
def test_bad_parameters_fail_before_sending(webhook_conn, nothing_sent, action_id, parameters, expected):
    with pytest.raises(Bitrix24ConfigError, match=expected) as info:
        run(action_id, parameters=parameters)
    assert action_id in str(info.value)


def test_bad_limit_fails_before_sending(webhook_conn, nothing_sent):
    with pytest.raises(Bitrix24ConfigError, match=r"limit must be a whole number \(got 'ten'\)"):
        run("crm_deal_get_all", limit="ten")


def test_raw_batch_of_51_commands_is_refused(webhook_conn, nothing_sent):
    commands = {f"k{i}": "crm.deal.get?id=1" for i in range(51)}
    with pytest.raises(Bitrix24ConfigError, match="at most 50 commands, got 51") as info:
        Bitrix24CallOperator(task_id="t", method="batch", parameters={"cmd": commands}).execute({})
    assert "Bitrix24BatchOperator" in str(info.value)  # names the way that chunks


def test_batch_operator_chunks_51_commands(emu, webhook_conn):
    commands = {f"k{i}": ("crm.deal.list", {}) for i in range(51)}
    result = Bitrix24BatchOperator(task_id="t", commands=commands).execute({})
    assert len(result["result"]) == 51
    assert [r.method for r in emu.requests] == ["batch", "batch"]


@pytest.mark.parametrize(
    ("commands", "expected"),
    [
        (
            {"a": ("crm.deal.list", {}), "b": ("crm.deal.get", {"id": result_ref("zz", 0, "ID")})},
            r"'b' refers to \$result\[zz\]",
        ),
        (
            {"b": ("crm.deal.get", {"id": result_ref("a", 0, "ID")}), "a": ("crm.deal.list", {})},
            r"'b' refers to \$result\[a\]",
        ),
        (
            {
                **{f"k{i}": ("crm.deal.list", {}) for i in range(50)},
                "late": ("crm.deal.get", {"id": result_ref("k0", 0, "ID")}),
            },
            r"'late' refers to \$result\[k0\]",
        ),
    ],
    ids=["missing-key", "later-key", "other-chunk"],
)
def test_batch_reference_to_a_missing_key_is_refused(webhook_conn, nothing_sent, commands, expected):
    with pytest.raises(Bitrix24ConfigError, match=expected):
        Bitrix24BatchOperator(task_id="t", commands=commands).execute({})


def test_app_only_action_on_a_webhook_is_refused(webhook_conn, nothing_sent):
    with pytest.raises(Bitrix24ConfigError, match=r"needs an OAuth application.*oauth2 connection"):
        run("automation_delete_rule", parameters={"CODE": "robot"})


@pytest.mark.parametrize(
    ("change", "field", "problem"),
    [
        ({"host": ""}, "host", "portal URL is missing"),
        ({"host": "ftp://portal.example"}, "host", "not a valid http(s) URL"),
        ({"host": "http://exa mple.com"}, "host", "not a valid http(s) URL"),
        ({"host": "http://portal.example:99999"}, "host", "invalid port"),
        ({"extra": {"auth_type": "oauth"}}, "extra.auth_type", "unknown value 'oauth'"),
        ({"password": ""}, "password", "webhook code"),
        ({"password": "   "}, "password", "webhook code"),
        ({"login": "admin"}, "login", "must be a number"),
        ({"extra": {"auth_type": "webhook", "timeout": "soon"}}, "extra.timeout", "must be a number"),
        ({"extra": {"auth_type": "webhook", "rate_limit": {"burst": 0}}}, "extra.rate_limit", "burst"),
    ],
    ids=[
        "missing-host",
        "bad-scheme",
        "space-in-host",
        "bad-port",
        "unknown-auth-type",
        "empty-code",
        "blank-code",
        "non-numeric-user",
        "bad-timeout",
        "bad-rate-limit",
    ],
)
def test_malformed_connection_names_the_field(
    emu, webhook_conn, monkeypatch, nothing_sent, change, field, problem
):
    monkeypatch.setenv("AIRFLOW_CONN_BITRIX24_DEFAULT", json.dumps({**webhook_conn, **change}))
    with pytest.raises(Bitrix24ConfigError) as info:
        run("crm_deal_get_all")
    message = str(info.value)
    assert f"field {field}" in message and problem in message
    assert emu.webhook_code not in message


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"auth_type": "oauth2"}, "extra.refresh_token"),
        ({"auth_type": "oauth2", "refresh_token": "r" * 20, "token_url": "not a url"}, "extra.token_url"),
        ({"auth_type": "oauth2", "refresh_token": "r" * 20, "token_store": "s3:bucket"}, "extra.token_store"),
    ],
    ids=["no-refresh-token", "bad-token-url", "unknown-token-store"],
)
def test_malformed_oauth_connection_names_the_field(emu, monkeypatch, nothing_sent, extra, field):
    conn = {
        "conn_type": "bitrix24",
        "host": emu.url,
        "login": emu.client_id,
        "password": emu.client_secret,
        "extra": extra,
    }
    monkeypatch.setenv("AIRFLOW_CONN_BITRIX24_DEFAULT", json.dumps(conn))
    with pytest.raises(Bitrix24ConfigError, match=f"field {field}") as info:
        run("crm_deal_get_all")
    assert emu.client_secret not in str(info.value)
