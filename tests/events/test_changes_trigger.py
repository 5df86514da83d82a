"""Bitrix24ChangesTrigger against the emulator: bursts with shared seconds, restarts, re-changes."""

from __future__ import annotations

import random
import time
from datetime import datetime, timezone

import pytest

from airflow_provider_bitrix24.triggers.event_cursor import FileCursorStore
from airflow_provider_bitrix24.triggers.events import Bitrix24ChangesTrigger

from .conftest import delivered_ids, drive, drive_quietly


def _iso(second: int) -> str:
    return datetime.fromtimestamp(second, timezone.utc).isoformat()


def _seed_burst(emu, base: int) -> set[int]:
    """500 won deals whose IDs do not follow their times, many sharing a second, plus noise."""
    seconds = [base] * 120  # one second holding more than two pages
    seconds += [base + 1 + i // 3 for i in range(300)]  # three per second
    seconds += [base + 200 + i for i in range(80)]  # one per second
    rows = [{"TITLE": f"won {i}", "STAGE_ID": "WON", "DATE_MODIFY": s} for i, s in enumerate(seconds)]
    rows += [{"TITLE": f"open {i}", "STAGE_ID": "NEW", "DATE_MODIFY": base + i} for i in range(100)]
    random.Random(7).shuffle(rows)
    ids = emu.seed("crm.deal", rows)
    return {i for i, row in zip(ids, rows, strict=True) if row["STAGE_ID"] == "WON"}


def _trigger(store: dict, base: int, **kwargs) -> Bitrix24ChangesTrigger:
    params = dict(
        source="deal",
        filter={"STAGE_ID": "WON"},
        batch_size=60,
        settle_seconds=0,
        start_from=_iso(base - 10),
        poll_interval=0.05,
        cursor_key="deals_won",
        cursor_store=store,
        commit_delay=0,  # a triggerer that stores each event at once: exact counts across stops
    )
    params.update(kwargs)
    return Bitrix24ChangesTrigger(**params)


def test_burst_of_500_is_delivered_exactly_once(emu, webhook_conn, file_store):
    base = int(time.time()) - 3600
    won = _seed_burst(emu, base)
    payloads = drive(_trigger(file_store, base), lambda ev: len(delivered_ids(ev)) >= 500)
    ids = delivered_ids(payloads)
    assert len(ids) == 500
    assert set(ids) == won
    assert all(p["count"] <= 60 for p in payloads)
    # oldest first: (second, ID) never goes backwards across the whole stream
    order = [(c["modified"], c["id"]) for p in payloads for c in p["changes"]]
    assert order == sorted(order)
    # nothing more to say: a fresh instance from the stored cursor stays silent
    assert drive_quietly(_trigger(file_store, base)) == []


def test_restart_midway_resumes_without_repeats(emu, webhook_conn, file_store):
    base = int(time.time()) - 3600
    won = _seed_burst(emu, base)
    first = _trigger(file_store, base, batch_size=45)
    got = drive(first, lambda ev: len(delivered_ids(ev)) >= 200)
    before = delivered_ids(got)
    assert 200 <= len(before) < 500
    stored = FileCursorStore(file_store["path"]).load("deals_won")
    assert stored and stored["second"] >= base

    classpath, kwargs = first.serialize()
    assert classpath == "airflow_provider_bitrix24.triggers.events.Bitrix24ChangesTrigger"
    second = Bitrix24ChangesTrigger(**kwargs)
    rest = delivered_ids(drive(second, lambda ev: len(before) + len(delivered_ids(ev)) >= 500))
    everything = before + rest
    assert len(everything) == 500
    assert set(everything) == won


def test_record_changed_again_is_delivered_again_once(emu, webhook_conn, file_store, hook):
    base = int(time.time()) - 3600
    ids = emu.seed(
        "crm.deal", [{"TITLE": f"d{i}", "STAGE_ID": "WON", "DATE_MODIFY": base + i % 2} for i in range(10)]
    )
    trig = _trigger(file_store, base)
    assert sorted(delivered_ids(drive(trig, lambda ev: len(delivered_ids(ev)) >= 10))) == sorted(ids)

    for deal_id in ids[:3]:
        hook.call("crm.deal.update", {"id": deal_id, "fields": {"TITLE": "again"}})
    again = drive(_trigger(file_store, base), lambda ev: len(delivered_ids(ev)) >= 3, timeout=10)
    assert sorted(delivered_ids(again)) == sorted(ids[:3])


def test_start_from_now_ignores_history_and_fixes_the_start(emu, webhook_conn, file_store, hook):
    emu.seed("crm.deal", [{"TITLE": "old", "STAGE_ID": "WON", "DATE_MODIFY": int(time.time()) - 100}])
    trig = _trigger(file_store, 0, start_from="now", cursor_key="from_now")
    assert drive_quietly(trig) == []  # nothing old is reported
    saved = FileCursorStore(file_store["path"]).load("from_now")
    assert saved and saved["second"] >= int(time.time()) - 5
    new_id = hook.call("crm.deal.add", {"fields": {"TITLE": "fresh", "STAGE_ID": "WON"}})
    got = drive(
        _trigger(file_store, 0, start_from="now", cursor_key="from_now"), lambda ev: bool(ev), timeout=10
    )
    assert delivered_ids(got) == [int(new_id)]


def test_tasks_and_smart_process_items(emu, webhook_conn, file_store):
    base = int(time.time()) - 600
    task_ids = emu.seed(
        "tasks.task",
        [
            {"TITLE": f"t{i}", "RESPONSIBLE_ID": 1, "STATUS": 5, "CHANGED_DATE": base + i // 4}
            for i in range(12)
        ],
    )
    emu.seed("tasks.task", [{"TITLE": "open", "RESPONSIBLE_ID": 1, "STATUS": 2, "CHANGED_DATE": base}])
    trig = _trigger(
        file_store,
        base,
        source="task",
        filter={"STATUS": 5},
        cursor_key="tasks",
        select=["TITLE"],
        batch_size=5,
    )
    payloads = drive(trig, lambda ev: len(delivered_ids(ev)) >= 12)
    assert sorted(delivered_ids(payloads)) == sorted(task_ids)
    assert payloads[0]["changes"][0]["title"].startswith("t")

    item_ids = emu.seed(
        "crm.item",
        [{"title": f"i{i}", "stageId": "DT128_1:SUCCESS", "updatedTime": base + 1} for i in range(7)],
        entity_type_id=128,
    )
    trig = _trigger(
        file_store,
        base,
        source="item",
        entity_type_id=128,
        filter={"stageId": "DT128_1:SUCCESS"},
        cursor_key="spa",
    )
    assert sorted(delivered_ids(drive(trig, lambda ev: len(delivered_ids(ev)) >= 7))) == sorted(item_ids)


def test_serialization_and_validation():
    trig = Bitrix24ChangesTrigger(
        source="lead", filter={"STATUS_ID": "NEW"}, cursor_store={"type": "variable"}
    )
    classpath, kwargs = trig.serialize()
    again = Bitrix24ChangesTrigger(**kwargs)
    assert again.serialize() == (classpath, kwargs)
    assert again.cursor_key == trig.cursor_key
    assert Bitrix24ChangesTrigger(source="lead", filter={"STATUS_ID": "X"}).cursor_key != trig.cursor_key
    assert (
        Bitrix24ChangesTrigger(source="lead", filter={"STATUS_ID": "NEW"}, poll_interval=5).cursor_key
        == trig.cursor_key
    )
    with pytest.raises(ValueError, match="entity_type_id"):
        Bitrix24ChangesTrigger(source="item")
    with pytest.raises(ValueError, match="unknown change source"):
        Bitrix24ChangesTrigger(source="nope")


def test_idle_watcher_stores_its_position_only_now_and_then(emu, webhook_conn, file_store, monkeypatch):
    import airflow_provider_bitrix24.triggers.events as events

    start = int(time.time()) - 100  # less than IDLE_SAVE_SECONDS behind
    store = FileCursorStore(file_store["path"])
    assert drive_quietly(_trigger(file_store, start + 10, cursor_key="idle")) == []
    assert store.load("idle")["second"] == start  # nothing changed: no write yet (< IDLE_SAVE_SECONDS)
    monkeypatch.setattr(events, "IDLE_SAVE_SECONDS", 50)
    assert drive_quietly(_trigger(file_store, start + 10, cursor_key="idle")) == []
    assert store.load("idle")["second"] >= int(time.time()) - 2  # moved up to the portal clock


def test_stop_before_the_commit_delay_repeats_the_batch_instead_of_losing_it(emu, webhook_conn, file_store):
    base = int(time.time()) - 3600
    ids = emu.seed(
        "crm.deal", [{"TITLE": f"d{i}", "STAGE_ID": "WON", "DATE_MODIFY": base + i} for i in range(30)]
    )
    # Stopped right after the first event, while waiting for the triggerer to store it.
    first = drive(_trigger(file_store, base, batch_size=10, commit_delay=5), lambda ev: len(ev) >= 1)
    assert delivered_ids(first) == ids[:10]
    assert FileCursorStore(file_store["path"]).load("deals_won")["second"] == base - 10  # not moved
    store = FileCursorStore(file_store["path"])
    # run until the last batch is confirmed too (the store moved past it)
    again = drive(
        _trigger(file_store, base, batch_size=10, commit_delay=0.05),
        lambda ev: len(delivered_ids(ev)) >= 30 and store.load("deals_won")["second"] > base + 29,
    )
    assert delivered_ids(again) == ids  # the unconfirmed batch again, then the rest, once each
    assert drive_quietly(_trigger(file_store, base, batch_size=10, commit_delay=0.05)) == []


def test_transient_errors_postpone_and_permanent_errors_fail(emu, webhook_conn, file_store, monkeypatch):
    import json as _json

    from airflow_provider_bitrix24.client.errors import Bitrix24AuthError

    base = int(time.time()) - 3600
    ids = emu.seed(
        "crm.deal", [{"TITLE": f"d{i}", "STAGE_ID": "WON", "DATE_MODIFY": base + i} for i in range(20)]
    )
    # more 503s than the client's own retries: the trigger sees the error, waits, polls again
    emu.inject_fault(status=503, error="QUERY_LIMIT_EXCEEDED", count=8, method="crm.deal.list")
    conn = {**webhook_conn, "extra": {**webhook_conn["extra"], "max_retries": 1}}
    monkeypatch.setenv("AIRFLOW_CONN_BITRIX24_DEFAULT", _json.dumps(conn))
    payloads = drive(_trigger(file_store, base), lambda ev: len(delivered_ids(ev)) >= 20, timeout=60)
    assert delivered_ids(payloads) == ids
    assert sum(1 for r in emu.requests if r.method == "crm.deal.list" and r.http_status == 503) == 8

    monkeypatch.setenv("AIRFLOW_CONN_BITRIX24_DEFAULT", _json.dumps({**conn, "password": "wrong-code"}))
    with pytest.raises(Bitrix24AuthError):
        drive(_trigger(file_store, base), lambda ev: False, timeout=20)
