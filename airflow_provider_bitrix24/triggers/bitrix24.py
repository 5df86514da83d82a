"""Deferrable polling for Bitrix24 sensors.

:class:`Bitrix24PollTrigger` runs a probe from :mod:`airflow_provider_bitrix24.polling.probes` in the triggerer: each look goes
through the hook's own synchronous client in a worker thread (``asyncio.to_thread``), so auth,
error mapping, retries and the per-portal rate limiter are the client core's, with no second
copy; between looks it sleeps without holding a worker slot. Everything it needs to resume after
a triggerer restart (connection id, probe with its parameters and cursor, poll interval) is in
:meth:`serialize`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_bitrix24.client.errors import scrub
from airflow_provider_bitrix24.hooks.mixin import make_hook
from airflow_provider_bitrix24.polling.probes import Probe, check_once


class Bitrix24PollTrigger(BaseTrigger):
    """Fire once when a probe's condition holds.

    Yields ``{"status": "success", "value": ...}`` with the probe's value, or
    ``{"status": "error", "message": ...}`` when a look fails for a reason that waiting will not
    fix (bad credentials, unknown record, invalid parameters). Transient errors (rate limits,
    5xx, network) only postpone the next look.

    :param probe: the probe as ``Probe.to_dict()`` (or a :class:`Probe`).
    :param bitrix24_conn_id: Airflow connection of the portal.
    :param poll_interval: seconds between looks.
    """

    def __init__(
        self,
        probe: dict[str, Any] | Probe,
        bitrix24_conn_id: str = "bitrix24_default",
        poll_interval: float = 60.0,
    ):
        super().__init__()
        self.probe = probe if isinstance(probe, Probe) else Probe.from_dict(probe)
        self.bitrix24_conn_id = bitrix24_conn_id
        self.poll_interval = float(poll_interval)
        self._hook: Any = None

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "probe": self.probe.to_dict(),
                "bitrix24_conn_id": self.bitrix24_conn_id,
                "poll_interval": self.poll_interval,
            },
        )

    def _look(self):
        # Runs in a worker thread: building the hook reads the connection synchronously.
        if self._hook is None:
            self._hook = make_hook(self.bitrix24_conn_id)
        return check_once(self.probe, self._hook)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        self.log.info(
            "Polling Bitrix24 (%s) every %ss for %s",
            self.bitrix24_conn_id,
            self.poll_interval,
            self.probe.describe(),
        )
        while True:
            try:
                outcome = await asyncio.to_thread(self._look)
            except Exception as err:  # a permanent failure: report it to the task, do not spin
                yield TriggerEvent({"status": "error", "message": scrub(f"{type(err).__name__}: {err}")})
                return
            if outcome.done:
                yield TriggerEvent({"status": "success", "value": outcome.value})
                return
            await asyncio.sleep(self.poll_interval)
