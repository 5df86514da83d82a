"""Quick start: talk to a Bitrix24 portal through the ``bitrix24_default`` connection.

Checks the connection, creates three deals in one ``batch`` request, reads them back with
``paginate`` (chained-batch paging, no COUNT queries) and logs a summary. Runs against the
local emulator in ``python3 scripts/demo.py`` and against a real portal unchanged.
"""

from __future__ import annotations

import logging
from datetime import datetime

from airflow.sdk import dag, task

from airflow_provider_bitrix24.hooks.bitrix24 import Bitrix24Hook

log = logging.getLogger(__name__)


@dag(
    dag_id="example_bitrix24_quickstart",
    # One pool per portal caps the tasks calling it at once (docs/reliability.md); scripts/demo.py
    # creates it: `airflow pools set bitrix24_demo_portal 4 "Tasks calling the demo portal"`.
    default_args={"pool": "bitrix24_demo_portal"},
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    tags=["bitrix24", "example", "demo"],
    doc_md=__doc__,
)
def example_bitrix24_quickstart():
    @task
    def check_connection() -> str:
        ok, message = Bitrix24Hook().test_connection()
        if not ok:
            raise RuntimeError(message)
        log.info("%s", message)
        return message

    @task
    def create_deals(run_id: str | None = None) -> list[int]:
        titles = [f"Quickstart deal {n} ({run_id})" for n in range(1, 4)]
        result = Bitrix24Hook().batch(
            [
                ("crm.deal.add", {"fields": {"TITLE": title, "OPPORTUNITY": 1000 * n, "CURRENCY_ID": "USD"}})
                for n, title in enumerate(titles, start=1)
            ],
            halt=True,
        )
        result.raise_for_errors()
        ids = [int(result.result[str(i)]) for i in range(len(titles))]
        log.info("Created deals %s", ids)
        return ids

    @task
    def read_back(ids: list[int]) -> dict:
        hook = Bitrix24Hook()
        deals = hook.get_all(
            "crm.deal.list", {"filter": {"@ID": ids}, "select": ["ID", "TITLE", "OPPORTUNITY"]}
        )
        found = sorted(int(d["ID"]) for d in deals)
        if found != sorted(ids):
            raise RuntimeError(f"read back {found}, expected {sorted(ids)}")
        total = sum(float(d.get("OPPORTUNITY") or 0) for d in deals)
        for deal in deals:
            log.info("Deal %s: %s (%s)", deal["ID"], deal["TITLE"], deal.get("OPPORTUNITY"))
        summary = {"created": len(ids), "read_back": len(deals), "total_opportunity": total}
        log.info("Quick start summary: %s", summary)
        return summary

    deals = create_deals()
    check_connection() >> deals  # no deal is created on a connection that does not work
    read_back(deals)


example_bitrix24_quickstart()
