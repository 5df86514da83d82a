"""What a user sees when a connection is wrong: errors name the connection they know (not the
temporary id of the UI's Test button) and the field; the form's flat rate-limit fields and the
``rate_limit`` object are both accepted."""

from __future__ import annotations

import json

import pytest

from airflow_provider_bitrix24.client import Bitrix24ConfigError


def test_from_the_ui_test_endpoint_the_message_does_not_name_a_temporary_id(emu, monkeypatch):
    """Airflow's POST /connections/test builds a Connection under a random 8-character id, puts it
    in AIRFLOW_CONN_<ID> as a URI and calls Connection.test_connection(): do the same."""
    from airflow.models.connection import Connection
    from airflow.utils.strings import get_random_string

    transient = get_random_string()
    conn = Connection(conn_id=transient, conn_type="bitrix24", host=emu.url, password="", extra="{}")
    monkeypatch.setenv(f"AIRFLOW_CONN_{transient.upper()}", conn.get_uri())
    ok, message = conn.test_connection()
    assert not ok
    assert transient not in message
    assert f"connection to {emu.url}" in message and "field password" in message


def test_in_a_task_the_message_names_the_connection_id(emu, monkeypatch):
    from airflow_provider_bitrix24.hooks.bitrix24 import Bitrix24Hook

    monkeypatch.setenv("AIRFLOW_CONN_MY_PORTAL", json.dumps({"conn_type": "bitrix24", "host": emu.url}))
    with pytest.raises(Bitrix24ConfigError, match="connection 'my_portal', field password"):
        Bitrix24Hook("my_portal").get_conn()


def _hook_with(monkeypatch, emu, extra: dict):
    from airflow_provider_bitrix24.hooks.bitrix24 import Bitrix24Hook

    conn = {
        "conn_type": "bitrix24",
        "host": emu.url,
        "login": "1",
        "password": emu.webhook_code,
        "extra": extra,
    }
    monkeypatch.setenv("AIRFLOW_CONN_RATE_TEST", json.dumps(conn))
    return Bitrix24Hook("rate_test")


def test_the_forms_rate_limit_fields_saved_as_strings(emu, monkeypatch):
    hook = _hook_with(
        monkeypatch,
        emu,
        {"rate_limit_burst": "250", "rate_limit_per_second": "5", "rate_limit_scope": "process"},
    )
    bucket = hook.get_conn().bucket
    assert (bucket.capacity, bucket.leak_per_second) == (250.0, 5.0)
    assert hook.call("user.current")["ID"] in (1, "1")


def test_the_readme_rate_limit_object(emu, monkeypatch):
    hook = _hook_with(monkeypatch, emu, {"rate_limit": {"burst": 250, "per_second": 5}})
    bucket = hook.get_conn().bucket
    assert (bucket.capacity, bucket.leak_per_second) == (250.0, 5.0)


def test_the_object_wins_over_the_forms_defaults(emu, monkeypatch):
    # A connection saved from the form carries the fields' defaults; an object typed into the
    # extra is the more deliberate choice.
    hook = _hook_with(
        monkeypatch,
        emu,
        {
            "rate_limit_burst": "50",
            "rate_limit_per_second": "2",
            "rate_limit": {"burst": 250, "per_second": 5},
        },
    )
    assert hook.get_conn().bucket.capacity == 250.0


@pytest.mark.parametrize(
    ("key", "value"),
    [("rate_limit_burst", "fifty"), ("rate_limit_per_second", "-1"), ("rate_limit_scope", "world")],
)
def test_a_bad_form_field_is_named(emu, monkeypatch, key, value):
    hook = _hook_with(monkeypatch, emu, {key: value})
    with pytest.raises(Bitrix24ConfigError, match=f"connection 'rate_test', field extra.{key}:"):
        hook.get_conn()


def test_the_ui_test_of_an_oauth_connection_renews_into_its_named_store(emu, monkeypatch, tmp_path):
    """The Test button tests a copy under a temporary id; with the store named in the extra, a
    renewal during the test lands where the connection itself looks (no refresh token spent)."""
    from airflow.models.connection import Connection
    from airflow.utils.strings import get_random_string

    from airflow_provider_bitrix24.hooks.bitrix24 import Bitrix24Hook

    access, refresh = emu.issue_tokens()
    emu.expire_access_tokens()
    extra = {
        "auth_type": "oauth2",
        "access_token": access,
        "refresh_token": refresh,
        "token_url": emu.token_url,
        "token_store": f"file:{tmp_path / 'tokens.json'}",
    }
    fields = {"conn_type": "bitrix24", "host": emu.url, "login": emu.client_id, "password": emu.client_secret}
    monkeypatch.setenv("AIRFLOW_CONN_B24_OAUTH", json.dumps({**fields, "extra": extra}))
    transient = get_random_string()
    copy = Connection(conn_id=transient, extra=json.dumps(extra), **fields)
    monkeypatch.setenv(f"AIRFLOW_CONN_{transient.upper()}", copy.get_uri())
    ok, message = copy.test_connection()
    assert ok, message
    assert emu.refresh_count == 1
    assert Bitrix24Hook("b24_oauth").call("user.current")["ID"] in (1, "1")
    assert emu.refresh_count == 1  # the connection started from the pair the test renewed
