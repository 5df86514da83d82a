"""Run a pipeline when a Bitrix24 deal is won (event-driven scheduling, Airflow 3).

How it works: the asset ``bitrix24/deals_won`` has an ``AssetWatcher`` whose trigger,
:class:`~airflow_provider_bitrix24.triggers.events.Bitrix24ChangesTrigger`, polls
``crm.deal.list`` in the triggerer for deals changed in stage ``WON`` (a plain incoming webhook
is enough). Every batch of such changes becomes an asset event, and the asset event schedules
this DAG. The DAG reads the deal IDs from the triggering asset events (``extra["payload"]["ids"]``;
events recorded by the push endpoint carry ``extra["bitrix24"]["data"]["FIELDS"]["ID"]``), fetches
those deals that are won and totals the amount.

The trigger's cursor is kept in the Airflow Variable ``bitrix24_cursor_bitrix24_deals_won``:
after a triggerer restart it resumes where it stopped. A deal edited again while won is
reported again; make downstream work idempotent per deal ID. Manual runs may pass
``{"deal_ids": [...]}`` as run configuration instead.

Try it against the local emulator::

    python -m airflow_provider_bitrix24.emulator --port 8024      # prints the webhook URL
    export AIRFLOW_CONN_BITRIX24_DEFAULT='{"conn_type": "bitrix24", "host": "http://127.0.0.1:8024",
        "login": "1", "password": "<webhook code>", "extra": {"auth_type": "webhook"}}'
    airflow standalone                                            # then unpause this DAG
    curl -s <webhook URL>crm.deal.add.json -d 'fields[TITLE]=Big deal&fields[OPPORTUNITY]=900'
    curl -s <webhook URL>crm.deal.update.json -d 'id=1&fields[STAGE_ID]=WON'   # a run follows

tests/events/manual_e2e_standalone.py does exactly this, plus a restart and the push path.

See docs/events.md for the other ways in (offline events, push) and how to choose.
"""

from __future__ import annotations

import logging
from datetime import datetime

from airflow.sdk import Asset, AssetWatcher, dag, task

from airflow_provider_bitrix24.hooks.bitrix24 import Bitrix24Hook
from airflow_provider_bitrix24.triggers.events import Bitrix24ChangesTrigger

log = logging.getLogger(__name__)

WATCHER_NAME = "bitrix24_deals_won"

DEALS_WON = Asset(
    name="bitrix24/deals_won",
    watchers=[
        AssetWatcher(
            name=WATCHER_NAME,
            trigger=Bitrix24ChangesTrigger(
                source="deal",
                filter={"STAGE_ID": "WON"},
                select=["TITLE"],
                bitrix24_conn_id="bitrix24_default",
                poll_interval=30,
                cursor_key=WATCHER_NAME,
            ),
        )
    ],
)


def deal_ids_from(triggering_asset_events, params: dict | None = None) -> list[int]:
    """Deal IDs of every asset event behind this run (several may be merged into one run)."""
    ids: set[int] = set()
    events = (
        triggering_asset_events[DEALS_WON] if triggering_asset_events and len(triggering_asset_events) else []
    )
    for event in events:
        extra = event.extra or {}
        ids.update(int(i) for i in (extra.get("payload") or {}).get("ids", []))  # from the watcher
        pushed = ((extra.get("bitrix24") or {}).get("data") or {}).get(
            "FIELDS"
        ) or {}  # from the push endpoint
        if pushed.get("ID"):
            ids.add(int(pushed["ID"]))
    if not ids and params:
        ids.update(int(i) for i in params.get("deal_ids") or [])
    return sorted(ids)


@dag(
    dag_id="example_bitrix24_event_deal_won",
    # One pool per portal caps the tasks calling it at once (docs/reliability.md); scripts/demo.py
    # creates it: `airflow pools set bitrix24_demo_portal 4 "Tasks calling the demo portal"`.
    default_args={"pool": "bitrix24_demo_portal"},
    schedule=[DEALS_WON],
    start_date=datetime(2024, 1, 1),
    catchup=False,
    params={"deal_ids": []},
    tags=["bitrix24", "example", "events"],
    doc_md=__doc__,
)
def example_bitrix24_event_deal_won():
    @task
    def won_deal_ids(triggering_asset_events=None, params=None) -> list[int]:
        ids = deal_ids_from(triggering_asset_events, params)
        log.info("Deals won: %s", ids)
        return ids

    @task
    def total_won(ids: list[int]) -> dict:
        if not ids:
            return {"deals": 0, "total": 0.0}
        deals = Bitrix24Hook().get_all(
            "crm.deal.list",
            {
                "filter": {"@ID": ids, "STAGE_ID": "WON"},
                "select": ["ID", "TITLE", "OPPORTUNITY", "CURRENCY_ID"],
            },
        )
        total = sum(float(d.get("OPPORTUNITY") or 0) for d in deals)
        for deal in deals:
            log.info(
                "Won: deal %s %r for %s %s",
                deal["ID"],
                deal.get("TITLE"),
                deal.get("OPPORTUNITY"),
                deal.get("CURRENCY_ID"),
            )
        return {"deals": len(deals), "total": total}

    total_won(won_deal_ids())


example_bitrix24_event_deal_won()
