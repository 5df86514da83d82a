"""No webhook code, client secret, access token or refresh token leaks anywhere.

One ``airflow dags test`` run (the real task runner, logging and XCom path) of a DAG that uses
every auth mode side by side, with DEBUG logging of requests/urllib3/the provider, an OAuth token
that expires at the start (so a rotated pair is in play), a write whose reply is lost (an
exception message), a ``continue_on_fail`` failure record (XCom) and reprs pushed to XCom. The
secrets must appear in none of: the console output (task logs), XCom, rendered template fields.
In-process tests cover ``repr()`` and exception text of hooks, clients, auth objects and errors.
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import pytest
from reliability_helpers import FAST, MODES

from airflow_provider_bitrix24.client import (
    Bitrix24Client,
    Bitrix24Error,
    FileTokenStore,
    OAuth2Auth,
    StaticTokenAuth,
    TokenPair,
    WebhookAuth,
)


@pytest.fixture(scope="module")
def dags_run(secrets_probe):
    """(emulator, secrets, console output, metadata DB) of the background ``airflow dags test`` run."""
    output = secrets_probe.output()
    return secrets_probe.emu, secrets_probe.secrets, output, secrets_probe.db


def _rows(db: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(db) as con:
        return con.execute(sql).fetchall()


def test_the_probe_dag_ran_every_path(dags_run):
    emu, secrets, output, db = dags_run
    states = dict(_rows(db, "SELECT task_id, state FROM task_instance WHERE dag_id = 'b24_secrets_probe'"))
    for mode in MODES:
        for step in ("check", "create", "reprs", "lost_soft"):
            assert states[f"{mode}_{step}"] == "success", (mode, step, output[-3000:])
        assert states[f"{mode}_lost_hard"] == "failed"
    assert emu.refresh_count == 1  # the expired OAuth token was rotated during the run
    # the lost delete was sent once per mode although its task has retries=2: Airflow must not resend it
    assert len(emu.calls("crm.deal.delete")) == len(MODES)
    assert "may have been applied" in output  # the lost write's error is in the task log
    assert "RAW urllib3.connectionpool DEBUG" in output and "POST /rest/" in output  # DEBUG lines were logged
    assert "GET /oauth/token/?" in output  # including the refresh request, whose query holds secrets


@pytest.mark.parametrize("where", ["task logs", "xcom", "rendered template fields"])
def test_no_secret_in_task_output(dags_run, where):
    emu, secrets, output, db = dags_run
    if where == "task logs":
        text = output
    elif where == "xcom":
        rows = _rows(db, "SELECT task_id, value FROM xcom WHERE dag_id = 'b24_secrets_probe'")
        assert len(rows) >= 9
        text = "\n".join(f"{task}: {value}" for task, value in rows)
    else:
        rows = _rows(
            db,
            "SELECT task_id, rendered_fields FROM rendered_task_instance_fields WHERE dag_id = 'b24_secrets_probe'",
        )
        assert rows
        text = "\n".join(f"{task}: {fields}" for task, fields in rows)
    leaked = [name for name, value in secrets.items() if value and value in text]
    assert not leaked, f"{leaked} found in {where}"


# ------------------------------------------------------------------ in process: repr, exceptions, DEBUG logs


@pytest.fixture
def debug_logs(caplog):
    caplog.set_level(logging.DEBUG)
    for name in ("urllib3", "urllib3.connectionpool", "requests", "airflow_provider_bitrix24"):
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


def _exercise(emu, client: Bitrix24Client, renewable: bool) -> list[str]:
    """Calls that log, retry, refresh and fail; returns every exception text and repr seen."""
    texts = [repr(client), repr(client.auth), str(client.__dict__.get("auth"))]
    client.call("user.current")
    if renewable:  # a static token cannot be renewed: keep it valid
        emu.expire_access_tokens()
    list(client.paginate("crm.deal.list", {"select": ["ID"]}))
    emu.inject_fault(kind="drop_after", method="crm.deal.add")
    emu.inject_fault(kind="drop_before", count=1, method="crm.deal.list")
    client.call("crm.deal.list")
    for fault in (
        dict(kind="drop_after", method="crm.deal.add"),
        dict(status=401, error="NO_AUTH_FOUND"),
        dict(kind="html", status=502, method="crm.deal.add"),
        dict(kind="truncated", method="crm.deal.add"),
    ):
        emu.inject_fault(**fault)
        try:
            client.call("crm.deal.add", {"fields": {"TITLE": "x"}})
        except Bitrix24Error as exc:
            texts += [str(exc), repr(exc), repr(exc.__reduce__())]
    return texts


@pytest.mark.parametrize("mode", MODES)
def test_no_secret_in_repr_exceptions_or_debug_logs(emu, tmp_path, debug_logs, mode):
    secrets = [emu.webhook_code, emu.client_secret]
    if mode == "webhook":
        client = Bitrix24Client(emu.url, WebhookAuth(emu.webhook_user_id, emu.webhook_code), **FAST)
    elif mode == "oauth2":
        access, refresh = emu.issue_tokens()
        store = FileTokenStore(tmp_path / "tokens.json")
        auth = OAuth2Auth(
            emu.client_id, emu.client_secret, refresh, access, token_url=emu.token_url, store=store
        )
        client = Bitrix24Client(emu.url, auth, **FAST)
        secrets += [access, refresh]
    else:
        access, _ = emu.issue_tokens()
        client = Bitrix24Client(emu.url, StaticTokenAuth(access), **FAST)
        secrets.append(access)
    texts = _exercise(emu, client, renewable=mode != "api_key")
    if mode == "oauth2":
        pair = store.load()
        secrets += [pair.access_token, pair.refresh_token]
        texts += [repr(pair), repr(store)]
        assert emu.refresh_count == 1
    logged = debug_logs.text
    assert "POST /rest/" in logged  # DEBUG request lines were captured
    for text in texts + [logged]:
        for secret in secrets:
            assert secret not in text


def test_token_pair_and_hook_reprs_hide_tokens(emu, oauth_conn):
    from airflow_provider_bitrix24.hooks.bitrix24 import Bitrix24Hook

    hook = Bitrix24Hook()
    client = hook.get_conn()
    texts = [repr(hook), repr(client), repr(client.auth), repr(TokenPair("a" * 20, "r" * 20, 1.0))]
    for text in texts:
        for secret in (
            emu.client_secret,
            oauth_conn["extra"]["access_token"],
            oauth_conn["extra"]["refresh_token"],
            "a" * 20,
        ):
            assert secret not in text


def test_portal_error_that_echoes_a_credential_is_scrubbed(emu, oauth_client):
    """Some portal errors quote the request (the token, a URL with the webhook code): the
    exception text, which Airflow logs and shows in the UI, must not carry it on."""
    access = oauth_client.auth._current().access_token
    echoed = f"Wrong auth {access} for {emu.webhook_url} ({emu.client_secret})"
    emu.inject_fault(status=400, error="INVALID_REQUEST", description=echoed)
    with pytest.raises(Bitrix24Error) as info:
        oauth_client.call("crm.deal.list")
    text = f"{info.value} {info.value!r} {info.value.description}"
    assert "Wrong auth" in text
    for secret in (access, emu.webhook_code, emu.client_secret):
        assert secret not in text
