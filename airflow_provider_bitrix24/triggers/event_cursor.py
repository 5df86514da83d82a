"""Where event triggers keep their position, so a triggerer restart or redeploy resumes it.

A store maps a cursor key (one per watcher) to a small JSON object. It is chosen by a JSON-able
spec that travels in the trigger's kwargs:

``{"type": "variable"}`` (default)
    An Airflow Variable named ``bitrix24_cursor_<key>`` (``"prefix"`` changes the prefix).
    Triggers reach Variables through the triggerer's supervisor, in every Airflow 3.2+ install.
``{"type": "asset"}``
    The watched asset's state store (Airflow 3.3+; the triggerer hands it to event triggers).
    The entry goes away with the asset. The trigger must watch exactly one asset.
``{"type": "file", "path": "/shared/bitrix24-cursors.json"}``
    A JSON file; for one triggerer host or a shared volume, and for tests.

Writes are whole-value replacements. Nothing here talks to Bitrix24.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import tempfile
from pathlib import Path
from typing import Any

VARIABLE_PREFIX = "bitrix24_cursor_"


class CursorStore:
    """Load and save one JSON object per key."""

    def load(self, key: str) -> dict | None:  # pragma: no cover - interface
        raise NotImplementedError

    def save(self, key: str, value: dict) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    # Stores that block (files, Variables through the supervisor) run in a worker thread so the
    # triggerer's event loop keeps serving other triggers.
    async def aload(self, key: str) -> dict | None:
        return await asyncio.to_thread(self.load, key)

    async def asave(self, key: str, value: dict) -> None:
        # Shielded: a trigger cancelled while saving (triggerer shutdown) still finishes the write
        # of a position whose event Airflow already has; otherwise that batch would come again.
        await asyncio.shield(asyncio.to_thread(self.save, key, value))

    def describe(self, key: str) -> str:
        return f"{type(self).__name__}({key})"


class FileCursorStore(CursorStore):
    """All keys in one JSON file, replaced atomically under an exclusive lock."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)

    @contextlib.contextmanager
    def _locked(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(f"{self.path}.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _read(self) -> dict:
        try:
            return json.loads(self.path.read_text() or "{}")
        except FileNotFoundError:
            return {}

    def load(self, key: str) -> dict | None:
        with self._locked():
            return self._read().get(key)

    def save(self, key: str, value: dict) -> None:
        with self._locked():
            data = self._read()
            data[key] = value
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.")
            with os.fdopen(fd, "w") as out:
                json.dump(data, out, sort_keys=True)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, self.path)

    def describe(self, key: str) -> str:
        return f"file {self.path} key {key!r}"


class VariableCursorStore(CursorStore):
    """One Airflow Variable per key (JSON)."""

    def __init__(self, prefix: str = VARIABLE_PREFIX) -> None:
        self.prefix = prefix

    def name(self, key: str) -> str:
        return f"{self.prefix}{key}"

    def load(self, key: str) -> dict | None:
        from airflow.sdk import Variable

        return Variable.get(self.name(key), default=None, deserialize_json=True)

    def save(self, key: str, value: dict) -> None:
        from airflow.sdk import Variable

        Variable.set(self.name(key), value, serialize_json=True)

    def describe(self, key: str) -> str:
        return f"Airflow Variable {self.name(key)!r}"


class AssetCursorStore(CursorStore):
    """The watched asset's state store (Airflow 3.3+), injected into the trigger by the triggerer."""

    def __init__(self, trigger: Any) -> None:
        self.trigger = trigger

    def _accessor(self) -> Any:
        accessors = getattr(self.trigger, "asset_state_store", None)
        if accessors is None:
            raise RuntimeError(
                "cursor_store type 'asset' needs Airflow 3.3+ and a trigger run by the triggerer for an "
                "AssetWatcher; use {'type': 'variable'} otherwise"
            )
        return accessors

    async def aload(self, key: str) -> dict | None:
        try:
            return await self._accessor().aget(key, None)
        except ValueError as err:  # the accessors refuse to guess between several assets
            raise RuntimeError(
                f"cursor_store type 'asset' needs a trigger that watches exactly one asset ({err})"
            ) from err

    async def asave(self, key: str, value: dict) -> None:
        await asyncio.shield(self._accessor().aset(key, value))

    def describe(self, key: str) -> str:
        return f"asset state store key {key!r}"


def build_cursor_store(spec: dict | None, trigger: Any = None) -> CursorStore:
    """The store a trigger's ``cursor_store`` spec names (see the module docstring)."""
    spec = dict(spec or {"type": "variable"})
    kind = str(spec.get("type", "variable")).lower()
    if kind == "variable":
        return VariableCursorStore(spec.get("prefix") or VARIABLE_PREFIX)
    if kind == "file":
        if not spec.get("path"):
            raise ValueError("cursor_store type 'file' needs a 'path'")
        return FileCursorStore(spec["path"])
    if kind == "asset":
        return AssetCursorStore(trigger)
    raise ValueError(f"unknown cursor_store type {kind!r}; use 'variable', 'asset' or 'file'")
