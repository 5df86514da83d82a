"""Deferrable polling for Bitrix24 sensors.

:class:`Bitrix24PollTrigger` runs a probe from :mod:`airflow_provider_bitrix24.polling.probes` in
the triggerer. The probe's look, stated as the calls it makes (:meth:`~.probes.Probe.plan`), is
sent through the connection's async client
(:meth:`~airflow_provider_bitrix24.hooks.bitrix24.Bitrix24Hook.async_client`), so no thread is
held while it waits - for the rate limiter, the operating-time pacer, a backoff or the reply -
and hundreds of deferred sensors share one event loop. Auth, error mapping, retries and the
per-portal rate limiter are the client core's, with no second copy. Only building the client
(reading the connection, once per connection and event loop) runs in a worker thread. Between
looks the trigger sleeps without holding a worker slot. Everything it needs to resume after a triggerer restart (connection id, probe with its
parameters and cursor, poll interval) is in :meth:`serialize`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_bitrix24.client.errors import scrub
from airflow_provider_bitrix24.hooks.mixin import make_hook
from airflow_provider_bitrix24.polling.probes import Probe, check_once_async


class _SharedClients:
    """One async client per connection and event loop, built once (in a worker thread) and
    shared by every trigger that polls through it: one credential, rate limiter and pacer. Each
    trigger sends through a sibling with its own small connection pool (see
    :meth:`~airflow_provider_bitrix24.client.aio.AsyncBitrix24Client.sibling`)."""

    def __init__(self) -> None:
        self._entries: dict[tuple[str, int], tuple[asyncio.Task, int]] = {}

    @contextlib.asynccontextmanager
    async def client(self, conn_id: str) -> AsyncIterator[Any]:
        key = (conn_id, id(asyncio.get_running_loop()))
        entry = self._entries.get(key)
        if entry is None:
            build = asyncio.ensure_future(asyncio.to_thread(lambda: make_hook(conn_id).async_client()))
            entry = (build, 0)
        self._entries[key] = (entry[0], entry[1] + 1)
        try:
            client = (await asyncio.shield(entry[0])).sibling()
            try:
                yield client
            finally:
                await client.aclose()
        finally:
            build, users = self._entries[key]
            if users > 1:
                self._entries[key] = (build, users - 1)
            else:
                del self._entries[key]
                if build.done():
                    await _close_built(build)
                else:  # every user left while it was being built: close it once it is
                    build.add_done_callback(lambda done: asyncio.ensure_future(_close_built(done)))


async def _close_built(build: asyncio.Future) -> None:
    if not build.cancelled() and build.exception() is None:
        await build.result().aclose()


_CLIENTS = _SharedClients()


def shared_async_client(conn_id: str) -> contextlib.AbstractAsyncContextManager[Any]:
    """``async with shared_async_client(conn_id) as client``: a trigger's async client of the
    connection, sharing credential, rate limiter and pacer with every other trigger of it in this
    event loop (see :class:`_SharedClients`)."""
    return _CLIENTS.client(conn_id)


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

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "probe": self.probe.to_dict(),
                "bitrix24_conn_id": self.bitrix24_conn_id,
                "poll_interval": self.poll_interval,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        self.log.info(
            "Polling Bitrix24 (%s) every %ss for %s",
            self.bitrix24_conn_id,
            self.poll_interval,
            self.probe.describe(),
        )
        async with contextlib.AsyncExitStack() as stack:
            client: Any = None
            while True:
                try:
                    if client is None:
                        client = await stack.enter_async_context(shared_async_client(self.bitrix24_conn_id))
                    outcome = await check_once_async(self.probe, client)
                except Exception as err:  # a permanent failure: report it to the task, do not spin
                    yield TriggerEvent({"status": "error", "message": scrub(f"{type(err).__name__}: {err}")})
                    return
                if outcome.done:
                    yield TriggerEvent({"status": "success", "value": outcome.value})
                    return
                await asyncio.sleep(self.poll_interval)
