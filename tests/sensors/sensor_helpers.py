"""Helpers to drive sensors in each mode and triggers in an event loop (imported by the tests)."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from typing import Any
from unittest import mock

import pytest
from airflow.sdk.exceptions import TaskDeferred
from airflow.sdk.module_loading import import_string


def round_trip(trigger):
    """Serialize a trigger, check the kwargs survive JSON, and build a new one from them."""
    classpath, kwargs = trigger.serialize()
    assert json.loads(json.dumps(kwargs)) == kwargs, "trigger kwargs must be JSON-able"
    clone = import_string(classpath)(**kwargs)
    assert clone.serialize() == (classpath, kwargs)
    return clone


def first_event(
    trigger, *, after: float | None = None, change: Callable[[], Any] | None = None, timeout: float = 10.0
):
    """Run ``trigger.run()`` until its first event; ``change`` runs ``after`` seconds in."""

    async def main():
        if change is not None:
            timer = threading.Timer(after or 0.0, change)
            timer.start()
        try:
            agen = trigger.run()
            event = await asyncio.wait_for(agen.__anext__(), timeout)
            await agen.aclose()
            return event
        finally:
            if change is not None:
                timer.join()

    return asyncio.run(main())


def defer(sensor, context=None) -> TaskDeferred:
    """Run a deferrable sensor's ``execute`` and return the deferral (fails if it finished)."""
    with pytest.raises(TaskDeferred) as info:
        sensor.execute(context or {})
    return info.value


def reschedule_context() -> dict:
    ti = mock.MagicMock()
    ti.get_first_reschedule_date.return_value = None
    return {"ti": ti}
