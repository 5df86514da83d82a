"""Paging stops with an error instead of running away or coming back short, and the docs'
upper-case FILTER/ORDER/SELECT/START keys page like the lower-case ones (one spelling on the wire)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_provider_bitrix24.client import Bitrix24Client, Bitrix24ConfigError, WebhookAuth
from airflow_provider_bitrix24.client.paging import Bitrix24PagingError
from airflow_provider_bitrix24.emulator.table import Table

FAST = {"rate_limit": None, "backoff_base": 0.01, "backoff_max": 0.05}


def client_for(emu, **kwargs):
    return Bitrix24Client(emu.url, WebhookAuth(emu.webhook_user_id, emu.webhook_code), **{**FAST, **kwargs})


def wire_commands(emu):
    """Parameters of every list call the portal ran, batch commands included."""
    return [c.params for c in emu.calls() if c.method.endswith(".list") or c.method == "user.get"]


def mixed_case_keys(params: dict) -> list[str]:
    seen: dict[str, str] = {}
    clashes = []
    for key in params:
        folded = str(key).lower()
        if folded in seen:
            clashes.append(f"{seen[folded]}/{key}")
        seen[folded] = key
    return clashes


@pytest.fixture
def portal_quirk(monkeypatch):
    """Make the emulator ignore ID conditions (a filter key the portal does not apply) or
    ``start`` offsets (a cursor that has no effect). After ``stop_after`` queries it behaves
    again, so code without the guard ends instead of running forever (and the test fails)."""
    original = Table.query
    state = {"queries": 0, "ignore": None, "stop_after": 30}

    def query(self, raw_filter, order, offset, limit, count):
        state["queries"] += 1
        if state["queries"] <= state["stop_after"]:
            if state["ignore"] == "id":
                raw_filter = {k: v for k, v in raw_filter.items() if k.lstrip("!@<>=%").upper() != "ID"}
            elif state["ignore"] == "offset":
                offset = 0
        return original(self, raw_filter, order, offset, limit, count)

    monkeypatch.setattr(Table, "query", query)
    return state


# ------------------------------------------------------------------ a cursor without effect


@pytest.mark.parametrize("limit", [None, 500], ids=["id-windows", "id-chain"])
def test_an_ignored_id_cursor_stops_within_two_requests(emu, portal_quirk, limit):
    emu.seed_generated("crm.deal", 300)
    portal_quirk["ignore"] = "id"
    emu.clear_requests()
    with client_for(emu) as client, pytest.raises(Bitrix24PagingError) as info:
        list(client.paginate("crm.deal.list", {"select": ["ID", "TITLE"]}, limit=limit))
    assert len(emu.requests) <= 2
    message = str(info.value)
    assert "crm.deal.list" in message and "ID" in message and "cursor" in message


def test_an_ignored_start_offset_stops_within_two_requests(emu, portal_quirk):
    emu.seed_generated("user", 120)
    portal_quirk["ignore"] = "offset"
    emu.clear_requests()
    with client_for(emu) as client, pytest.raises(Bitrix24PagingError) as info:
        list(client.paginate("user.get", {}))
    assert len(emu.requests) <= 2
    assert "user.get" in str(info.value) and "start" in str(info.value)


def test_a_next_that_does_not_advance_is_an_error_not_the_end(emu, mocker):
    page = [{"ID": str(i)} for i in range(1, 51)]
    with client_for(emu) as client:
        call_raw = mocker.patch.object(
            client, "call_raw", side_effect=[{"result": page, "next": 50}, {"result": [], "next": 50}]
        )
        with pytest.raises(Bitrix24PagingError, match=r"crm\.status\.list.*next"):
            list(client.paginate("crm.status.list", {"start": 50}))
    assert call_raw.call_count <= 2


# ------------------------------------------------------------------ the docs' spelling


def test_upper_case_filter_pages_with_the_callers_filter(emu):
    emu.seed("crm.company", [{"TITLE": f"C{i}", "COMPANY_TYPE": "CUSTOMER"} for i in range(137)])
    emu.seed("crm.company", [{"TITLE": f"P{i}", "COMPANY_TYPE": "PARTNER"} for i in range(88)])
    emu.clear_requests()
    with client_for(emu) as client:
        rows = list(
            client.paginate(
                "crm.company.list", {"FILTER": {"COMPANY_TYPE": "CUSTOMER"}, "SELECT": ["ID", "COMPANY_TYPE"]}
            )
        )
    assert len(rows) == 137 and {r["COMPANY_TYPE"] for r in rows} == {"CUSTOMER"}
    commands = wire_commands(emu)
    assert commands and not [c for c in commands if mixed_case_keys(c)]
    assert not [c for c in commands if mixed_case_keys(c.get("filter") or {})]


@pytest.mark.parametrize("limit", [None, 100])
def test_upper_case_order_by_another_field_pages_every_row_in_that_order(emu, limit):
    emu.seed("crm.deal", [{"TITLE": f"New {i:03d}", "STAGE_ID": "NEW"} for i in reversed(range(120))])
    emu.seed("crm.deal", [{"TITLE": f"Won {i}", "STAGE_ID": "WON"} for i in range(30)])
    emu.clear_requests()
    params = {"FILTER": {"STAGE_ID": "NEW"}, "ORDER": {"TITLE": "ASC"}, "SELECT": ["ID", "TITLE"]}
    with client_for(emu) as client:
        rows = list(client.paginate("crm.deal.list", params, limit=limit))
    expected = [f"New {i:03d}" for i in range(120)][:limit]
    assert [r["TITLE"] for r in rows] == expected
    for command in wire_commands(emu):
        assert not mixed_case_keys(command)
        order = command.get("order") or command.get("ORDER") or {}
        # The caller's order leads; ID breaks ties (SQL leaves the order of equal titles open,
        # so offset pages could repeat one row and skip another).
        assert list(order) == ["TITLE", "ID"]


def test_lower_and_upper_case_spelling_of_one_key_is_refused(emu):
    with client_for(emu) as client, pytest.raises(Bitrix24ConfigError) as info:
        list(client.paginate("crm.deal.list", {"filter": {"STAGE_ID": "NEW"}, "FILTER": {"ID": 1}}))
    assert "crm.deal.list" in str(info.value) and "filter" in str(info.value).lower()
    assert not emu.requests


def test_a_method_paged_by_start_keeps_the_callers_spelling_except_start(emu, mocker):
    """Only ``start`` is written by paging there; the method's own FILTER stays as the docs write it."""
    params = {"IBLOCK_TYPE_ID": "lists", "IBLOCK_ID": 1, "FILTER": {"NAME": "x"}, "START": 50}
    with client_for(emu) as client:
        call_raw = mocker.patch.object(client, "call_raw", return_value={"result": [{"ID": "51"}]})
        assert list(client.paginate("lists.element.get", params)) == [{"ID": "51"}]
    call_raw.assert_called_once_with(
        "lists.element.get", {"IBLOCK_TYPE_ID": "lists", "IBLOCK_ID": 1, "FILTER": {"NAME": "x"}, "start": 50}
    )


def test_upper_case_start_is_the_callers_offset(emu):
    emu.seed_generated("crm.deal", 120)
    with client_for(emu) as client:
        rows = list(client.paginate("crm.deal.list", {"START": 100, "SELECT": ["ID"]}))
    assert [int(r["ID"]) for r in rows] == list(range(101, 121))


# ------------------------------------------------------------------ any export


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    stages=st.lists(st.sampled_from(["NEW", "WON"]), max_size=300),
    holes=st.sets(st.integers(1, 300)),
    upper=st.booleans(),
    by_title=st.booleans(),
    limit=st.none() | st.integers(1, 320),
    parallel=st.sampled_from([None, 1, 3]),
)
def test_any_list_returns_each_matching_row_once_in_the_asked_order(
    emu, stages, holes, upper, by_title, limit, parallel
):
    emu.reset()
    # Titles repeat, so an order by TITLE alone would leave ties in no fixed order.
    ids = emu.seed(
        "crm.deal", [{"TITLE": f"T{(i * 7) % 40:02d}", "STAGE_ID": s} for i, s in enumerate(stages)]
    )
    table = emu.table("crm.deal")
    with emu.portal.lock:
        for row_id in holes & set(ids):
            table.delete(row_id)
    kept = [
        (row_id, f"T{(i * 7) % 40:02d}")
        for i, (row_id, s) in enumerate(zip(ids, stages, strict=True))
        if s == "NEW"
    ]
    expected = [row for row in kept if row[0] not in holes]
    if by_title:
        expected.sort(key=lambda row: (row[1], row[0]))
    filter_key, order_key = ("FILTER", "ORDER") if upper else ("filter", "order")
    params: dict = {filter_key: {"STAGE_ID": "NEW"}, "select": ["ID", "TITLE"]}
    if by_title:
        params[order_key] = {"TITLE": "ASC"}
    with client_for(emu, paginate_parallel=parallel) as client:
        got = [(int(r["ID"]), r["TITLE"]) for r in client.paginate("crm.deal.list", params, limit=limit)]
    assert got == expected[:limit]
