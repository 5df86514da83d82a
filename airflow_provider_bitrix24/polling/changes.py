"""The change detector: a feed over a plain list method, with a (modified-second, ID) cursor.

It is the only one: the CRM changes sensor and its deferrable trigger (``CrmChangesProbe``) and
the AssetWatcher trigger (``Bitrix24ChangesTrigger``) all read changes through
:class:`ChangeReader`.

Bitrix24 list methods can filter and order by a record's modification time, but the time has a
resolution of one second and nothing else marks a change. :func:`collect_changes` reads the
records changed after a cursor and returns them with the cursor moved past them, such that
records sharing one second are neither skipped nor repeated, however a burst is split into
batches.

The rules, and why:

* The cursor is ``(second, last_id)``: everything modified before ``second`` was delivered, and
  so were the records of ``second`` itself with an ID up to ``last_id`` (``0``: none of them).
* Only *closed* seconds are read: the upper bound is the portal's own clock (``server.time``),
  floored to the second, minus ``settle_seconds``. A record changed again in a second the cursor
  already left therefore cannot appear behind the cursor, and a transaction that commits a little
  after its timestamp is still seen.
* Pages are read by keyset, never by offset: a record that changes while a burst is being read
  moves to a later second instead of shifting the rest of an offset page past the reader.
* Ordering by modification time is trusted only to whole seconds. A page ordered by time is cut
  at its last (possibly incomplete) second; a second with more records than one page is read on
  its own, ordered by ID, with ``>ID`` paging. So the delivery order is (second, ID) even on a
  server that keeps sub-second times.
* A record changed again later shows up again, in its new second: one delivery per change
  observed, and several changes of one record inside one second are one delivery.

Deleted records do not appear in list methods; follow deletions with offline events. Nothing
here imports Airflow.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_bitrix24.polling.calls import Call, Steps, run
from airflow_provider_bitrix24.polling.entities import CRM_ENTITIES
from airflow_provider_bitrix24.polling.timestamps import epoch_second, format_timestamp, iso_second

log = logging.getLogger(__name__)

PAGE_SIZE = 50  # Bitrix24 list methods answer 50 records per page


@dataclass(frozen=True)
class ChangeSource:
    """A list method that can be followed by modification time.

    ``*_filter`` names are the ones the method's ``filter``/``order``/``select`` take,
    ``*_out`` the keys of the returned records (they differ for camelCase methods).
    """

    list_method: str
    id_filter: str = "ID"
    modified_filter: str = "DATE_MODIFY"
    id_out: str = "ID"
    modified_out: str = "DATE_MODIFY"
    needs_entity_type: bool = False

    def base_params(self, entity_type_id: int | None) -> dict:
        if not self.needs_entity_type:
            return {}
        if entity_type_id is None:
            raise ValueError(
                f"{self.list_method} needs entity_type_id (2 for deals, 128+ for a smart process)"
            )
        return {"entityTypeId": int(entity_type_id)}


def _crm_sources() -> dict[str, ChangeSource]:
    # Built from the sensors' CRM entity table so both agree on method and field names.
    return {
        name: ChangeSource(
            list_method=entity.list_method,
            id_filter=entity.id_field,
            modified_filter=entity.modified_field,
            id_out=entity.id_field,
            modified_out=entity.modified_field,
            needs_entity_type=entity.universal,
        )
        for name, entity in CRM_ENTITIES.items()
    }


SOURCES: dict[str, ChangeSource] = {
    **_crm_sources(),
    # tasks.task.list takes UPPER_CASE filter/order names and answers camelCase keys.
    "task": ChangeSource("tasks.task.list", "ID", "CHANGED_DATE", "id", "changedDate"),
}


def change_source(name: str) -> ChangeSource:
    try:
        return SOURCES[name.lower()]
    except KeyError:
        raise ValueError(f"unknown change source {name!r}; choose one of {sorted(SOURCES)}") from None


@dataclass(frozen=True)
class Cursor:
    """Delivered: everything modified before ``second`` and, in ``second``, IDs up to ``last_id``."""

    second: int
    last_id: int = 0

    def to_dict(self) -> dict:
        return {"second": self.second, "last_id": self.last_id, "time": iso_second(self.second)}

    @staticmethod
    def from_dict(data: dict) -> Cursor:
        return Cursor(int(data["second"]), int(data.get("last_id") or 0))


@dataclass
class Change:
    id: int
    second: int
    record: dict = field(default_factory=dict)

    def to_payload(self) -> dict:
        return {"id": self.id, "modified": iso_second(self.second), **self.record}


def start_second(start_from: Any, now_second: int) -> int:
    """Initial cursor second: ``"now"`` (only changes from now on), ``"beginning"`` or a time value."""
    text = str(start_from or "now").strip().lower()
    if text == "now":
        return now_second
    if text == "beginning":
        return 0
    second = epoch_second(start_from)
    if second is None:
        raise ValueError(f"start_from must be 'now', 'beginning' or a time value, not {start_from!r}")
    return second


def now_second() -> Steps[int]:
    """The portal's clock, so that the local clock's skew does not matter."""
    second = epoch_second((yield Call("server.time", {})))
    if second is None:
        raise ValueError("server.time returned no time value")
    return second


def portal_now_second(hook: Any) -> int:
    """:func:`now_second` read with the hook's synchronous client."""
    return run(now_second(), hook)


class ChangeReader:
    """Reads changed records of one source, one page per request: :meth:`read` is the read as a
    plan (:mod:`.calls`), :meth:`collect` runs it with ``hook`` (``None`` when only plans are run)."""

    def __init__(
        self,
        hook: Any,
        source: ChangeSource,
        filter: dict | None = None,
        select: list[str] | None = None,
        entity_type_id: int | None = None,
    ) -> None:
        self.hook = hook
        self.source = source
        self.filter = dict(filter or {})
        self.select = list(select or [])
        self.base = source.base_params(entity_type_id)

    def _page(self, conditions: dict, order: dict) -> Steps[list[Change]]:
        src = self.source
        params = {
            **self.base,
            "filter": {**self.filter, **conditions},
            "order": order,
            "select": list(dict.fromkeys([src.id_filter, src.modified_filter, *self.select])),
            "start": 0,  # one page at a time: the keyset is ours, not the client's
        }
        changes = []
        for row in (yield Call(src.list_method, params, "page")):
            second = epoch_second(row.get(src.modified_out))
            if second is None:
                log.warning(
                    "%s record %s has no %s; skipped", src.list_method, row.get(src.id_out), src.modified_out
                )
                continue
            extra = (
                {k: v for k, v in row.items() if k not in (src.id_out, src.modified_out)}
                if self.select
                else {}
            )
            changes.append(Change(int(row[src.id_out]), second, extra))
        return changes

    def _window(self, low: int, high: int) -> dict:
        name = self.source.modified_filter
        return {
            f">={name}": format_timestamp(iso_second(low)),
            f"<{name}": format_timestamp(iso_second(high)),
        }

    def collect(self, cursor: Cursor, upper: int, budget: int) -> tuple[list[Change], Cursor]:
        """Up to ``budget`` changes after ``cursor`` and before second ``upper``, with the new cursor."""
        return run(self.read(cursor, upper, budget), self.hook)

    def read(self, cursor: Cursor, upper: int, budget: int) -> Steps[tuple[list[Change], Cursor]]:
        """:meth:`collect` as a plan."""
        out: list[Change] = []
        second, last_id = cursor.second, cursor.last_id
        by_id = last_id > 0  # inside a second: continue it by ID
        src = self.source
        while len(out) < budget and second < upper:
            if by_id:
                rows = yield from self._page(
                    {**self._window(second, second + 1), f">{src.id_filter}": last_id}, {src.id_filter: "ASC"}
                )
                rows.sort(key=lambda c: c.id)
                take = rows[: budget - len(out)]
                out.extend(take)
                if take:
                    last_id = take[-1].id
                if len(take) == len(rows) and len(rows) < PAGE_SIZE:
                    second, last_id, by_id = second + 1, 0, False  # this second is done
                continue
            rows = yield from self._page(
                self._window(second, upper), {src.modified_filter: "ASC", src.id_filter: "ASC"}
            )
            if not rows:
                second, last_id = upper, 0
                break
            rows.sort(key=lambda c: (c.second, c.id))
            complete = rows
            if len(rows) >= PAGE_SIZE:  # the page's last second may go on past the page
                tail = rows[-1].second
                complete = [c for c in rows if c.second < tail]
                if not complete:  # one crowded second fills the page: read it by ID
                    second, last_id, by_id = tail, 0, True
                    continue
            take = complete[: budget - len(out)]
            out.extend(take)
            if len(take) < len(complete):  # budget reached inside the page
                second, last_id = take[-1].second, take[-1].id
            elif len(rows) >= PAGE_SIZE:
                second, last_id = rows[-1].second, 0
            else:
                second, last_id = upper, 0
        return out, Cursor(second, last_id)
