"""The one change detector (``polling.changes``) over random modification histories.

The portal stand-in below answers a list method the way the REST docs describe one: at most 50
records per page, ``>=``/``<``/``>`` filter prefixes, ``order`` by the named fields. Its change
times have sub-second precision that the records show only to the second (as a portal that keeps
finer times would), so ordering by time inside one second is arbitrary from the reader's side.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_provider_bitrix24.polling.changes import ChangeReader, Cursor, change_source
from airflow_provider_bitrix24.polling.timestamps import epoch_second, iso_second

PAGE = 50
START = 1_770_000_000  # any whole second


@dataclass
class FakePortal:
    """Deals with a change time each; ``now`` is the portal clock (whole seconds)."""

    now: int = START
    changed: dict[int, tuple[int, float]] = field(default_factory=dict)  # id -> (second, fraction)

    def call(self, method: str, params: dict | None = None):
        assert method == "server.time"
        return iso_second(self.now)

    def paginate(self, method: str, params: dict, limit: int | None = None):
        assert method == "crm.deal.list" and params.get("start") == 0 and limit == PAGE
        rows = []
        for record_id, (second, fraction) in self.changed.items():
            if self._matches(record_id, second, params["filter"]):
                rows.append((record_id, second, fraction))
        order = list(params["order"].items())
        assert all(direction == "ASC" for _, direction in order)

        def key(row):
            record_id, second, fraction = row
            return tuple(second + fraction if name == "DATE_MODIFY" else record_id for name, _ in order)

        rows.sort(key=key)
        return [{"ID": str(i), "DATE_MODIFY": iso_second(s)} for i, s, _ in rows[:PAGE]]

    @staticmethod
    def _matches(record_id: int, second: int, conditions: dict) -> bool:
        for name, value in conditions.items():
            op = name[: len(name) - len(name.lstrip("><="))]
            column = name[len(op) :]
            actual = second if column == "DATE_MODIFY" else record_id
            bound = epoch_second(value) if column == "DATE_MODIFY" else int(value)
            ok = {">=": actual >= bound, "<": actual < bound, ">": actual > bound}[op]
            if not ok:
                return False
        return True


# One step of a history: change records now, let time pass, poll with a budget, or restart.
steps = st.lists(
    st.one_of(
        st.tuples(
            st.just("change"),
            st.lists(st.tuples(st.integers(1, 140), st.floats(0, 0.999)), min_size=1, max_size=70),
        ),
        # many records in one second, their sub-second order unrelated to their IDs
        st.tuples(st.just("burst"), st.tuples(st.integers(1, 300), st.integers(20, 90))),
        st.tuples(st.just("tick"), st.integers(1, 3)),
        st.tuples(st.just("poll"), st.integers(1, 130)),
        st.tuples(st.just("restart"), st.none()),
    ),
    max_size=40,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(history=steps, settle=st.integers(0, 2))
def test_every_change_is_delivered_in_order_and_none_is_skipped(history, settle):
    portal = FakePortal()
    reader = ChangeReader(portal, change_source("deal"))
    cursor = Cursor(START - 5)
    changes: list[tuple[int, int]] = []  # (record id, second) of every change made
    delivered: list[tuple[int, int]] = []  # (second, record id) in delivery order

    def poll(budget: int) -> int:
        nonlocal cursor
        got, cursor = reader.collect(cursor, portal.now - settle, budget)
        assert len(got) <= budget
        delivered.extend((c.second, c.id) for c in got)
        return len(got)

    for action, arg in history:
        if action == "change":
            for record_id, fraction in arg:
                portal.changed[record_id] = (portal.now, fraction)
                changes.append((record_id, portal.now))
        elif action == "burst":
            first, count = arg
            for record_id in range(first, first + count):
                portal.changed[record_id] = (portal.now, (record_id * 7919 % 1000) / 1000)
                changes.append((record_id, portal.now))
        elif action == "tick":
            portal.now += arg
        elif action == "poll":
            poll(arg)
        else:  # the state a trigger stores, read back by a new reader
            cursor = Cursor.from_dict(json.loads(json.dumps(cursor.to_dict())))
            reader = ChangeReader(portal, change_source("deal"))
    portal.now += settle + 1  # every change is now in a closed second
    while poll(7):
        pass

    assert delivered == sorted(set(delivered)), "delivered out of (second, ID) order or twice"
    for record_id, second in changes:  # at least once: as itself or as a later change of the record
        assert any(i == record_id and s >= second for s, i in delivered), (record_id, second)
    # The last change of each record is delivered as exactly that change.
    assert {(s, i) for i, (s, _) in portal.changed.items()} <= set(delivered)
