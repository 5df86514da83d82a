"""Python values on the wire: what is converted (and how), and what fails before anything is sent,
naming the parameter path, on the single-call path and in batch."""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal

import pytest

from airflow_provider_bitrix24.client import Bitrix24Client, Bitrix24ConfigError, WebhookAuth
from airflow_provider_bitrix24.client.encoding import (
    Bitrix24UnsendableValue,
    encode_params,
    json_params,
    result_ref,
)

FAST = {"rate_limit": None, "backoff_base": 0.01, "backoff_max": 0.05, "max_retries": 1}

UNSENDABLE = [
    pytest.param(object(), id="object"),
    pytest.param(float("nan"), id="nan"),
    pytest.param(float("inf"), id="inf"),
    pytest.param(-math.inf, id="-inf"),
    pytest.param(Decimal("NaN"), id="decimal-nan"),
    pytest.param(b"bytes", id="bytes"),
    pytest.param(dt.time(10, 0), id="time"),
]


def client_for(emu):
    return Bitrix24Client(emu.url, WebhookAuth(emu.webhook_user_id, emu.webhook_code), **FAST)


@pytest.mark.parametrize("value", UNSENDABLE)
def test_single_call_refuses_before_sending_and_names_the_path(emu, value):
    with client_for(emu) as client, pytest.raises(Bitrix24UnsendableValue) as info:
        client.call("crm.deal.add", {"fields": {"TITLE": "x", "OPPORTUNITY": value}})
    assert info.value.path == "fields.OPPORTUNITY"
    assert "fields.OPPORTUNITY" in str(info.value) and "crm.deal.add" in str(info.value)
    assert isinstance(info.value, Bitrix24ConfigError)  # a caller's input error, not a network one
    assert not emu.requests


@pytest.mark.parametrize("value", UNSENDABLE)
def test_batch_refuses_before_sending_and_names_the_command_and_path(emu, value):
    commands = {
        "fine": ("crm.deal.add", {"fields": {"TITLE": "sent only if all are sendable"}}),
        "bad": ("crm.deal.add", {"fields": {"TITLE": "x", "UF_LIST": [1, value]}}),
    }
    with client_for(emu) as client, pytest.raises(Bitrix24UnsendableValue) as info:
        client.batch(commands)
    assert info.value.path == "fields.UF_LIST.1"
    assert "'bad'" in str(info.value) and "fields.UF_LIST.1" in str(info.value)
    assert not emu.requests and not emu.rows("crm.deal")


def test_a_key_json_cannot_carry_is_refused(emu):
    with client_for(emu) as client, pytest.raises(Bitrix24UnsendableValue) as info:
        client.call("crm.deal.list", {"filter": {("ID", 1): 1}})
    assert info.value.path.startswith("filter")
    assert not emu.requests


CONVERSIONS = [
    # (python value, what the portal receives on a single call, and inside a batch command)
    (dt.date(2025, 12, 28), "2025-12-28", "2025-12-28"),
    (
        dt.datetime(2023, 12, 28, 14, 5, 48, 123456, tzinfo=dt.timezone(dt.timedelta(hours=3))),
        "2023-12-28T14:05:48+03:00",
        "2023-12-28T14:05:48+03:00",
    ),
    (dt.datetime(2023, 12, 28, 14, 5, 48), "2023-12-28T14:05:48", "2023-12-28T14:05:48"),
    (Decimal("1234.50"), "1234.50", "1234.50"),
    ((1, 2), [1, 2], ["1", "2"]),
    ({"b", "a"}, ["a", "b"], ["a", "b"]),
    (frozenset({3, 1}), [1, 3], ["1", "3"]),
    (True, True, "1"),
    (False, False, "0"),
]


@pytest.mark.parametrize(("value", "on_call", "in_batch"), CONVERSIONS)
def test_documented_conversions(emu, value, on_call, in_batch):
    with client_for(emu) as client:
        client.call("server.time", {"value": value})
        client.batch({"k": ("server.time", {"value": value})})
    single, batch = emu.requests[0], emu.requests[1].sub_calls[0]
    assert single.params["value"] == on_call
    assert batch.params["value"] == in_batch


def test_json_params_converts_without_touching_the_callers_dict():
    when = dt.date(2024, 1, 2)
    params = {"fields": {"BEGINDATE": when, "IDS": (1, 2)}}
    assert json_params(params) == {"fields": {"BEGINDATE": "2024-01-02", "IDS": [1, 2]}}
    assert params == {"fields": {"BEGINDATE": when, "IDS": (1, 2)}}


def test_a_reference_is_only_meaningful_inside_batch(emu):
    with client_for(emu) as client, pytest.raises(Bitrix24UnsendableValue, match="batch"):
        client.call("crm.deal.get", {"id": result_ref("add")})
    assert not emu.requests


def test_encode_params_renders_references_and_converts_values():
    query = encode_params({"id": result_ref("add", "items", 0, "id"), "d": dt.date(2024, 5, 6)})
    assert query == "id=$result[add][items][0][id]&d=2024-05-06"


def test_paginate_refuses_before_sending_and_names_the_method(emu):
    with client_for(emu) as client, pytest.raises(Bitrix24UnsendableValue) as info:
        list(client.paginate("crm.deal.list", {"filter": {">OPPORTUNITY": float("nan")}}))
    assert info.value.path == "filter.>OPPORTUNITY" and "crm.deal.list" in str(info.value)
    assert not emu.requests
