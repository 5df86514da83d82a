"""Event triggers for event-driven scheduling (``Asset`` + ``AssetWatcher``) on Bitrix24.

* :class:`Bitrix24ChangesTrigger` follows new and changed records of a list method (CRM
  entities, smart-process items via ``crm.item.list``, tasks) matched by a filter. Works with
  any connection, including a plain incoming webhook.
* :class:`Bitrix24OfflineEventsTrigger` drains the portal's offline event queue
  (``event.offline.get`` / ``event.offline.clear``). Application (OAuth) connections only.

Each :class:`~airflow.triggers.base.TriggerEvent` becomes one asset event whose ``extra`` holds
``{"from_trigger": True, "payload": <the payload below>}``; a DAG run reads it from
``triggering_asset_events``.

Both read through the connection's async client, shared with the poll triggers
(:func:`.bitrix24.shared_async_client`): no thread is held while a request waits for the rate
limiter, the pacer, a backoff or the reply.

Delivery guarantee (both triggers): at least once. The position (change cursor, or the
reserved offline batch) moves in its cursor store (:mod:`.event_cursor`) only ``commit_delay``
seconds after the triggerer took the event, by which time the triggerer has written the event
to the metadata DB. A stop, restart, redeploy or crash before that makes the batch come again
after the restart rather than be lost; it is repeated only when the stop fell between Airflow
storing the event and the trigger storing its position (a window of at most ``commit_delay``).
See docs/events.md.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator, Sequence
from typing import Any

from airflow.triggers.base import BaseEventTrigger, TriggerEvent

from airflow_provider_bitrix24.client.errors import Bitrix24BadRequest, Bitrix24NotFound
from airflow_provider_bitrix24.hooks.mixin import make_hook, require_application_auth
from airflow_provider_bitrix24.polling.calls import Steps, run_async
from airflow_provider_bitrix24.polling.changes import (
    ChangeReader,
    Cursor,
    change_source,
    now_second,
    start_second,
)
from airflow_provider_bitrix24.polling.offline import OfflineQueue, checked_limit, plan_clear
from airflow_provider_bitrix24.polling.probes import TRANSIENT_ERRORS
from airflow_provider_bitrix24.triggers.bitrix24 import shared_async_client
from airflow_provider_bitrix24.triggers.event_cursor import CursorStore, build_cursor_store

# An idle watcher stores its advancing position at most this often (seconds of portal time).
IDLE_SAVE_SECONDS = 600
# Seconds between handing an event to the triggerer and storing the position past it: two of
# the triggerer's state syncs (see _Bitrix24EventTrigger._handed_over).
DEFAULT_COMMIT_DELAY = 2.0


class _Bitrix24EventTrigger(BaseEventTrigger):
    """Shared plumbing: serialization, the async client, the cursor store.

    Every read is a plan (:mod:`airflow_provider_bitrix24.polling.calls`) sent through the
    connection's async client shared with the poll triggers, so no thread is held while a call
    waits for the rate limiter, the pacer, a backoff or the reply."""

    #: kwargs that do not change *what* is watched, so they stay out of the default cursor key
    _KEY_EXCLUDES: tuple[str, ...] = ("poll_interval", "commit_delay", "cursor_key", "cursor_store")

    def __init__(
        self,
        *,
        bitrix24_conn_id: str = "bitrix24_default",
        poll_interval: float = 60.0,
        commit_delay: float = DEFAULT_COMMIT_DELAY,
        cursor_key: str | None = None,
        cursor_store: dict | None = None,
    ) -> None:
        super().__init__()
        self.bitrix24_conn_id = bitrix24_conn_id
        self.poll_interval = float(poll_interval)
        self.commit_delay = max(0.0, float(commit_delay))
        self.cursor_store = dict(cursor_store) if cursor_store else None
        self._cursor_key = cursor_key
        self._client: Any = None

    # -- identity ---------------------------------------------------------------------------
    def _watch_kwargs(self) -> dict[str, Any]:  # pragma: no cover - abstract
        raise NotImplementedError

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                **self._watch_kwargs(),
                "bitrix24_conn_id": self.bitrix24_conn_id,
                "poll_interval": self.poll_interval,
                "commit_delay": self.commit_delay,
                "cursor_key": self._cursor_key,
                "cursor_store": self.cursor_store,
            },
        )

    @property
    def cursor_key(self) -> str:
        """The given key, or one derived from what is watched (so a changed filter starts afresh)."""
        if self._cursor_key:
            return self._cursor_key
        identity = {k: v for k, v in self.serialize()[1].items() if k not in self._KEY_EXCLUDES}
        digest = hashlib.sha256(
            json.dumps([type(self).__name__, identity], sort_keys=True, default=str).encode()
        )
        return f"{type(self).__name__.lower()}_{digest.hexdigest()[:16]}"

    # -- helpers ----------------------------------------------------------------------------
    def _store(self) -> CursorStore:
        return build_cursor_store(self.cursor_store, self)

    async def _run(self, steps: Steps[Any]) -> Any:
        """A plan's value, its calls sent by the connection's async client (set by :meth:`run`)."""
        return await run_async(steps, self._client)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        async with shared_async_client(self.bitrix24_conn_id) as client:
            self._client = client
            try:
                async for event in self._watch():
                    yield event
            finally:
                self._client = None

    def _watch(self) -> AsyncIterator[TriggerEvent]:  # pragma: no cover - abstract
        raise NotImplementedError

    async def _handed_over(self) -> None:
        """Called when the triggerer resumed us after a ``yield``: it has queued the event.

        The triggerer writes queued events to the metadata DB on its next state sync (about once
        a second) and does not flush the queue when it shuts down. Waiting ``commit_delay``
        before storing the new position means a shutdown inside that window cancels us first:
        the batch comes again after the restart instead of being lost.
        """
        if self.commit_delay:
            await asyncio.sleep(self.commit_delay)

    async def _pause_after(self, err: Exception) -> None:
        self.log.warning(
            "Bitrix24 %s: transient error, will poll again in %ss: %s",
            self.bitrix24_conn_id,
            self.poll_interval,
            err,
        )
        await asyncio.sleep(self.poll_interval)


class Bitrix24ChangesTrigger(_Bitrix24EventTrigger):
    """Fire for records of a list method created or changed since the last event.

    One event per batch of up to ``batch_size`` changes, oldest first, with the payload::

        {"source": "deal", "list_method": "crm.deal.list", "count": 3, "ids": [5, 7, 9],
         "changes": [{"id": 5, "modified": "2026-01-31T09:00:00+00:00", ...selected fields}],
         "cursor_key": "...", "batch": "<cursor before>..<cursor after>"}

    A record appears again each time it changes again later. Records changed within the last
    ``settle_seconds`` wait for the next poll (one-second timestamps need a closed second; see
    :mod:`airflow_provider_bitrix24.polling.changes`). Deleted records are not reported.

    :param source: ``deal``, ``lead``, ``contact``, ``company``, ``quote``, ``item`` (smart
        processes and other types through crm.item.list; needs ``entity_type_id``) or ``task``.
    :param filter: list filter in the method's own field names, e.g. ``{"STAGE_ID": "WON"}``.
    :param select: extra fields to copy into each change (keep it small: it is stored with the
        asset event).
    :param entity_type_id: CRM entity type for ``source="item"``.
    :param batch_size: changes per event.
    :param settle_seconds: how far behind the portal clock to read.
    :param start_from: where a watcher without a stored cursor starts: ``"now"`` (default),
        ``"beginning"`` or a time value.
    :param bitrix24_conn_id: Airflow connection of the portal.
    :param poll_interval: seconds between polls once caught up.
    :param commit_delay: seconds between handing an event to the triggerer and storing the
        position past it (default 2: the triggerer stores events on its next state sync, about
        once a second, and drops unsynced ones when it stops). ``0`` stores at once: no repeats
        after a restart, but a batch handed over just before a shutdown may be lost.
    :param cursor_key: name of the stored cursor; defaults to a digest of what is watched. Set
        it (e.g. to the watcher name) to keep the position when you change the filter.
    :param cursor_store: where the cursor lives (:func:`.event_cursor.build_cursor_store`);
        default: an Airflow Variable.
    """

    def __init__(
        self,
        *,
        source: str = "deal",
        filter: dict | None = None,
        select: Sequence[str] | None = None,
        entity_type_id: int | None = None,
        batch_size: int = 100,
        settle_seconds: int = 5,
        start_from: str = "now",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.source = source
        self.change_source = change_source(source)
        self.filter = dict(filter or {})
        self.select = list(select or [])
        self.entity_type_id = int(entity_type_id) if entity_type_id not in (None, "") else None
        self.change_source.base_params(self.entity_type_id)  # fail at parse time, not in the triggerer
        if int(batch_size) < 1:
            raise ValueError("batch_size must be at least 1")
        self.batch_size = int(batch_size)
        self.settle_seconds = max(0, int(settle_seconds))
        self.start_from = start_from

    def _watch_kwargs(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "filter": self.filter,
            "select": self.select,
            "entity_type_id": self.entity_type_id,
            "batch_size": self.batch_size,
            "settle_seconds": self.settle_seconds,
            "start_from": self.start_from,
        }

    def _upper(self) -> Steps[int]:
        # Only whole seconds that ended ``settle_seconds`` ago are read.
        return (yield from now_second()) - self.settle_seconds

    def _start(self) -> Steps[Cursor]:
        return Cursor(start_second(self.start_from, (yield from self._upper())))

    def _poll(self, cursor: Cursor) -> Steps[tuple[list, Cursor]]:
        reader = ChangeReader(None, self.change_source, self.filter, self.select, self.entity_type_id)
        return (yield from reader.read(cursor, (yield from self._upper()), self.batch_size))

    def _payload(self, changes: list, before: Cursor, after: Cursor) -> dict:
        return {
            "source": self.source,
            "list_method": self.change_source.list_method,
            "count": len(changes),
            "ids": [c.id for c in changes],
            "changes": [c.to_payload() for c in changes],
            "cursor_key": self.cursor_key,
            "batch": f"{before.second}:{before.last_id}..{after.second}:{after.last_id}",
        }

    async def _watch(self) -> AsyncIterator[TriggerEvent]:
        store, key = self._store(), self.cursor_key
        cursor: Cursor | None = None
        stored = Cursor(0)
        self.log.info(
            "Watching %s changes on %s (cursor in %s)",
            self.source,
            self.bitrix24_conn_id,
            store.describe(key),
        )
        while True:
            try:
                if cursor is None:
                    saved = await store.aload(key)
                    if saved:
                        cursor = Cursor.from_dict(saved)
                    else:
                        # Fix "now" at once, so a restart does not move the starting point.
                        cursor = await self._run(self._start())
                        await store.asave(key, cursor.to_dict())
                    stored = cursor
                changes, after = await self._run(self._poll(cursor))
            except TRANSIENT_ERRORS as err:
                await self._pause_after(err)
                continue
            if changes:
                self.log.info("%s %s change(s) up to %s", len(changes), self.source, after.to_dict()["time"])
                yield TriggerEvent(self._payload(changes, cursor, after))
                await self._handed_over()  # only then move the stored position
            # After an event the position must be stored. After an empty poll only now and then:
            # re-reading an empty stretch after a restart costs little, a DB write per poll does.
            if changes or after.second - stored.second >= IDLE_SAVE_SECONDS:
                await store.asave(key, after.to_dict())
                stored = after
            cursor = after
            if len(changes) >= self.batch_size:
                continue  # a burst: read on without waiting
            await asyncio.sleep(self.poll_interval)


class Bitrix24OfflineEventsTrigger(_Bitrix24EventTrigger):
    """Fire for batches of the application's offline events, clearing them once Airflow has them.

    Steps per batch, each stored in the cursor store before the next: note the events the
    reservation is to take (``{"phase": "reserving", "expected": ids}``), reserve up to
    ``batch_size`` events (``event.offline.get`` with ``clear=0``), store ``{"phase":
    "reserved", process_id, ids}``, yield the event; when the triggerer resumes the trigger, store
    ``"delivered"``; on the next poll clear exactly those ids (``event.offline.clear``).

    After a fault or a restart: a ``reserving`` batch whose reply was lost is found again by
    the events it was to take (:meth:`.offline.OfflineQueue.recover`) and delivered; a
    ``reserved`` batch is fetched again under its ``process_id`` and delivered (it never reached
    Airflow); a ``delivered`` one is cleared, again if the clear failed. Payload::

        {"process_id": "...", "count": 2, "ids": ["11", "12"], "message_ids": [...],
         "events": [{"ID", "TIMESTAMP_X", "EVENT_NAME", "EVENT_DATA", "EVENT_ADDITIONAL", "MESSAGE_ID"}]}

    :param event_names: only these events (e.g. ``["ONCRMDEALUPDATE"]``); all when empty.
    :param batch_size: events per trigger event (1-1000).
    :param auth_connector: the ``auth_connector`` given to event.bind, if any.
    Other parameters as in :class:`Bitrix24ChangesTrigger`.
    """

    def __init__(
        self,
        *,
        event_names: Sequence[str] | str = (),
        batch_size: int = 50,
        auth_connector: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.queue = OfflineQueue.of(event_names, auth_connector)
        self.event_names, self.auth_connector = list(self.queue.event_names), self.queue.auth_connector
        self.batch_size = checked_limit(batch_size)

    def _watch_kwargs(self) -> dict[str, Any]:
        return {
            "event_names": self.event_names,
            "batch_size": self.batch_size,
            "auth_connector": self.auth_connector,
        }

    def _check_auth(self) -> None:
        # Reads the connection only (no request): a worker thread, once, before the watch starts.
        require_application_auth(make_hook(self.bitrix24_conn_id), self.bitrix24_conn_id)

    async def _reserve_async(self, process_id: str | None) -> dict | None:
        return await self._run(self.queue.plan_reserve(self.batch_size, process_id))

    # The same steps with the connection's synchronous client, outside the triggerer (tests set
    # up a queue's state with them).
    def _reserve(self, process_id: str | None) -> dict | None:
        return self.queue.reserve(make_hook(self.bitrix24_conn_id), self.batch_size, process_id)

    def _expected(self) -> list[str]:
        return self.queue.next_free(make_hook(self.bitrix24_conn_id), self.batch_size)

    async def _clear(self, state: dict) -> None:
        try:
            await self._run(plan_clear(state["process_id"], list(state["ids"])))
        except (Bitrix24BadRequest, Bitrix24NotFound) as err:
            # The portal no longer knows the batch (e.g. its reservation expired). It was
            # delivered already; retrying the clear forever would stall the watcher.
            self.log.warning(
                "Clearing offline events of process %s failed, moving on: %s", state["process_id"], err
            )

    @staticmethod
    def _payload(batch: dict) -> dict:
        events = batch["events"]
        return {
            "process_id": batch["process_id"],
            "count": len(events),
            "ids": [str(e.get("ID")) for e in events],
            "message_ids": [e.get("MESSAGE_ID") for e in events],
            "events": events,
        }

    async def _next_batch(self, store: CursorStore, key: str, state: dict) -> dict | None:
        """The batch to deliver now, moving ``state`` through its phases (see the class docs)."""
        phase = state.get("phase")
        if phase == "reserved":  # reserved, not handed over: the same events again
            return await self._reserve_async(state["process_id"])
        if phase == "reserving":  # the reservation's reply was lost: find the batch it made
            expected = list(state.get("expected") or [])
            batch = await self._run(self.queue.plan_recover(expected, self.batch_size))
            if batch is not None:
                return batch
            state.clear()
            await store.asave(key, state)
        expected = await self._run(self.queue.plan_next_free(self.batch_size))
        if not expected:
            return None
        state.clear()
        state.update({"phase": "reserving", "expected": expected})
        await store.asave(key, state)
        return await self._reserve_async(None)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        await asyncio.to_thread(self._check_auth)  # a webhook connection fails here, clearly
        async for event in super().run():
            yield event

    async def _watch(self) -> AsyncIterator[TriggerEvent]:
        store, key = self._store(), self.cursor_key
        self.log.info(
            "Draining offline events %s on %s (state in %s)",
            self.event_names or "(all)",
            self.bitrix24_conn_id,
            store.describe(key),
        )
        state: dict | None = None
        while True:
            try:
                if state is None:
                    state = dict(await store.aload(key) or {})
                if state.get("phase") == "delivered":
                    await self._clear(state)
                    state = {}
                    await store.asave(key, state)
                batch = await self._next_batch(store, key, state)
            except TRANSIENT_ERRORS as err:  # a lost reply included: the stored phase says what to redo
                await self._pause_after(err)
                continue
            if batch is None:
                if state:
                    state = {}
                    await store.asave(key, state)
                await asyncio.sleep(self.poll_interval)
                continue
            payload = self._payload(batch)
            state = {"phase": "reserved", "process_id": payload["process_id"], "ids": payload["ids"]}
            await store.asave(key, state)
            self.log.info(
                "%s offline event(s) reserved under process %s", payload["count"], payload["process_id"]
            )
            yield TriggerEvent(payload)
            await self._handed_over()  # then mark the batch delivered; the next round clears it
            state = {**state, "phase": "delivered"}
            await store.asave(key, state)
