"""Helpers for driving event triggers the way the triggerer does.

The triggerer iterates ``trigger.run()``: it takes an event, queues it and resumes the
generator. :func:`drive` does the same and stops the trigger (cancels it) once ``stop_when``
holds, at whatever await point the trigger is in, like a triggerer shutting down.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent


async def _drive(trigger: Any, stop_when: Callable[[list], bool], timeout: float) -> list[dict]:
    events: list[dict] = []

    async def consume() -> None:
        async for event in trigger.run():
            events.append(event.payload)

    task = asyncio.create_task(consume())
    deadline = time.monotonic() + timeout
    try:
        while not stop_when(events):
            if task.done():
                task.result()  # surface the trigger's exception
                break
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"trigger did not reach the expected state in {timeout}s; got {len(events)} event(s)"
                )
            await asyncio.sleep(0.01)
    finally:
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
        # A cursor save started in a worker thread finishes even when its awaiter is cancelled.
        await asyncio.sleep(0.2)
    return events


def drive(trigger: Any, stop_when: Callable[[list], bool], timeout: float = 30.0) -> list[dict]:
    """Run ``trigger`` until ``stop_when(payloads)`` holds; return the payloads it emitted."""
    return asyncio.run(_drive(trigger, stop_when, timeout))


def drive_quietly(trigger: Any, seconds: float = 0.6) -> list[dict]:
    """Run ``trigger`` for ``seconds`` and return whatever it emitted (expected: nothing)."""
    started = time.monotonic()
    return drive(trigger, lambda ev: bool(ev) or time.monotonic() - started > seconds, timeout=seconds + 5)


def delivered_ids(payloads: list[dict]) -> list[int]:
    return [i for p in payloads for i in p["ids"]]


@pytest.fixture
def file_store(tmp_path) -> dict:
    return {"type": "file", "path": str(tmp_path / "cursors.json")}


@pytest.fixture
def hook(webhook_conn):
    from airflow_provider_bitrix24.hooks.bitrix24 import Bitrix24Hook

    return Bitrix24Hook()


EXAMPLE_DAG = "example_bitrix24_event_deal_won.py"
DB_TESTS = "test_example_dag.py"


def pytest_collection_modifyitems(session, config, items):
    """Tests that create the metadata DB run after all others (as in tests/example_dags), so that
    tests expecting no database never see one."""
    ours = [
        item
        for item in items
        if Path(str(item.fspath)).name == DB_TESTS and HERE in Path(str(item.fspath)).resolve().parents
    ]
    if ours:
        items[:] = [item for item in items if item not in ours] + ours


@pytest.fixture(scope="module")
def airflow_db(tmp_path_factory):
    """A migrated metadata DB, and a DAG bundle holding only the event example DAG."""
    import json

    from airflow.utils import db

    bundle = tmp_path_factory.mktemp("event_dags")
    (bundle / EXAMPLE_DAG).symlink_to(HERE.parents[1] / "example_dags" / EXAMPLE_DAG)
    config = [
        {
            "name": "bitrix24-events-example",
            "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
            "kwargs": {"path": str(bundle), "refresh_interval": 0},
        }
    ]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST", json.dumps(config))
        db.initdb()
        yield bundle
