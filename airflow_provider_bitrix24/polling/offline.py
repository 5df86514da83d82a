"""The application's offline event queue: look, reserve, take back a stranded batch, confirm.

``event.offline.get`` with ``clear=0`` hides the events it returns under a new ``process_id``,
named only in its reply. When that reply is lost (a reset connection, a killed process), nobody
knows the id and the events stay hidden until the portal drops the reservation (30 days, per the
offline events page). :meth:`OfflineQueue.take` therefore notes which events it expects to
reserve first (the oldest free ones, in the order ``event.offline.get`` hands them out), and
after a lost reply reads the queue with ``event.offline.list``, which shows each row's
``PROCESS_ID``: the process now holding those events is the one the lost reply named, and
``event.offline.get`` with that ``process_id`` hands its events out again.

If another consumer reserved the same events in between, both deliver them: at least once,
never lost. Nothing here imports Airflow.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from airflow_provider_bitrix24.client.errors import (
    Bitrix24OperationLimit,
    Bitrix24RateLimited,
    Bitrix24ServerError,
    Bitrix24TransportError,
)
from airflow_provider_bitrix24.polling.calls import Call, Steps, every_row, run

log = logging.getLogger(__name__)

#: The order ``event.offline.get`` hands events out in (its default is ``TIMESTAMP_X`` ascending).
HAND_OUT_ORDER = {"TIMESTAMP_X": "ASC", "ID": "ASC"}
LIST_PAGE = 50  # event.offline.list pages are always 50 rows

#: Errors after which a reservation may or may not have happened on the portal.
MAYBE_RESERVED = (Bitrix24TransportError, Bitrix24ServerError, Bitrix24RateLimited, Bitrix24OperationLimit)


def checked_limit(batch_size: Any) -> int:
    """Events one ``event.offline.get`` may reserve: the method accepts 1 to 1000."""
    if not 1 <= int(batch_size) <= 1000:
        raise ValueError("batch_size must be between 1 and 1000")
    return int(batch_size)


@dataclass(frozen=True)
class OfflineQueue:
    """One consumer's view of the queue: some event names (all when empty), one source key."""

    event_names: tuple[str, ...] = ()
    auth_connector: str | None = None

    @classmethod
    def of(cls, event_names: Any = (), auth_connector: str | None = None) -> OfflineQueue:
        """From operator-style arguments: one name or several, empty values dropped."""
        names = [event_names] if isinstance(event_names, str) else list(event_names or ())
        return cls(tuple(str(n) for n in names if n), auth_connector or None)

    def filter(self) -> dict:
        names = [n.upper() for n in self.event_names]
        if not names:
            return {}
        return {"=EVENT_NAME": names[0] if len(names) == 1 else names}

    def _connector(self) -> dict:
        return {"auth_connector": self.auth_connector} if self.auth_connector else {}

    # Each step is a plan (:mod:`.calls`): ``plan_*`` for the triggerer's async client, the plain
    # method runs it with a hook's synchronous client.

    # -- reading without changing anything -------------------------------------------------
    def plan_rows(self, enough: Callable[[list[dict]], bool] | None = None) -> Steps[list[dict]]:
        """Unflagged rows, reserved or not, in hand-out order (``event.offline.list``, page by page,
        until ``enough(rows so far)``)."""
        params = {"filter": {**self.filter(), "ERROR": 0}, "order": HAND_OUT_ORDER, **self._connector()}
        return every_row("event.offline.list", params, enough)

    def plan_next_free(self, limit: int) -> Steps[list[str]]:
        """IDs of the events the next ``event.offline.get`` of ``limit`` would reserve."""
        rows = yield from self.plan_rows(lambda rows: len(_free(rows)) >= limit)
        return _free(rows)[:limit]

    def next_free(self, hook: Any, limit: int) -> list[str]:
        return run(self.plan_next_free(limit), hook)

    def plan_holders(self, event_ids: Iterable[str] | None) -> Steps[list[str]]:
        """Process ids that hold any of ``event_ids`` (``None``: any event) now, in hand-out order."""
        wanted = None if event_ids is None else {str(i) for i in event_ids}
        found: dict[str, None] = {}
        if wanted is None or wanted:
            for row in (yield from self.plan_rows()):
                if row.get("PROCESS_ID") and (wanted is None or str(row.get("ID")) in wanted):
                    found[str(row["PROCESS_ID"])] = None
        return list(found)

    def holders(self, hook: Any, event_ids: Iterable[str] | None) -> list[str]:
        return run(self.plan_holders(event_ids), hook)

    # -- reserving -----------------------------------------------------------------------------
    def plan_reserve(self, limit: int, process_id: str | None = None) -> Steps[dict | None]:
        """Reserve up to ``limit`` events (or hand out again those of ``process_id``); ``None`` when
        there were none. The events stay on the portal until :func:`clear_offline_events`."""
        params: dict[str, Any] = {"filter": self.filter(), "limit": int(limit), "clear": 0}
        if process_id:
            params["process_id"] = process_id
        result = (yield Call("event.offline.get", {**params, **self._connector()})) or {}
        events = result.get("events") or []
        if not events:
            return None
        return {"process_id": result.get("process_id") or process_id, "events": events}

    def reserve(self, hook: Any, limit: int, process_id: str | None = None) -> dict | None:
        return run(self.plan_reserve(limit, process_id), hook)

    def plan_recover(self, expected: Iterable[str] | None, limit: int) -> Steps[dict | None]:
        """The batch a lost ``event.offline.get`` reply reserved, found by the events it was to take
        (``None``: any batch reserved now, for a consumer that cannot tell its own)."""
        for process_id in (yield from self.plan_holders(expected)):
            batch = yield from self.plan_reserve(limit, process_id)
            if batch is not None:
                log.warning(
                    "Took back %s offline event(s) left reserved under process %s",
                    len(batch["events"]),
                    process_id,
                )
                return batch
        return None

    def recover(self, hook: Any, expected: Iterable[str] | None, limit: int) -> dict | None:
        return run(self.plan_recover(expected, limit), hook)

    def plan_take(self, limit: int) -> Steps[dict | None]:
        """Reserve a batch; when the reply is lost, find the batch it reserved and take it again."""
        expected = yield from self.plan_next_free(limit)
        if not expected:
            return None
        try:
            return (yield from self.plan_reserve(limit))
        except MAYBE_RESERVED as err:
            log.warning("The reply of event.offline.get was lost (%s); looking for its batch", err)
            batch = yield from self.plan_recover(expected, limit)
            if batch is None:
                raise
            return batch

    def take(self, hook: Any, limit: int) -> dict | None:
        return run(self.plan_take(limit), hook)


def _free(rows: list[dict]) -> list[str]:
    return [str(row.get("ID")) for row in rows if not row.get("PROCESS_ID")]


def plan_clear(
    process_id: str,
    event_ids: list[int | str] | None = None,
    failed_message_ids: list[str] | None = None,
) -> Steps[dict]:
    """:func:`clear_offline_events` as a plan (:mod:`.calls`)."""
    if failed_message_ids:
        yield Call("event.offline.error", {"process_id": process_id, "message_id": list(failed_message_ids)})
    params: dict[str, Any] = {"process_id": process_id}
    if event_ids is not None:
        if not event_ids:
            return {"process_id": process_id, "cleared": 0, "failed": len(failed_message_ids or [])}
        params["id"] = [int(i) if str(i).isdigit() else i for i in event_ids]
    yield Call("event.offline.clear", params)
    return {
        "process_id": process_id,
        "cleared": "all" if event_ids is None else len(event_ids),
        "failed": len(failed_message_ids or []),
    }


def clear_offline_events(
    hook: Any,
    process_id: str,
    event_ids: list[int | str] | None = None,
    failed_message_ids: list[str] | None = None,
) -> dict:
    """Confirm processed offline events and mark failed ones.

    With ``event_ids=None`` every event reserved under ``process_id`` is cleared; otherwise only
    those ids are, and the rest stay reserved (``event.offline.get`` with the same ``process_id``
    hands them out again). ``failed_message_ids`` go to event.offline.error first. Repeating a
    clear whose reply was lost is harmless: cleared events are gone.
    """
    return run(plan_clear(process_id, event_ids, failed_message_ids), hook)
