"""The push endpoint (Airflow plugin app) over FastAPI's in-process TestClient."""

from __future__ import annotations

import json
import logging
import time

import pytest
from fastapi.testclient import TestClient

from airflow_provider_bitrix24.client.encoding import encode_params
from airflow_provider_bitrix24.plugins.events_receiver import EventReceiver, create_app, parse_form

TOKEN = "51856fefc120afa4b628cc82d3935cce"
ACCESS = "s6p6eclrvim6da22ft9ch94ekreb52lv"
ASSET = "bitrix24/deals_won"
URL = f"/events/b24_push/{ASSET}"
FORM = {"content-type": "application/x-www-form-urlencoded"}
JSON = {"content-type": "application/json"}


def _body(
    event: str = "ONCRMDEALUPDATE", deal_id: int = 7405, ts: int | None = None, token: str = TOKEN, **auth
) -> str:
    return encode_params(
        {
            "event": event,
            "event_handler_id": "185",
            "data": {"FIELDS": {"ID": str(deal_id)}},
            "ts": str(int(time.time()) if ts is None else ts),
            "auth": {
                "access_token": ACCESS,
                "expires_in": "3600",
                "domain": "portal.example.com",
                "member_id": "d897063e1ce7c5eb9f04b9751eef5915",
                "application_token": token,
                **auth,
            },
        }
    )


@pytest.fixture
def push_conn(monkeypatch):
    extra = {
        "auth_type": "oauth2",
        "application_token": TOKEN,
        "push_assets": [ASSET, "bitrix24/other"],
        "push_events": "ONCRMDEALUPDATE ONCRMDEALADD",
    }
    monkeypatch.setenv(
        "AIRFLOW_CONN_B24_PUSH",
        json.dumps({"conn_type": "bitrix24", "host": "https://portal.example.com", "extra": extra}),
    )


@pytest.fixture
def recorded():
    return []


@pytest.fixture
def client(push_conn, recorded):
    def recorder(asset_name: str, extra: dict) -> int | None:
        if asset_name == "bitrix24/other":
            return None  # allowed by the connection but not defined in any DAG
        recorded.append((asset_name, extra))
        return len(recorded)

    return TestClient(create_app(EventReceiver(recorder=recorder)))


def test_valid_event_is_recorded_without_tokens(client, recorded, caplog):
    caplog.set_level(logging.DEBUG)
    reply = client.post(URL, content=_body(), headers=FORM)
    assert reply.status_code == 200, reply.text
    assert reply.json() == {"status": "recorded", "asset": ASSET, "asset_event_id": 1}
    ((asset, extra),) = recorded
    assert asset == ASSET
    assert extra["bitrix24"]["event"] == "ONCRMDEALUPDATE"
    assert extra["bitrix24"]["data"] == {"FIELDS": {"ID": "7405"}}
    assert extra["bitrix24"]["member_id"] == "d897063e1ce7c5eb9f04b9751eef5915"
    assert TOKEN not in json.dumps(extra) and ACCESS not in json.dumps(extra)
    assert TOKEN not in caplog.text and ACCESS not in caplog.text


def test_invalid_token_and_unknown_connection_are_refused_alike(client, recorded, caplog):
    wrong = client.post(URL, content=_body(token="x" * 32), headers=FORM)
    unknown = client.post(f"/events/no_such_conn/{ASSET}", content=_body(), headers=FORM)
    assert wrong.status_code == unknown.status_code == 403
    assert wrong.json()["detail"] == unknown.json()["detail"] == "invalid application token"
    assert recorded == []
    assert "x" * 32 not in caplog.text and TOKEN not in caplog.text


@pytest.mark.parametrize(
    ("content", "headers", "status"),
    [
        ("event=ONCRMDEALUPDATE&ts=1", FORM, 400),  # no auth[application_token]
        (encode_params({"ts": "1", "auth": {"application_token": TOKEN}}), FORM, 400),  # no event
        (
            encode_params({"event": "ONCRMDEALUPDATE", "ts": "soon", "auth": {"application_token": TOKEN}}),
            FORM,
            400,
        ),
        (encode_params({"event": "bad name!", "ts": "1", "auth": {"application_token": TOKEN}}), FORM, 400),
        (
            "event=ONCRMDEALUPDATE&data[FIELDS=1&ts=1&auth[application_token]=" + TOKEN,
            FORM,
            400,
        ),  # broken key
        ("event=A&data=1&data[x]=2", FORM, 400),  # clash
        ("<xml/>", {"content-type": "text/xml"}, 415),
        ("{not json", {"content-type": "application/json"}, 400),
        ("a=" + "x" * (300 * 1024), FORM, 413),
        ('{"event": "ONCRMDEALUPDATE", "data": ' + "[" * 200_000, JSON, 400),  # nested 200,000 deep
        ('{"data": ' + '{"a": ' * 5000 + "1" + "}" * 5001, JSON, 400),  # well-formed, 5,000 deep
        (_body() + "&data[x]" + "[a]" * 20_000 + "=1", FORM, 400),  # a form key nested 20,000 deep
        (b"event=ONCRMDEALUPDATE&ts=1&data[x]=\xff\xfe", FORM, 400),  # not UTF-8
        ('{"event": "\xff"}'.encode("latin-1"), JSON, 400),
    ],
)
def test_malformed_requests_get_a_clear_4xx(client, recorded, caplog, content, headers, status):
    with TestClient(client.app, raise_server_exceptions=False) as lenient:
        reply = lenient.post(URL, content=content, headers=headers)
    assert reply.status_code == status, reply.text[:500]
    assert reply.json()["status"] == "rejected"
    assert recorded == []
    assert "Traceback" not in caplog.text


def test_replayed_request_is_refused(client, recorded):
    body = _body(ts=int(time.time()) - 5)
    assert client.post(URL, content=body, headers=FORM).status_code == 200
    again = client.post(URL, content=body, headers=FORM)
    assert again.status_code == 409 and again.json()["detail"] == "event already received"
    # another deal changed in the same second is a different event
    assert (
        client.post(URL, content=_body(deal_id=7406, ts=int(time.time()) - 5), headers=FORM).status_code
        == 200
    )
    assert len(recorded) == 2


def test_stale_events_and_disallowed_assets_or_events(client, recorded):
    assert client.post(URL, content=_body(ts=int(time.time()) - 3600), headers=FORM).status_code == 400
    assert client.post(URL, content=_body(ts=int(time.time()) + 3600), headers=FORM).status_code == 400
    other = client.post("/events/b24_push/secret/internal_asset", content=_body(), headers=FORM)
    assert other.status_code == 403 and "may not trigger" in other.json()["detail"]
    assert client.post(URL, content=_body(event="ONTASKADD"), headers=FORM).status_code == 422
    missing = client.post("/events/b24_push/bitrix24/other", content=_body(), headers=FORM)
    assert missing.status_code == 404
    # not recorded, so not remembered either: once the asset exists the same call is accepted
    assert recorded == []


def test_json_body_is_accepted_too(client, recorded):
    body = parse_form(_body())
    reply = client.post(URL, content=json.dumps(body), headers={"content-type": "application/json"})
    assert reply.status_code == 200
    assert recorded[0][1]["bitrix24"]["data"] == {"FIELDS": {"ID": "7405"}}


def test_parse_form_lists_and_nesting():
    assert parse_form("a[]=1&a[]=2&b[c][d]=x&e=") == {"a": ["1", "2"], "b": {"c": {"d": "x"}}, "e": ""}


def _plugin_apps(monkeypatch, enabled: str | None) -> list:
    import importlib

    from airflow_provider_bitrix24.plugins import bitrix24

    if enabled is None:
        monkeypatch.delenv("AIRFLOW__BITRIX24__PUSH_ENDPOINT_ENABLED", raising=False)
    else:
        monkeypatch.setenv("AIRFLOW__BITRIX24__PUSH_ENDPOINT_ENABLED", enabled)
    return importlib.reload(bitrix24).Bitrix24EventsPlugin.fastapi_apps


def test_plugin_mounts_nothing_unless_enabled(monkeypatch):
    assert _plugin_apps(monkeypatch, None) == []
    assert _plugin_apps(monkeypatch, "False") == []
    assert len(_plugin_apps(monkeypatch, "True")) == 1


def test_plugin_mounts_the_app(monkeypatch):
    (app,) = _plugin_apps(monkeypatch, "True")
    assert app["url_prefix"] == "/bitrix24"
    routes = {getattr(r, "path", "") for r in app["app"].routes}
    assert "/events/{conn_id}/{asset_name:path}" in routes


def test_airflow_plugin_loader_mounts_the_endpoint(tmp_path):
    """Airflow's own plugin loader accepts the plugin (here from a plugins folder, as documented)."""
    import os
    import subprocess
    import sys

    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "bitrix24_events.py").write_text(
        "from airflow_provider_bitrix24.plugins.bitrix24 import Bitrix24EventsPlugin\n"
    )
    env = {**os.environ, "AIRFLOW__CORE__PLUGINS_FOLDER": str(plugins), "AIRFLOW_HOME": str(tmp_path)}
    code = "from airflow import plugins_manager as m; print([a['url_prefix'] for a in m.get_fastapi_plugins()[0]])"

    def mounted(enabled: str) -> str:
        env["AIRFLOW__BITRIX24__PUSH_ENDPOINT_ENABLED"] = enabled
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
        )
        assert out.returncode == 0, out.stderr[-2000:]
        return out.stdout.strip().splitlines()[-1]

    assert "'/bitrix24'" in mounted("True")
    assert "'/bitrix24'" not in mounted("False")


def test_unknown_connection_ids_cost_few_secrets_lookups(push_conn, recorded, monkeypatch):
    """Each lookup may be a paid secrets-backend call: ids that do not exist must not buy one each."""
    import secrets

    from airflow_provider_bitrix24.plugins import events_receiver

    lookups: list[str] = []
    real_lookup = events_receiver.connection_settings

    def counted(conn_id: str):
        lookups.append(conn_id)
        return real_lookup(conn_id)

    monkeypatch.setattr(events_receiver, "connection_settings", counted)

    def recorder(asset_name: str, extra: dict) -> int:
        recorded.append((asset_name, extra))
        return len(recorded)

    client = TestClient(create_app(EventReceiver(recorder=recorder)))
    assert client.post(URL, content=_body(deal_id=1), headers=FORM).status_code == 200
    for _ in range(25):
        unknown = f"/events/{secrets.token_hex(8)}/{ASSET}"
        assert client.post(unknown, content=_body(), headers=FORM).status_code == 403
    assert len(lookups) <= 1 + 5, len(lookups)
    # the real connection still works, and an unknown id seen once is not looked up again soon
    assert client.post(URL, content=_body(deal_id=2), headers=FORM).status_code == 200
    before = len(lookups)
    for _ in range(3):
        assert client.post(f"/events/{lookups[1]}/{ASSET}", content=_body(), headers=FORM).status_code == 403
    assert len(lookups) == before
    assert len(recorded) == 2


def test_the_internal_asset_event_call_still_fits_this_airflow():
    """Airflow has no public Python API to record an asset event; record_asset_event uses its asset
    manager the way Airflow's own REST endpoint does. This fails on an upgrade that changes it."""
    import inspect

    from airflow.assets.manager import asset_manager
    from airflow.models.asset import AssetActive, AssetModel

    from airflow_provider_bitrix24.plugins.events_receiver import _api_source_arguments

    params = inspect.signature(asset_manager.register_asset_change).parameters
    wanted = {"asset", "extra", "session", *_api_source_arguments()}
    missing = wanted - {name for name, p in params.items() if p.kind is not p.VAR_KEYWORD}
    assert not missing, f"AssetManager.register_asset_change lost {missing}: update record_asset_event"
    assert hasattr(AssetActive, "name") and hasattr(AssetModel, "name")
