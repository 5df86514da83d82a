"""Lists served by the generic handler apply the caller's filter and order, or refuse them by
name: never a page that silently ignores them (a cursor over an ignored order skips rows)."""

from __future__ import annotations


def _add(rest, subjects):
    return [
        rest.result("crm.activity.add", {"fields": {"SUBJECT": s, "PRIORITY": p}})["result"]
        for s, p in subjects
    ]


def test_filter_and_order_apply(rest):
    _add(rest, [("call", 1), ("meeting", 2), ("call", 3)])
    calls = rest.result("crm.activity.list", {"filter": {"SUBJECT": "call"}})
    assert [r["SUBJECT"] for r in calls["result"]] == ["call", "call"] and calls["total"] == 2
    ordered = rest.result("crm.activity.list", {"order": {"PRIORITY": "DESC"}})["result"]
    assert [str(r["PRIORITY"]) for r in ordered] == ["3", "2", "1"]
    upper = rest.result("crm.activity.list", {"FILTER": {">PRIORITY": 1}, "ORDER": {"ID": "DESC"}})["result"]
    assert [str(r["PRIORITY"]) for r in upper] == ["3", "2"]


def test_a_filter_it_cannot_apply_is_refused_by_name(rest):
    _add(rest, [("call", 1)])
    reply = rest.post("crm.activity.list", {"filter": {"LOGIC": "OR", "0": {"SUBJECT": "call"}}})
    assert reply.status_code == 400
    assert "LOGIC" in reply.json()["error_description"]


def test_an_order_it_cannot_apply_is_refused_by_name(rest):
    _add(rest, [("call", 1)])
    reply = rest.post("crm.activity.list", {"order": {"SUBJECT": "UPWARDS"}})
    assert reply.status_code == 400
    assert "SUBJECT" in reply.json()["error_description"]


def test_modelled_lists_refuse_a_filter_they_cannot_apply(rest, emu):
    emu.seed("crm.deal", [{"TITLE": "a", "STAGE_ID": "NEW"}, {"TITLE": "b", "STAGE_ID": "WON"}])
    reply = rest.post(
        "crm.deal.list", {"filter": {"LOGIC": "OR", "0": {"STAGE_ID": "NEW"}, "1": {"STAGE_ID": "WON"}}}
    )
    assert reply.status_code == 400 and "LOGIC" in reply.json()["error_description"]


def test_the_cursor_is_read_in_any_case(rest, emu):
    emu.seed("crm.deal", [{"TITLE": f"d{i}"} for i in range(60)])
    second = rest.result("crm.deal.list", {"START": 50, "Order": {"ID": "DESC"}, "Filter": {">ID": 0}})
    assert len(second["result"]) == 10 and second["result"][0]["ID"] == "10"
