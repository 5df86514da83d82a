"""The OAuth token endpoint goes through the one transport: no redirect followed, and its
503s and 5xx back off by the shared retry policy (emulator over real HTTP)."""

from __future__ import annotations

import logging

import pytest

from airflow_provider_bitrix24.client import Bitrix24Client, MemoryTokenStore, OAuth2Auth
from airflow_provider_bitrix24.client.errors import Bitrix24PortalMoved

FAST = {"rate_limit": None, "backoff_base": 0.005, "backoff_max": 0.02}


def _client(emu) -> Bitrix24Client:
    access, refresh = emu.issue_tokens()
    auth = OAuth2Auth(
        emu.client_id,
        emu.client_secret,
        refresh,
        access,
        token_url=emu.token_url,
        store=MemoryTokenStore(),
        refresh_backoff=0.01,
    )
    return Bitrix24Client(emu.url, auth, **FAST)


def _token_requests(emu) -> list:
    return [r for r in emu.requests if r.method == "oauth/token"]


def test_a_redirect_from_the_token_url_is_not_followed(emu):
    with _client(emu) as client:
        client.call("user.current")
        emu.expire_access_tokens()
        emu.inject_fault(kind="redirect", method="oauth/token", location="https://new.example.com/t/?code=x1")
        with pytest.raises(Bitrix24PortalMoved) as info:
            client.call("user.current")
    assert info.value.new_url == "https://new.example.com"
    assert "code=x1" not in str(info.value) and emu.client_secret not in str(info.value)
    assert len(_token_requests(emu)) == 1  # neither followed nor sent again


def test_a_503_from_the_token_url_backs_off_by_the_shared_policy(emu, caplog):
    with _client(emu) as client:
        client.call("user.current")
        emu.expire_access_tokens()
        emu.inject_fault(status=503, error="QUERY_LIMIT_EXCEEDED", method="oauth/token")
        with caplog.at_level(logging.WARNING, logger="airflow_provider_bitrix24.client.transport"):
            assert client.call("user.current")["ID"]
    assert emu.refresh_count == 1 and len(_token_requests(emu)) == 2
    retries = [
        r.getMessage()
        for r in caplog.records
        if r.name == "airflow_provider_bitrix24.client.transport" and "oauth/token" in r.getMessage()
    ]
    assert len(retries) == 1 and "QUERY_LIMIT_EXCEEDED, retry 1/2" in retries[0]
    assert emu.client_secret not in caplog.text
