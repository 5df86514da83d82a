"""Secret scrubbing masks values (the credentials the client knows, and values written after a
credential key) and never plain words: the provider's own messages stay readable."""

from __future__ import annotations

import json

import pytest

from airflow_provider_bitrix24.client import Bitrix24ConfigError
from airflow_provider_bitrix24.client.errors import register_secret, scrub
from airflow_provider_bitrix24.hooks.bitrix24 import Bitrix24Hook


@pytest.mark.parametrize(
    "message",
    [
        "connection 'bitrix24_default', field extra.refresh_token: an OAuth refresh token is required",
        "field extra.access_token: must be a string",
        "client_secret: the OAuth client_secret (password) is missing",
        "auth: the portal refused the request",
        "refresh_token = ",  # a key with nothing after it
        "the auth= parameter is empty",
    ],
)
def test_plain_phrases_stay_readable(message):
    assert scrub(message) == message


@pytest.mark.parametrize(
    ("text", "value"),
    [
        (
            "GET /oauth/token/?grant_type=refresh_token&refresh_token=r3fr3sh-9f8e&client_id=app",
            "r3fr3sh-9f8e",
        ),
        ("client_secret=Sx7-secret-value", "Sx7-secret-value"),
        ("POST /rest/crm.deal.add auth=acc3ss-77aa", "acc3ss-77aa"),
        ('{"refresh_token": "r3fr3sh-json"}', "r3fr3sh-json"),
        ("{'access_token': 'acc3ss-repr'}", "acc3ss-repr"),
        ('{"auth":"tok-no-space"}', "tok-no-space"),
        ("/rest/7/unregistered-code/crm.deal.add", "unregistered-code"),
        ("https://portal/oauth/authorize/?code=auth-c0de&state=x", "auth-c0de"),
    ],
)
def test_values_after_credential_keys_are_masked(text, value):
    out = scrub(text)
    assert value not in out and "***" in out


def test_known_secret_values_are_masked_anywhere():
    register_secret("kn0wn-webhook-c0de")
    out = scrub("the portal said: kn0wn-webhook-c0de is not valid")
    assert "kn0wn-webhook-c0de" not in out and out == "the portal said: *** is not valid"


def test_missing_refresh_token_message_reads_in_full(monkeypatch):
    conn = {
        "conn_type": "bitrix24",
        "host": "https://example.bitrix24.com",
        "login": "app.local.1",
        "password": "client-secret-value",
        "extra": {"auth_type": "oauth2", "token_store": {"type": "file", "path": "/nonexistent/tokens.json"}},
    }
    monkeypatch.setenv("AIRFLOW_CONN_BITRIX24_DEFAULT", json.dumps(conn))
    with pytest.raises(Bitrix24ConfigError) as info:
        Bitrix24Hook().get_conn()
    assert "field extra.refresh_token: an OAuth refresh token is required" in str(info.value)
