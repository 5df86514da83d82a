"""The deal-won example DAG: it parses, its watcher fires against the emulator, the DAG runs,
and the push endpoint records a real asset event for its asset in the metadata DB."""

from __future__ import annotations

import json
import time

import pytest
from fastapi.testclient import TestClient

from airflow_provider_bitrix24.client.encoding import encode_params
from airflow_provider_bitrix24.triggers.events import Bitrix24ChangesTrigger

from .conftest import EXAMPLE_DAG, delivered_ids, drive, drive_quietly

DAG_ID = "example_bitrix24_event_deal_won"


@pytest.fixture
def dag(airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(str(airflow_db / EXAMPLE_DAG))
    assert bag.import_errors == {}
    return bag.get_dag(DAG_ID)


def _asset(dag):
    (asset,) = dag.timetable.asset_condition.objects  # schedule=[asset] is AssetAll(asset)
    return asset


def _watcher_trigger(dag, store: dict) -> Bitrix24ChangesTrigger:
    (watcher,) = _asset(dag).watchers
    assert watcher.name == "bitrix24_deals_won"
    # The watcher's own trigger, rebuilt from its serialized form with a test cursor store.
    classpath, kwargs = watcher.trigger.serialize()
    return Bitrix24ChangesTrigger(
        **{**kwargs, "cursor_store": store, "poll_interval": 0.05, "settle_seconds": 0}
    )


def test_dag_parses_with_an_asset_watcher(dag):
    asset = _asset(dag)
    assert asset.name == "bitrix24/deals_won"
    trigger = asset.watchers[0].trigger
    assert isinstance(trigger, Bitrix24ChangesTrigger)
    assert trigger.filter == {"STAGE_ID": "WON"} and trigger.cursor_key == "bitrix24_deals_won"
    assert {t.task_id for t in dag.tasks} == {"won_deal_ids", "total_won"}


def test_watcher_fires_when_a_deal_is_won_and_the_dag_runs(dag, emu, webhook_conn, hook, file_store):
    open_deal, other = emu.seed(
        "crm.deal",
        [{"TITLE": "Big one", "STAGE_ID": "NEW", "OPPORTUNITY": 2500}, {"TITLE": "Other", "STAGE_ID": "NEW"}],
    )
    assert drive_quietly(_watcher_trigger(dag, file_store)) == []  # fixes "now"; nothing won yet

    hook.call("crm.deal.update", {"id": open_deal, "fields": {"STAGE_ID": "WON"}})
    hook.call("crm.deal.update", {"id": other, "fields": {"TITLE": "still open"}})
    payloads = drive(_watcher_trigger(dag, file_store), lambda ev: bool(ev), timeout=10)
    assert delivered_ids(payloads) == [open_deal]
    assert payloads[0]["changes"][0]["TITLE"] == "Big one"

    emu.clear_requests()
    run = dag.test(run_conf={"deal_ids": delivered_ids(payloads)})
    assert run.state == "success"
    lists = [
        r for r in emu.requests if "crm.deal.list" in json.dumps(r.params) or r.method == "crm.deal.list"
    ]
    assert lists, "the DAG did not read the won deals"

    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        values = session.scalars(
            select(XComModel.value).where(
                XComModel.dag_id == DAG_ID,
                XComModel.run_id == run.run_id,
                XComModel.task_id == "total_won",
                XComModel.key == "return_value",
            )
        ).all()
    assert values == [{"deals": 1, "total": 2500.0}]


def test_push_endpoint_records_a_real_asset_event(dag, airflow_db, monkeypatch):

    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session

    from airflow_provider_bitrix24.plugins.events_receiver import create_app

    dag.test(run_conf={"deal_ids": []})  # syncs the DAG, and so its asset, to the metadata DB
    token = "jvh9y1ulvt2m6k5or90v9mg8nn32ozas"
    monkeypatch.setenv(
        "AIRFLOW_CONN_B24_PUSH",
        json.dumps(
            {
                "conn_type": "bitrix24",
                "extra": {"application_token": token, "push_assets": ["bitrix24/deals_won"]},
            }
        ),
    )
    body = encode_params(
        {
            "event": "ONCRMDEALUPDATE",
            "event_handler_id": "9",
            "data": {"FIELDS": {"ID": "42"}},
            "ts": str(int(time.time())),
            "auth": {"application_token": token, "domain": "x.bitrix24.com"},
        }
    )
    reply = TestClient(create_app()).post(
        "/events/b24_push/bitrix24/deals_won",
        content=body,
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert reply.status_code == 200, reply.text
    event_id = reply.json()["asset_event_id"]
    with create_session() as session:
        event = session.get(AssetEvent, event_id)
        asset = session.get(AssetModel, event.asset_id)
        assert asset.name == "bitrix24/deals_won"
        assert event.extra["bitrix24"]["data"] == {"FIELDS": {"ID": "42"}}
        assert token not in json.dumps(event.extra)
        missing = TestClient(create_app()).post(
            "/events/b24_push/bitrix24/deals_won",
            content=body,
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
    assert missing.status_code == 200  # a new app instance has no replay memory: documented limit


def test_deal_ids_come_from_watcher_and_push_events_or_run_conf():
    import importlib.util
    from pathlib import Path
    from types import SimpleNamespace

    path = Path(__file__).resolve().parents[2] / "example_dags" / EXAMPLE_DAG
    spec = importlib.util.spec_from_file_location("deal_won_example", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    watcher = SimpleNamespace(extra={"from_trigger": True, "payload": {"ids": [5, 7]}})
    pushed = SimpleNamespace(
        extra={"bitrix24": {"event": "ONCRMDEALUPDATE", "data": {"FIELDS": {"ID": "9"}}}}
    )
    unrelated = SimpleNamespace(extra=None)
    # triggering_asset_events maps the asset to its events; several events may share one run
    assert module.deal_ids_from({module.DEALS_WON: [watcher, pushed, unrelated, watcher]}) == [5, 7, 9]
    assert module.deal_ids_from({}, {"deal_ids": ["3"]}) == [3]
    assert module.deal_ids_from(None, None) == []
