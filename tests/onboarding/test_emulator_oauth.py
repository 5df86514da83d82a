"""The emulator's consent page and authorization_code grant, as the Bitrix24 OAuth docs describe
them: the redirect's parameters, a code that works once and for 30 seconds, the token reply's
fields, and a failed consent that sends the browser nowhere."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
import requests

# settings/oauth/index.md: what the redirect after consent carries, and the token reply's fields.
REDIRECT_PARAMETERS = {"code", "state", "domain", "member_id", "scope", "server_domain"}
TOKEN_REPLY_FIELDS = {
    "access_token",
    "client_endpoint",
    "domain",
    "expires_in",
    "member_id",
    "refresh_token",
    "scope",
    "server_endpoint",
    "status",
}


def consent(emu, client_id: str | None = None, state: str = "s1") -> requests.Response:
    return requests.get(
        emu.authorize_url,
        params={"client_id": client_id or emu.client_id, "state": state},
        allow_redirects=False,
        timeout=10,
    )


def exchange(emu, code: str, secret: str | None = None) -> requests.Response:
    params = {
        "grant_type": "authorization_code",
        "client_id": emu.client_id,
        "client_secret": secret or emu.client_secret,
        "code": code,
    }
    return requests.get(emu.token_url, params=params, timeout=10)


def test_consent_redirects_to_the_applications_uri_with_the_documented_parameters(emu, monkeypatch):
    monkeypatch.setattr(emu, "redirect_uri", "http://localhost:8999/back")
    reply = consent(emu)
    assert reply.status_code == 302
    target = urlsplit(reply.headers["Location"])
    query = {k: v[0] for k, v in parse_qs(target.query).items()}
    assert f"{target.scheme}://{target.netloc}{target.path}" == "http://localhost:8999/back"
    assert set(query) == REDIRECT_PARAMETERS and query["state"] == "s1"
    assert query["domain"] == urlsplit(emu.url).netloc and query["member_id"] == emu.portal.member_id


def test_a_code_is_exchanged_once(emu):
    code = parse_qs(urlsplit(consent(emu).headers["Location"]).query)["code"][0]
    first = exchange(emu, code)
    assert first.status_code == 200 and TOKEN_REPLY_FIELDS <= set(first.json())
    access = first.json()["access_token"]
    me = requests.post(f"{emu.url}/rest/user.current", json={"auth": access}, timeout=10)
    assert me.status_code == 200
    again = exchange(emu, code)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"


def test_a_code_expires(emu, monkeypatch):
    from airflow_provider_bitrix24.emulator import server

    monkeypatch.setattr(server, "CODE_LIFETIME", 0.0)
    code = parse_qs(urlsplit(consent(emu).headers["Location"]).query)["code"][0]
    assert exchange(emu, code).json()["error"] == "invalid_grant"


def test_a_wrong_secret_is_invalid_client_and_keeps_the_code(emu):
    code = parse_qs(urlsplit(consent(emu).headers["Location"]).query)["code"][0]
    refused = exchange(emu, code, secret="wrong-secret")
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"
    assert exchange(emu, code).status_code == 200


@pytest.mark.parametrize("case", ["unknown client", "consent denied", "no redirect uri"])
def test_a_failed_consent_shows_a_page_and_redirects_nowhere(emu, case, monkeypatch):
    client_id = "local.unknown.1" if case == "unknown client" else None
    if case == "consent denied":
        emu.approve_consent = False
    if case == "no redirect uri":
        monkeypatch.setattr(emu, "redirect_uri", None)  # restored after the test: the session's emulator
    reply = consent(emu, client_id)
    assert reply.status_code in (400, 403) and "Location" not in reply.headers
    assert reply.headers["Content-Type"].startswith("text/html")
    emu.reset()
    assert emu.approve_consent is True
