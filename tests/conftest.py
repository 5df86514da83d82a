"""Shared fixtures: one emulator per test session, reset before each test, and Airflow
connections pointing at it for each auth mode (read from AIRFLOW_CONN_* so no DB is needed)."""

from __future__ import annotations

import atexit
import json
import os
import shutil
import tempfile

import pytest

# Airflow reads its configuration at import time: isolate it before anything imports airflow.
# No unit test mode: its unit_tests.cfg differs from what users run (it turns cron and timedelta
# data intervals on, which hid that Airflow 3's defaults give "@daily" runs an empty interval),
# so the suite runs on Airflow's real defaults.
# The temporary home is removed when the test process exits (after every test and subprocess).
if "AIRFLOW_HOME" not in os.environ:
    os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="b24-airflow-home-")
    atexit.register(shutil.rmtree, os.environ["AIRFLOW_HOME"], ignore_errors=True)
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")

# Functional tests must not wait on the real-portal default of 2 requests/second.
FAST_LIMITS = {"rate_limit": {"burst": 100000, "per_second": 100000}}


@pytest.fixture(scope="session")
def tls_certificate(tmp_path_factory):
    """(cert.pem, key.pem): a self-signed certificate for 127.0.0.1, to serve the emulator over HTTPS."""
    import subprocess

    if shutil.which("openssl") is None:
        pytest.skip("openssl CLI not available to make a certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.fixture(scope="session")
def emulator_server():
    from airflow_provider_bitrix24.emulator import Emulator

    with Emulator(port=0) as emu:
        yield emu


@pytest.fixture
def emu(emulator_server):
    """The session's emulator with empty tables, no faults, no limits and an empty request log."""
    emulator_server.reset()
    emulator_server.configure(rate_limit=None, operating_limit=None)
    return emulator_server


def _set_conn(monkeypatch, conn_id: str, conn: dict) -> dict:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
    return conn


@pytest.fixture
def webhook_conn(emu, monkeypatch):
    return _set_conn(
        monkeypatch,
        "bitrix24_default",
        {
            "conn_type": "bitrix24",
            "host": emu.url,
            "login": str(emu.webhook_user_id),
            "password": emu.webhook_code,
            "extra": {"auth_type": "webhook", **FAST_LIMITS},
        },
    )


@pytest.fixture
def oauth_conn(emu, monkeypatch, tmp_path):
    access, refresh = emu.issue_tokens()
    return _set_conn(
        monkeypatch,
        "bitrix24_default",
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
                "token_store": {"type": "file", "path": str(tmp_path / "tokens.json")},
                **FAST_LIMITS,
            },
        },
    )


@pytest.fixture
def api_key_conn(emu, monkeypatch):
    access, _refresh = emu.issue_tokens(expires_in=24 * 3600)
    return _set_conn(
        monkeypatch,
        "bitrix24_default",
        {
            "conn_type": "bitrix24",
            "host": emu.url,
            "password": access,
            "extra": {"auth_type": "api_key", **FAST_LIMITS},
        },
    )
