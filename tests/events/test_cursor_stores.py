"""Cursor stores: file (shared by processes), Airflow Variable, asset state store (Airflow 3.3+)."""

from __future__ import annotations

import asyncio
import multiprocessing

import pytest

from airflow_provider_bitrix24.triggers.event_cursor import (
    AssetCursorStore,
    FileCursorStore,
    VariableCursorStore,
    build_cursor_store,
)
from airflow_provider_bitrix24.triggers.events import Bitrix24ChangesTrigger


def _bump(path: str, key: str, times: int) -> None:
    store = FileCursorStore(path)
    for i in range(times):
        store.save(f"{key}", {"n": i})
        store.save("shared", {"by": key})


def test_file_store_round_trip_and_concurrent_writers(tmp_path):
    path = tmp_path / "sub" / "cursors.json"
    store = FileCursorStore(path)
    assert store.load("a") is None
    asyncio.run(store.asave("a", {"second": 5, "last_id": 2}))
    assert asyncio.run(store.aload("a")) == {"second": 5, "last_id": 2}
    workers = [multiprocessing.Process(target=_bump, args=(str(path), f"w{i}", 30)) for i in range(3)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(30)
    assert all(store.load(f"w{i}") == {"n": 29} for i in range(3))  # no writer lost another's key
    assert store.load("a") == {"second": 5, "last_id": 2}


def test_variable_store_uses_json_variables(mocker):
    variables: dict = {}
    fake = mocker.patch("airflow.sdk.Variable")
    fake.get.side_effect = lambda name, default=None, deserialize_json=False: variables.get(name, default)
    fake.set.side_effect = lambda name, value, serialize_json=False: variables.__setitem__(name, value)
    store = build_cursor_store(None)
    assert isinstance(store, VariableCursorStore)
    assert asyncio.run(store.aload("deals")) is None
    asyncio.run(store.asave("deals", {"second": 1}))
    assert variables == {"bitrix24_cursor_deals": {"second": 1}}
    assert fake.set.call_args.kwargs == {"serialize_json": True}
    assert build_cursor_store({"type": "variable", "prefix": "x_"}).name("k") == "x_k"


class _FakeAccessors:
    def __init__(self) -> None:
        self.data: dict = {}

    async def aget(self, key, default=None):
        return self.data.get(key, default)

    async def aset(self, key, value):
        self.data[key] = value


def test_asset_store_uses_the_injected_state_store():
    trigger = Bitrix24ChangesTrigger(source="deal", cursor_store={"type": "asset"}, cursor_key="won")
    store = trigger._store()
    assert isinstance(store, AssetCursorStore)
    with pytest.raises(RuntimeError, match="Airflow 3.3"):
        asyncio.run(store.aload("won"))
    trigger.asset_state_store = _FakeAccessors()  # what the 3.3+ triggerer injects
    asyncio.run(store.asave("won", {"second": 9, "last_id": 0}))
    assert asyncio.run(store.aload("won")) == {"second": 9, "last_id": 0}


def test_bad_specs_are_refused():
    with pytest.raises(ValueError, match="path"):
        build_cursor_store({"type": "file"})
    with pytest.raises(ValueError, match="unknown cursor_store"):
        build_cursor_store({"type": "redis"})
