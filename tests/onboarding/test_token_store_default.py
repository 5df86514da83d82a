"""The default token store of an OAuth connection (an Airflow Variable) is keyed by the grant it
holds (portal and client id), not by the connection id: the UI's Test button tests a copy of the
connection under a random temporary id, and a renewal made there must land where the connection
itself looks. A pair saved under the earlier per-connection key is still found, and moves to the
new key on the next save."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap

import pytest

from airflow_provider_bitrix24.hooks import bitrix24 as hook_module
from airflow_provider_bitrix24.hooks.bitrix24 import Bitrix24Hook, VariableTokenStore, default_token_key

from .conftest import airflow_env

# What Airflow's POST /connections/test does with a stored connection: load it, rename it to a
# random id, export it as AIRFLOW_CONN_<ID> (a URI) and call Connection.test_connection().
UI_TEST_BUTTON = textwrap.dedent(
    """
    import json, os
    from airflow.models.connection import Connection
    from airflow.utils.strings import get_random_string

    conn = Connection.get_connection_from_secrets("b24_oauth")
    conn.conn_id = get_random_string()
    os.environ[f"AIRFLOW_CONN_{conn.conn_id.upper()}"] = conn.get_uri()
    ok, message = conn.test_connection()
    print(json.dumps({"ok": ok, "message": message}))
    """
)
NEXT_TASK = textwrap.dedent(
    """
    import json
    from airflow_provider_bitrix24.hooks.bitrix24 import Bitrix24Hook

    print(json.dumps({"user": Bitrix24Hook("b24_oauth").call("user.current")["ID"]}))
    """
)


def oauth_connection(emu, access: str, refresh: str, **extra) -> dict:
    return {
        "conn_type": "bitrix24",
        "host": emu.url,
        "login": emu.client_id,
        "password": emu.client_secret,
        "extra": {
            "auth_type": "oauth2",
            "access_token": access,
            "refresh_token": refresh,
            "token_url": emu.token_url,
            **extra,
        },
    }


def test_a_ui_test_that_renews_the_token_leaves_the_connection_working(airflow_template, emu, tmp_path):
    """No token_store in the extra, an expired access token: the Test button renews it (the
    refresh token in the connection is spent), and the connection's next task, in another
    process, starts from the pair the test saved instead of failing with invalid_grant."""
    home = tmp_path / "airflow-home"
    shutil.copytree(airflow_template, home)
    access, refresh = emu.issue_tokens()
    emu.expire_access_tokens()
    env = {**airflow_env(home), "AIRFLOW_CONN_B24_OAUTH": json.dumps(oauth_connection(emu, access, refresh))}

    def run(script: str) -> dict:
        result = subprocess.run(
            [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=240
        )
        assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
        return json.loads(result.stdout.strip().splitlines()[-1])

    tested = run(UI_TEST_BUTTON)
    assert tested["ok"], tested["message"]
    assert emu.refresh_count == 1
    assert run(NEXT_TASK) == {"user": str(emu.webhook_user_id)}
    assert emu.refresh_count == 1  # the task started from the pair the test saved


class FakeVariables(dict):
    """Airflow Variables of the metadata database, as a dict (no database in this process)."""

    def get_variable(self, key, default_var=None, **kwargs):
        return self.get(key, default_var)

    def set_variable(self, key, value, description=None, **kwargs):
        self[key] = value


@pytest.fixture
def variables(monkeypatch):
    from airflow.models.variable import Variable

    fake = FakeVariables()
    monkeypatch.setattr(Variable, "get", staticmethod(fake.get_variable))
    monkeypatch.setattr(Variable, "set", staticmethod(fake.set_variable))
    monkeypatch.setattr(hook_module, "_probe_metadata_db", lambda: None)
    return fake


def test_the_default_key_names_the_grant_not_the_connection(emu, monkeypatch, variables):
    access, refresh = emu.issue_tokens()
    conn = oauth_connection(emu, access, refresh)
    for conn_id in ("b24_one", "b24_copy"):
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
    one, copy = (Bitrix24Hook(c).token_store() for c in ("b24_one", "b24_copy"))
    assert isinstance(one, VariableTokenStore) and isinstance(copy, VariableTokenStore)
    assert one.key == copy.key == default_token_key(emu.url, emu.client_id)
    assert "b24_one" not in one.key and emu.client_id in one.key and "127.0.0.1" in one.key


@pytest.mark.parametrize(
    ("portal", "client_id"),
    [
        ("https://Your-Company.bitrix24.com/", "local.1a2b.333"),
        ("your-company.bitrix24.com", "local.1a2b.333"),
        ("http://your-company.bitrix24.com", " local.1a2b.333 "),
    ],
)
def test_one_portal_written_several_ways_is_one_key(portal, client_id):
    assert default_token_key(portal, client_id) == "bitrix24_tokens_your-company.bitrix24.com_local.1a2b.333"


def test_a_key_stays_within_airflows_limit():
    key = default_token_key("https://" + "a" * 240 + ".bitrix24.com", "app." + "b" * 100)
    assert len(key) <= 250 and key.startswith("bitrix24_tokens_")
    assert key != default_token_key("https://" + "a" * 240 + ".bitrix24.com", "app." + "c" * 100)


def test_a_pair_under_the_per_connection_key_is_used_and_moves_on_the_next_save(emu, monkeypatch, variables):
    """A deployment that stored its pair as ``bitrix24_tokens_<conn_id>`` keeps it: the connection
    extra's refresh token was spent long ago, the Variable holds the live pair."""
    spent_access, spent_refresh = emu.issue_tokens()
    live_access, live_refresh = emu.issue_tokens()
    emu.portal.refresh_tokens.pop(spent_refresh)
    variables["bitrix24_tokens_b24_old"] = json.dumps(
        {"access_token": live_access, "refresh_token": live_refresh, "expires_at": None}
    )
    monkeypatch.setenv("AIRFLOW_CONN_B24_OLD", json.dumps(oauth_connection(emu, spent_access, spent_refresh)))
    emu.expire_access_tokens()
    assert Bitrix24Hook("b24_old").call("user.current")["ID"] in (1, "1")
    assert emu.refresh_count == 1  # renewed with the live refresh token from the old key
    moved = json.loads(variables[default_token_key(emu.url, emu.client_id)])
    assert moved["refresh_token"] in emu.portal.refresh_tokens
