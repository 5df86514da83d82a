"""The authorize command end to end against the emulator: consent URL with state, the redirect
received by a local listener (browser) or pasted on stdin (--no-browser), the code exchanged at
the token URL, the pair saved or printed; and the clear errors (state mismatch, denied consent,
wrong client secret, a redirect at the token URL)."""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
import webbrowser
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from airflow_provider_bitrix24.oauth.authorize import DEFAULT_REDIRECT_URI, main


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def app(emu, monkeypatch):
    """The emulated application with a redirect URI on a free local port (the session's emulator
    gets its own back afterwards)."""
    monkeypatch.setattr(emu, "redirect_uri", f"http://127.0.0.1:{free_port()}/callback")
    return emu


def browser_that_follows_redirects(opened: list[str]):
    """A stand-in for webbrowser.open: GET the consent page like a browser, following the portal's
    redirect to wherever it points (the command's local listener)."""

    def open_url(url: str, *args, **kwargs) -> bool:
        opened.append(url)
        requests.get(url, timeout=10)
        return True

    return open_url


class UserAtTheKeyboard(io.StringIO):
    """stdin of --no-browser: reads the consent URL the command printed, "visits" it without
    following the redirect, and pastes back the address the browser would land on."""

    def __init__(self, stdout: io.StringIO, rewrite=lambda url: url) -> None:
        super().__init__()
        self.stdout, self.rewrite = stdout, rewrite

    def readline(self, *args) -> str:
        consent_url = self.stdout.getvalue().splitlines()[0]
        reply = requests.get(consent_url, allow_redirects=False, timeout=10)
        landed = reply.headers.get("Location") or consent_url  # no redirect: the user stays on the page
        return self.rewrite(landed) + "\n"


def run(app, *extra: str, stdin=None, stdout=None, secret: str | None = None) -> tuple[int, str, str]:
    stdout = stdout or io.StringIO()
    stderr = io.StringIO()
    argv = [
        "authorize",
        "--portal",
        app.url,
        "--client-id",
        app.client_id,
        "--client-secret",
        secret or app.client_secret,
        "--redirect-uri",
        app.redirect_uri,
        "--token-url",
        app.token_url,
        *extra,
    ]
    code = main(argv, stdin=stdin, stdout=stdout, stderr=stderr)
    return code, stdout.getvalue(), stderr.getvalue()


def assert_pair_works(app, connection: dict) -> None:
    extra = connection["extra"]
    assert extra["refresh_token"] in app.portal.refresh_tokens
    reply = requests.post(f"{app.url}/rest/user.current", json={"auth": extra["access_token"]}, timeout=10)
    assert reply.status_code == 200 and reply.json()["result"]["ID"] in (1, "1")


def secrets_of(app, connection: dict | None = None) -> list[str]:
    values = [app.client_secret]
    if connection:
        values += [connection["extra"]["access_token"], connection["extra"]["refresh_token"]]
    return values


def test_browser_path_receives_the_redirect_on_a_local_listener(app, monkeypatch):
    opened: list[str] = []
    monkeypatch.setattr(webbrowser, "open", browser_that_follows_redirects(opened))
    code, out, err = run(app, "--print-connection-json")
    assert code == 0, err
    connection = json.loads(out.strip())  # stdout: one JSON line, nothing else
    assert connection["conn_type"] == "bitrix24" and connection["host"] == app.url
    assert connection["login"] == app.client_id and connection["password"] == app.client_secret
    assert connection["extra"]["auth_type"] == "oauth2" and connection["extra"]["token_url"] == app.token_url
    assert_pair_works(app, connection)

    consent = urlsplit(opened[0])
    query = parse_qs(consent.query)
    assert consent.path == "/oauth/authorize/" and query["client_id"] == [app.client_id]
    assert query["state"][0] and "redirect_uri" not in query  # the portal takes it from the app's settings
    exchange = [r for r in app.requests if r.method == "oauth/token"]
    assert [(r.http_method, r.params["grant_type"]) for r in exchange] == [("GET", "authorization_code")]
    for secret in secrets_of(app, connection):
        assert secret not in err


def test_no_browser_prints_the_url_and_reads_the_address_from_stdin(app, monkeypatch):
    monkeypatch.setattr(webbrowser, "open", lambda *a, **k: pytest.fail("--no-browser opened a browser"))
    stdout = io.StringIO()
    code, out, err = run(
        app, "--no-browser", "--print-connection-json", stdin=UserAtTheKeyboard(stdout), stdout=stdout
    )
    assert code == 0, err
    consent_url, line = out.strip().splitlines()
    assert consent_url.startswith(f"{app.url}/oauth/authorize/?")
    connection = json.loads(line)
    assert_pair_works(app, connection)
    for secret in secrets_of(app, connection):
        assert secret not in err


def test_command_line_entry_point_with_no_browser(app):
    """``python -m airflow_provider_bitrix24.oauth`` in a real process, talked to through pipes."""
    process = subprocess.Popen(
        [sys.executable, "-m", "airflow_provider_bitrix24.oauth", "authorize", "--portal", app.url]
        + ["--client-id", app.client_id, "--redirect-uri", app.redirect_uri, "--token-url", app.token_url]
        + ["--no-browser"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "BITRIX24_CLIENT_SECRET": app.client_secret},
    )
    try:
        consent_url = process.stdout.readline().strip()
        landed = requests.get(consent_url, allow_redirects=False, timeout=10).headers["Location"]
        out, err = process.communicate(landed + "\n", timeout=60)
    finally:
        process.kill()
    assert process.returncode == 0, err
    token = json.loads(out.strip().splitlines()[-1])
    assert token["refresh_token"] in app.portal.refresh_tokens
    for secret in (app.client_secret, token["refresh_token"], token["access_token"]):
        assert secret not in err


def test_state_mismatch_is_refused_before_any_exchange(app):
    stdout = io.StringIO()

    def forged(url: str) -> str:
        return url.replace("state=", "state=other", 1)

    code, _out, err = run(app, "--no-browser", stdin=UserAtTheKeyboard(stdout, forged), stdout=stdout)
    assert code == 1 and "State mismatch" in err
    assert not [r for r in app.requests if r.method == "oauth/token"]


def test_denied_consent_with_a_browser_times_out_with_the_reason(app, monkeypatch):
    app.approve_consent = False
    monkeypatch.setattr(webbrowser, "open", browser_that_follows_redirects([]))
    code, out, err = run(app, "--wait", "1")
    assert code == 1 and out == ""
    assert "No redirect reached" in err and "consent was not given" in err


def test_denied_consent_without_a_browser_says_no_code_came_back(app):
    app.approve_consent = False
    stdout = io.StringIO()
    code, _out, err = run(app, "--no-browser", stdin=UserAtTheKeyboard(stdout), stdout=stdout)
    assert code == 1 and "no authorization code" in err and "Consent was refused" in err


def test_wrong_client_secret_is_named_and_not_shown(app, monkeypatch):
    monkeypatch.setattr(webbrowser, "open", browser_that_follows_redirects([]))
    wrong = "not-the-secret-0123456789"
    code, out, err = run(app, secret=wrong)
    assert code == 1 and out == ""
    assert "refused the application's credentials (invalid_client" in err and "--client-secret" in err
    assert wrong not in err and app.client_secret not in err


def test_a_redirect_at_the_token_url_is_not_followed(app, monkeypatch):
    monkeypatch.setattr(webbrowser, "open", browser_that_follows_redirects([]))
    app.inject_fault(kind="redirect", method="oauth/token", location="http://127.0.0.1:9")
    code, _out, err = run(app)
    assert code == 1 and "not followed" in err
    assert len([r for r in app.requests if r.method == "oauth/token"]) == 1


def test_conn_id_saves_the_pair_in_the_connections_token_store(app, monkeypatch, tmp_path):
    store = tmp_path / "tokens.json"
    conn = {
        "conn_type": "bitrix24",
        "host": app.url,
        "login": app.client_id,
        "password": app.client_secret,
        "extra": {"auth_type": "oauth2", "token_url": app.token_url, "token_store": f"file:{store}"},
    }
    monkeypatch.setenv("AIRFLOW_CONN_B24_APP", json.dumps(conn))
    monkeypatch.setattr(webbrowser, "open", browser_that_follows_redirects([]))
    code, out, err = run(app, "--conn-id", "b24_app")
    assert code == 0, err
    assert out == ""  # the pair went to the store, nothing secret printed
    saved = json.loads(store.read_text())
    assert saved["refresh_token"] in app.portal.refresh_tokens
    assert "already uses this application" in err

    # The hook now works from the stored pair alone (no refresh_token in the connection).
    from airflow_provider_bitrix24.hooks.bitrix24 import Bitrix24Hook

    ok, message = Bitrix24Hook("b24_app").test_connection()
    assert ok, message


def test_conn_id_without_a_reachable_store_prints_the_pair_instead_of_losing_it(app, monkeypatch, tmp_path):
    monkeypatch.setattr(webbrowser, "open", browser_that_follows_redirects([]))
    # No such connection and no metadata database here: the default Variable store is out of reach.
    from airflow_provider_bitrix24.hooks import bitrix24 as hook_module

    def no_database():
        raise RuntimeError("no metadata database")

    monkeypatch.setattr(hook_module, "_probe_metadata_db", no_database)
    code, out, err = run(app, "--conn-id", "not_there")
    assert code == 1 and "metadata database" in err
    connection = json.loads(out.strip())
    assert_pair_works(app, connection)


def test_defaults_of_the_command_and_the_emulator_agree():
    from airflow_provider_bitrix24.emulator.server import DEFAULT_REDIRECT_URI as EMULATOR_DEFAULT

    assert DEFAULT_REDIRECT_URI == EMULATOR_DEFAULT


def test_the_code_exchange_has_a_timeout(app, monkeypatch):
    module = sys.modules[main.__module__]  # the submodule (the package exports a function of that name)
    monkeypatch.setattr(module, "TIMEOUT", (2.0, 0.5))
    monkeypatch.setattr(webbrowser, "open", browser_that_follows_redirects([]))
    app.inject_fault(kind="delay", method="oauth/token", delay=3.0)
    code, _out, err = run(app)
    assert code == 1 and "Could not reach the token URL" in err and "timed out" in err.lower()


def test_advice_for_a_connection_set_up_another_way_is_to_replace_it():
    from types import SimpleNamespace

    from airflow_provider_bitrix24.oauth.authorize import connection_advice

    webhook = SimpleNamespace(conn_type="bitrix24", login="1", extra_dejson={"token_store": "file:/t.json"})
    advice = connection_advice(
        "b24", webhook, "FileTokenStore('/t.json')", "https://x.bitrix24.com", "local.a.1", "u"
    )
    assert "exists but is not set up for this application (auth type webhook" in advice
    assert "airflow connections delete b24" in advice
    assert '"token_store": "file:/t.json"' in advice and '"token_url": "u"' in advice
    assert "--conn-password '<client secret>'" in advice  # a placeholder, never the secret
