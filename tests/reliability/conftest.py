"""Fixtures of the reliability suite: fast clients over real HTTP against the session's emulator
(``emu`` from tests/conftest.py). Backoff delays are shrunk so a retry storm costs milliseconds."""

from __future__ import annotations

import pytest
from reliability_helpers import FAST, SecretsProbe, make_oauth_client

from airflow_provider_bitrix24.client import Bitrix24Client, OAuth2Auth, WebhookAuth
from airflow_provider_bitrix24.client import auth as auth_module


@pytest.fixture(autouse=True)
def _fast_backoff(monkeypatch):
    """Hook-built clients (operators, sensors, triggers) retry in milliseconds too."""
    defaults = dict(Bitrix24Client.__init__.__kwdefaults__)
    defaults.update(backoff_base=FAST["backoff_base"], backoff_max=FAST["backoff_max"])
    monkeypatch.setattr(Bitrix24Client.__init__, "__kwdefaults__", defaults)
    # OAuth: wait 1 s (not 5) for a pair rotated elsewhere; resend a failed refresh at once.
    oauth_defaults = {**OAuth2Auth.__init__.__kwdefaults__, "rotation_wait": 1.0, "refresh_backoff": 0.01}
    monkeypatch.setattr(OAuth2Auth.__init__, "__kwdefaults__", oauth_defaults)


@pytest.fixture(autouse=True)
def _fresh_shared_token_stores(monkeypatch):
    """Each test starts without the in-memory OAuth pairs earlier tests left in this process."""
    monkeypatch.setattr(auth_module, "_SHARED_STORES", {})


@pytest.fixture
def webhook_client(emu):
    with Bitrix24Client(emu.url, WebhookAuth(emu.webhook_user_id, emu.webhook_code), **FAST) as client:
        yield client


@pytest.fixture
def oauth_client(emu, tmp_path):
    with make_oauth_client(emu, tmp_path / "tokens.json") as client:
        yield client


@pytest.fixture(scope="session", autouse=True)
def secrets_probe(tmp_path_factory):
    """Starts the slow ``airflow dags test`` of test_secrets.py at the first test of this folder."""
    probe = SecretsProbe(tmp_path_factory.mktemp("secrets-probe"))
    yield probe
    probe.close()
