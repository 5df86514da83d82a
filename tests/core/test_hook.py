"""Bitrix24Hook: connection contract for each auth mode, config errors before any request,
secrets kept out of logs and messages, provider registration."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from airflow_provider_bitrix24.client import Bitrix24ConfigError, FileTokenStore
from airflow_provider_bitrix24.client import auth as auth_module
from airflow_provider_bitrix24.hooks.bitrix24 import Bitrix24Hook


@pytest.fixture(autouse=True)
def _fresh_shared_token_stores(monkeypatch):
    """Each test starts without the in-memory OAuth pairs earlier tests left in this process."""
    monkeypatch.setattr(auth_module, "_SHARED_STORES", {})


def set_conn(monkeypatch, conn: dict, conn_id: str = "bitrix24_default") -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))


def test_webhook_connection(emu, webhook_conn):
    hook = Bitrix24Hook()
    assert hook.auth_type == "webhook"
    deal_id = hook.call("crm.deal.add", {"fields": {"TITLE": "from hook"}})
    assert hook.call("crm.deal.get", {"id": deal_id})["TITLE"] == "from hook"
    assert hook.get_conn() is hook.get_conn()  # cached client, one keep-alive session
    ok, message = hook.test_connection()
    assert ok and "webhook" in message and emu.webhook_code not in message


def test_webhook_url_in_password(emu, monkeypatch):
    set_conn(
        monkeypatch, {"conn_type": "bitrix24", "password": emu.webhook_url, "extra": {"rate_limit": False}}
    )
    hook = Bitrix24Hook()
    assert hook.get_conn().portal_url == emu.url
    assert hook.call("user.current")["ID"] == str(emu.webhook_user_id)


def test_legacy_prefixed_form_fields(emu, monkeypatch):
    access, _refresh = emu.issue_tokens()
    set_conn(
        monkeypatch,
        {
            "conn_type": "bitrix24",
            "host": emu.url,
            "password": access,
            "extra": {"extra__bitrix24__auth_type": "api_key", "extra__bitrix24__rate_limit_burst": 10},
        },
    )
    hook = Bitrix24Hook()
    assert hook.auth_type == "api_key" and hook.get_conn().bucket.capacity == 10
    assert hook.call("user.current")["ID"]


def test_oauth_connection_rotates_and_persists(emu, oauth_conn, caplog):
    hook = Bitrix24Hook()
    assert hook.auth_type == "oauth2"
    emu.seed("crm.deal", [{"TITLE": f"D{i}"} for i in range(120)])
    with caplog.at_level(logging.DEBUG):
        emu.expire_access_tokens()
        assert len(hook.get_all("crm.deal.list", {"select": ["ID"]})) == 120
    assert emu.refresh_count == 1
    stored = FileTokenStore(oauth_conn["extra"]["token_store"]["path"]).load()
    assert stored is not None and stored.refresh_token != oauth_conn["extra"]["refresh_token"]
    # A later task run (new hook, same stale connection) starts from the stored pair.
    emu.clear_requests()
    assert Bitrix24Hook().call("user.current")["ID"]
    assert emu.refresh_count == 1 and all(r.ok for r in emu.requests)
    for secret in (
        emu.client_secret,
        oauth_conn["extra"]["refresh_token"],
        oauth_conn["extra"]["access_token"],
        stored.access_token,
        stored.refresh_token,
    ):
        assert secret not in caplog.text


def test_api_key_connection(emu, api_key_conn):
    hook = Bitrix24Hook()
    assert hook.auth_type == "api_key"
    assert hook.test_connection()[0]
    emu.expire_access_tokens()
    ok, message = hook.test_connection()
    assert not ok and "expired" in message and api_key_conn["password"] not in message


@pytest.mark.parametrize(("parallel", "expected"), [(1, 1), (3, 3), ("auto", None), ("", None)])
def test_paginate_parallel_from_the_connection(emu, webhook_conn, monkeypatch, parallel, expected):
    webhook_conn["extra"]["paginate_parallel"] = parallel
    set_conn(monkeypatch, webhook_conn)
    hook = Bitrix24Hook()
    assert hook.get_conn().paginate_parallel == expected
    emu.seed_generated("crm.deal", 12_000)
    ids = [int(r["ID"]) for r in hook.paginate("crm.deal.list", {"select": ["ID"]})]
    assert ids == sorted(set(ids)) and len(ids) == 12_000
    assert emu.count_queries == 0


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, 480.0), (420, 420.0), ("300", 300.0), (0, None), ("off", None), (False, None)],
)
def test_operating_limit_from_the_connection(emu, webhook_conn, monkeypatch, value, expected):
    if value is not None:
        webhook_conn["extra"]["operating_limit"] = value
    set_conn(monkeypatch, webhook_conn)
    assert Bitrix24Hook().get_conn().pacer.limit == expected


def test_paginate_and_batch_through_hook(emu, webhook_conn):
    hook = Bitrix24Hook()
    result = hook.batch([("crm.deal.add", {"fields": {"TITLE": f"x{i}"}}) for i in range(60)])
    assert len(result.result) == 60
    assert len(list(hook.paginate("crm.deal.list", limit=55))) == 55


def test_wrong_credentials_test_connection_message(emu, monkeypatch):
    set_conn(
        monkeypatch, {"conn_type": "bitrix24", "host": emu.url, "login": "1", "password": "not-the-code-xyz"}
    )
    ok, message = Bitrix24Hook().test_connection()
    assert not ok and "NO_AUTH_FOUND" in message and "not-the-code-xyz" not in message


BAD_CONFIGS = [
    ({"host": "{url}", "login": "1", "password": "abcd", "extra": {"auth_type": "basic"}}, "extra.auth_type"),
    ({"login": "1", "password": "abcd"}, "field host"),
    ({"host": "ftp://portal", "login": "1", "password": "abcd"}, "field host"),
    ({"host": "https://bad host", "login": "1", "password": "abcd"}, "field host"),
    ({"host": "{url}", "login": "1"}, "field password"),
    ({"host": "{url}", "password": "abcd"}, "field login"),
    ({"host": "{url}", "login": "admin", "password": "abcd"}, "field login"),
    ({"host": "{url}", "login": "1", "password": "https://x/1/abc"}, "field password"),
    (
        {
            "host": "{url}",
            "login": "app.1",
            "password": "s3cret-value",
            "extra": {"auth_type": "oauth2", "token_store": "memory"},
        },
        "extra.refresh_token",
    ),
    (
        {
            "host": "{url}",
            "password": "s3cret-value",
            "extra": {"auth_type": "oauth2", "refresh_token": "r-tok-1"},
        },
        "field login",
    ),
    (
        {"host": "{url}", "login": "app.1", "extra": {"auth_type": "oauth2", "refresh_token": "r-tok-1"}},
        "field password",
    ),
    (
        {
            "host": "{url}",
            "login": "app.1",
            "password": "s3cret-value",
            "extra": {"auth_type": "oauth2", "refresh_token": "r-tok-1", "token_url": "not a url"},
        },
        "extra.token_url",
    ),
    (
        {
            "host": "{url}",
            "login": "app.1",
            "password": "s3cret-value",
            "extra": {"auth_type": "oauth2", "refresh_token": "r-tok-1", "token_store": "redis:x"},
        },
        "extra.token_store",
    ),
    ({"host": "{url}", "extra": {"auth_type": "api_key"}}, "field password"),
    (
        {"host": "{url}", "login": "1", "password": "abcd", "extra": {"rate_limit": {"burst": 0}}},
        "extra.rate_limit",
    ),
    ({"host": "{url}", "login": "1", "password": "abcd", "extra": {"timeout": "soon"}}, "extra.timeout"),
    (
        {"host": "{url}", "login": "1", "password": "abcd", "extra": {"connect_timeout": 0}},
        "extra.connect_timeout",
    ),
    ({"host": "{url}", "login": "1", "password": "abcd", "extra": {"max_retries": -1}}, "extra.max_retries"),
    (
        {"host": "{url}", "login": "1", "password": "abcd", "extra": {"max_operation_wait": "x"}},
        "extra.max_operation_wait",
    ),
    (
        {"host": "{url}", "login": "1", "password": "abcd", "extra": {"paginate_parallel": 0}},
        "extra.paginate_parallel",
    ),
    (
        {"host": "{url}", "login": "1", "password": "abcd", "extra": {"paginate_parallel": 51}},
        "extra.paginate_parallel",
    ),
    (
        {"host": "{url}", "login": "1", "password": "abcd", "extra": {"paginate_parallel": "many"}},
        "extra.paginate_parallel",
    ),
    (
        {"host": "{url}", "login": "1", "password": "abcd", "extra": {"paginate_buffer_mb": 0}},
        "extra.paginate_buffer_mb",
    ),
    (
        {"host": "{url}", "login": "1", "password": "abcd", "extra": {"batch_parallel": 51}},
        "extra.batch_parallel",
    ),
    (
        {"host": "{url}", "login": "1", "password": "abcd", "extra": {"operating_limit": -5}},
        "extra.operating_limit",
    ),
    (
        {"host": "{url}", "login": "1", "password": "abcd", "extra": {"operating_limit": "lots"}},
        "extra.operating_limit",
    ),
]


@pytest.mark.parametrize(("conn", "field"), BAD_CONFIGS)
def test_bad_config_names_field_and_sends_nothing(emu, monkeypatch, conn, field):
    conn = json.loads(json.dumps(conn).replace("{url}", emu.url))
    set_conn(monkeypatch, {"conn_type": "bitrix24", **conn})
    hook = Bitrix24Hook()
    with pytest.raises(Bitrix24ConfigError) as info:
        hook.get_conn()
    assert field in str(info.value)
    assert "bitrix24_default" in str(info.value)
    for secret in ("s3cret-value", "r-tok-1"):
        assert secret not in str(info.value)
    assert emu.requests == []


def test_variable_store_outside_task_falls_back_to_memory(emu, monkeypatch, caplog):
    access, refresh = emu.issue_tokens()
    set_conn(
        monkeypatch,
        {
            "conn_type": "bitrix24",
            "host": emu.url,
            "login": emu.client_id,
            "password": emu.client_secret,
            "extra": {
                "auth_type": "oauth2",
                "access_token": access,
                "refresh_token": refresh,
                "token_url": emu.token_url,
                "rate_limit": False,
            },
        },
    )
    with caplog.at_level(logging.WARNING):
        hook = Bitrix24Hook()
        assert hook.call("user.current")["ID"]
    assert "keeping rotated OAuth tokens in memory" in caplog.text


def test_rotated_tokens_reach_airflow_masker(emu, oauth_conn):
    from airflow.sdk._shared.secrets_masker import redact

    hook = Bitrix24Hook()
    emu.expire_access_tokens()
    hook.call("user.current")
    stored = FileTokenStore(oauth_conn["extra"]["token_store"]["path"]).load()
    # Only the hook's bridge knows these: they arrived through a refresh, not the connection.
    for token in (stored.access_token, stored.refresh_token):
        assert token not in str(redact(f"token={token}"))


def test_push_application_token_reaches_the_masker(emu, monkeypatch):
    from airflow_provider_bitrix24.client.errors import scrub

    token = "push-app-token-4f1c9e"
    set_conn(
        monkeypatch,
        {
            "conn_type": "bitrix24",
            "password": emu.webhook_url,
            "extra": {"rate_limit": False, "application_token": token},
        },
    )
    Bitrix24Hook().get_conn()
    assert token not in scrub(f"auth[application_token]={token}")


def test_flat_rate_limit_scope_from_the_form(emu, monkeypatch, tmp_path):
    import tempfile

    from airflow_provider_bitrix24.client.ratelimit import HostBucket

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the default state dir, kept out of /tmp
    set_conn(
        monkeypatch,
        {
            "conn_type": "bitrix24",
            "password": emu.webhook_url,
            "extra": {"rate_limit_burst": 9, "rate_limit_per_second": "", "rate_limit_scope": "host"},
        },
    )
    bucket = Bitrix24Hook().get_conn().bucket
    assert isinstance(bucket, HostBucket) and bucket.capacity == 9 and bucket.leak_per_second == 2
    set_conn(
        monkeypatch,
        {"conn_type": "bitrix24", "password": emu.webhook_url, "extra": {"rate_limit": {"scope": "cluster"}}},
    )
    with pytest.raises(Bitrix24ConfigError, match="extra.rate_limit"):
        Bitrix24Hook().get_conn()


def test_airflow_lists_the_provider(tmp_path):
    airflow_bin = Path(sys.executable).with_name("airflow")
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path)}
    out = subprocess.run(
        [str(airflow_bin), "providers", "list", "-o", "json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    line = next(line for line in out.stdout.splitlines() if line.startswith("[{"))
    providers = {p["package_name"]: p for p in json.loads(line)}
    assert "airflow-provider-bitrix24" in providers

    hooks = subprocess.run(
        [str(airflow_bin), "providers", "hooks", "-o", "json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "airflow_provider_bitrix24.hooks.bitrix24.Bitrix24Hook" in hooks.stdout


def test_provider_info_connection_form():
    from airflow_provider_bitrix24.get_provider_info import get_provider_info

    info = get_provider_info()
    assert info["package-name"] == "airflow-provider-bitrix24"
    (conn_type,) = info["connection-types"]
    assert conn_type["conn-fields"]["auth_type"]["schema"]["enum"] == ["webhook", "oauth2", "api_key"]
    fields = conn_type["conn-fields"]
    assert fields["rate_limit_scope"]["schema"]["enum"] == ["process", "host"]
    assert fields["application_token"]["schema"]["format"] == "password"  # secrets are password inputs
    assert {"push_assets", "push_events"} <= fields.keys()
    assert "User ID" in conn_type["ui-field-behaviour"]["relabeling"]["login"]
    for group in ("hooks", "operators", "sensors", "triggers"):
        for entry in info[group]:
            for module in entry["python-modules"]:
                __import__(module)


def test_provider_info_lists_every_module():
    """The literal lists in get_provider_info.py must name every public module (add new ones there)."""
    import airflow_provider_bitrix24
    from airflow_provider_bitrix24.get_provider_info import get_provider_info

    root = Path(airflow_provider_bitrix24.__file__).parent
    info = get_provider_info()
    for group in ("hooks", "operators", "sensors", "triggers"):
        listed = {m for entry in info[group] for m in entry["python-modules"]}
        present = {
            f"airflow_provider_bitrix24.{group}.{f.stem}"
            for f in (root / group).glob("*.py")
            if not f.stem.startswith("_")
        }
        assert listed == present, (
            f"get_provider_info()[{group!r}] is out of date: add {sorted(present - listed)}, remove {sorted(listed - present)}"
        )
