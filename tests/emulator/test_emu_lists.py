"""Entity CRUD and list semantics: paging, start=-1, >ID export, filters, order, select, shapes."""

from __future__ import annotations

import time

import pytest


@pytest.fixture
def deals(emu):
    stages = ["NEW", "WON", "LOSE"]
    return emu.seed(
        "crm.deal",
        [{"TITLE": f"Deal {i:03d}", "STAGE_ID": stages[i % 3], "OPPORTUNITY": float(i)} for i in range(120)],
    )


def test_paging_with_start_reports_next_and_total(emu, rest, deals):
    first = rest.result("crm.deal.list", {"order": {"ID": "ASC"}})
    assert (len(first["result"]), first["next"], first["total"]) == (50, 50, 120)
    last = rest.result("crm.deal.list", {"order": {"ID": "ASC"}, "start": 100})
    assert len(last["result"]) == 20 and "next" not in last and last["total"] == 120
    assert [r["ID"] for r in last["result"]][:2] == ["101", "102"]
    assert emu.count_queries == 2
    assert all(r.count_query for r in emu.requests)


def test_start_minus_one_skips_count(emu, rest, deals):
    body = rest.result("crm.deal.list", {"start": -1})
    assert len(body["result"]) == 50
    assert body["total"] == 0 and "next" not in body
    assert emu.count_queries == 0 and not emu.requests[-1].count_query


def test_export_by_id_filter_reads_every_row_once_without_count(emu, rest, deals):
    seen, last_id = [], 0
    while True:
        page = rest.result(
            "crm.deal.list",
            {"order": {"ID": "ASC"}, "filter": {">ID": last_id}, "select": ["ID"], "start": -1},
        )["result"]
        seen += [int(r["ID"]) for r in page]
        if len(page) < 50:
            break
        last_id = int(page[-1]["ID"])
    assert seen == deals
    assert emu.count_queries == 0


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        ({"STAGE_ID": "WON"}, 40),
        ({"=STAGE_ID": ["WON", "LOSE"]}, 80),
        ({"@STAGE_ID": ["WON", "LOSE"]}, 80),
        ({"!@STAGE_ID": ["WON", "LOSE"]}, 40),
        ({"!STAGE_ID": "WON"}, 80),
        ({"!=STAGE_ID": "WON"}, 80),
        ({">=OPPORTUNITY": 100}, 20),
        ({"<OPPORTUNITY": 10, ">ID": 5}, 5),
        ({"<=ID": 3}, 3),
        ({"%TITLE": "deal 11"}, 10),
        ({">ID": ""}, 120),  # an empty value drops the condition, as a real portal does
        ({"STAGE_ID": None, "@ID": []}, 120),
    ],
)
def test_filter_operators(emu, rest, deals, flt, expected):
    assert rest.result("crm.deal.list", {"filter": flt})["total"] == expected


def test_order_multi_key_and_select(emu, rest, deals):
    body = rest.result(
        "crm.deal.list", {"order": {"STAGE_ID": "DESC", "ID": "DESC"}, "select": ["TITLE", "STAGE_ID"]}
    )
    first = body["result"][0]
    assert first == {"ID": "119", "TITLE": "Deal 118", "STAGE_ID": "WON"}
    stages = [r["STAGE_ID"] for r in body["result"]]
    assert stages == sorted(stages, reverse=True)


def test_select_masks_of_classic_crm(emu, rest):
    emu.seed(
        "crm.contact",
        [{"NAME": "Ann", "UF_CRM_COLOR": "red", "PHONE": [{"VALUE": "+1", "VALUE_TYPE": "WORK"}]}],
    )
    default = rest.result("crm.contact.list")["result"][0]
    assert default["UF_CRM_COLOR"] == "red" and "PHONE" not in default  # '*' + 'UF_*', no multiple fields
    star = rest.result("crm.contact.list", {"select": ["*"]})["result"][0]
    assert star["NAME"] == "Ann" and "UF_CRM_COLOR" not in star and "PHONE" not in star
    uf = rest.result("crm.contact.list", {"select": ["UF_*"]})["result"][0]
    assert uf == {"ID": "1", "UF_CRM_COLOR": "red"}
    named = rest.result("crm.contact.list", {"select": ["PHONE"]})["result"][0]
    assert named == {
        "ID": "1",
        "PHONE": [{"ID": "1", "TYPE_ID": "PHONE", "VALUE": "+1", "VALUE_TYPE": "WORK"}],
    }
    assert "PHONE" in rest.result("crm.contact.get", {"id": 1})["result"]


def test_crud_maintains_timestamps_and_date_filter(emu, rest):
    emu.seed(
        "crm.deal",
        [
            {
                "TITLE": "old",
                "DATE_CREATE": "2024-01-01T00:00:00+03:00",
                "DATE_MODIFY": "2024-01-01T00:00:00+03:00",
            }
        ],
    )
    before = time.time()
    deal_id = rest.result("crm.deal.add", {"fields": {"TITLE": "new"}})["result"]
    created = rest.result("crm.deal.get", {"id": deal_id})["result"]
    assert created["DATE_CREATE"] == created["DATE_MODIFY"] and created["DATE_CREATE"][-6:] == "+03:00"
    assert rest.result("crm.deal.update", {"id": 1, "fields": {"TITLE": "changed"}})["result"] is True
    stored = {row["ID"]: row for row in emu.rows("crm.deal")}
    assert (
        stored[1]["DATE_MODIFY"] >= before and stored[1]["DATE_CREATE"] < before
    )  # update stamps, create kept
    since = rest.result("crm.deal.list", {"filter": {">=DATE_MODIFY": "2024-06-01"}, "order": {"ID": "ASC"}})[
        "result"
    ]
    assert [r["TITLE"] for r in since] == ["changed", "new"]
    assert rest.result("crm.deal.delete", {"id": deal_id})["result"] is True
    missing = rest.post("crm.deal.get", {"id": deal_id})
    assert (missing.status_code, missing.json()) == (400, {"error": "", "error_description": "Not found"})


def test_required_fields_are_enforced(emu, rest):
    response = rest.post("crm.company.add", {"fields": {"COMMENTS": "no title"}})
    assert response.status_code == 400 and "TITLE" in response.json()["error_description"]


def test_crm_item_is_a_camel_case_view_of_the_same_table(emu, rest, deals):
    body = rest.result(
        "crm.item.list",
        {"entityTypeId": 2, "filter": {">id": 118}, "select": ["id", "title", "stageId"], "start": -1},
    )
    assert body["result"] == {
        "items": [
            {"id": 119, "title": "Deal 118", "stageId": "WON"},
            {"id": 120, "title": "Deal 119", "stageId": "LOSE"},
        ]
    }
    item = rest.result(
        "crm.item.add", {"entityTypeId": 2, "fields": {"title": "via item", "stageId": "NEW"}}
    )["result"]["item"]
    assert rest.result("crm.deal.get", {"id": item["id"]})["result"]["TITLE"] == "via item"
    assert "updatedTime" in item and "createdTime" in item
    missing = rest.post("crm.item.get", {"entityTypeId": 2, "id": 99999})
    assert missing.json()["error"] == "NOT_FOUND"
    assert rest.result("crm.item.delete", {"entityTypeId": 2, "id": item["id"]})["result"] == []
    assert rest.post("crm.item.list", {"entityTypeId": 7}).json()["error"] == "NOT_FOUND"
    assert "fields" in rest.result("crm.item.fields", {"entityTypeId": 2})["result"]


def test_smart_process_items_live_in_their_own_table(emu, rest):
    emu.seed("crm.item", [{"title": "spa"}], entity_type_id=1032)
    emu.seed("crm.item", [{"title": "deal via item seed", "stageId": "WON"}], entity_type_id=2)
    assert emu.rows("crm.deal")[0]["STAGE_ID"] == "WON"
    assert rest.result("crm.item.list", {"entityTypeId": 1032})["result"]["items"][0]["title"] == "spa"
    assert rest.result("crm.item.list", {"entityTypeId": 1036})["result"]["items"] == []


def test_tasks_shapes(emu, rest):
    task = rest.result("tasks.task.add", {"fields": {"TITLE": "t", "RESPONSIBLE_ID": 1}})["result"]["task"]
    assert task["id"] == "1" and task["title"] == "t" and task["responsibleId"] == "1"
    listed = rest.result("tasks.task.list", {"filter": {"RESPONSIBLE_ID": 1}, "select": ["ID", "TITLE"]})
    assert listed["result"] == {"tasks": [{"id": "1", "title": "t"}]} and listed["total"] == 1
    updated = rest.result("tasks.task.update", {"taskId": 1, "fields": {"TITLE": "t2"}})["result"]["task"]
    assert updated["title"] == "t2"
    assert rest.result("tasks.task.get", {"taskId": 1})["result"]["task"]["title"] == "t2"
    assert rest.result("tasks.task.get", {"taskId": 77})["result"] == []
    assert rest.result("tasks.task.delete", {"taskId": 1})["result"] == {"task": True}
    assert "fields" in rest.result("tasks.task.getfields")["result"]


def test_user_get_plain_list_with_sort_and_filter(emu, rest):
    emu.seed("user", [{"NAME": "Zed", "EMAIL": "z@x"}, {"NAME": "Amy", "EMAIL": "a@x", "ACTIVE": False}])
    body = rest.result("user.get", {"sort": "NAME", "order": "ASC"})
    assert [u["NAME"] for u in body["result"]] == ["Amy", "Portal", "Zed"] and body["total"] == 3
    assert body["result"][0]["ACTIVE"] is False
    assert [
        u["NAME"] for u in rest.result("user.get", {"FILTER": {"ACTIVE": True, "%NAME": "e"}})["result"]
    ] == ["Zed"]
    assert rest.result("user.get", {"ID": 1})["result"][0]["NAME"] == "Portal"


def test_open_line_sessions(emu, rest):
    emu.seed("imopenlines.session", [{"CHAT_ID": 10, "USER_CODE": "livechat|1|10|3", "OPERATOR_ID": 1}])
    dialog = rest.result("imopenlines.dialog.get", {"DIALOG_ID": "chat10"})["result"]
    assert dialog["id"] == 10 and dialog["entity_type"] == "LINES"
    assert rest.result("imopenlines.session.open", {"USER_CODE": "livechat|1|10|3"})["result"] == {
        "chatId": "10"
    }
    assert rest.result("imopenlines.operator.finish", {"CHAT_ID": 10})["result"] is True
    assert emu.rows("imopenlines.session")[0]["CLOSED"] == "Y"
    assert rest.post("imopenlines.operator.finish", {"CHAT_ID": 99}).json()["error"] == "CHAT_TYPE"
    assert rest.post("imopenlines.bot.session.finish", {}).json()["error"] == "CHAT_ID_EMPTY"
    assert rest.post("imopenlines.dialog.get", {"CHAT_ID": 99}).json()["error"] == "ACCESS_ERROR"


def test_user_add_and_update_take_top_level_fields(emu, rest):
    user_id = rest.result("user.add", {"EMAIL": "new@x", "NAME": "New"})["result"]
    assert rest.result("user.update", {"ID": user_id, "LAST_NAME": "Person"})["result"] is True
    user = rest.result("user.get", {"ID": user_id})["result"][0]
    assert (user["EMAIL"], user["NAME"], user["LAST_NAME"]) == ("new@x", "New", "Person")
    assert rest.post("user.add", {"NAME": "no email"}).status_code == 400


def test_portal_time_zone_and_date_filter_formats(emu, rest):
    emu.seed(
        "crm.deal",
        [
            {"TITLE": "old", "DATE_MODIFY": "2024-05-01T10:00:00+00:00"},
            {"TITLE": "new", "DATE_MODIFY": "2024-05-02T10:00:00+00:00"},
        ],
    )
    assert rest.result("crm.deal.get", {"id": 1})["result"]["DATE_MODIFY"] == "2024-05-01T13:00:00+03:00"
    for since in ("2024-05-01T12:00:00+00:00", "2024-05-01T15:00:00", "01.05.2024 15:00:00", "2024-05-02"):
        titles = [
            r["TITLE"] for r in rest.result("crm.deal.list", {"filter": {">=DATE_MODIFY": since}})["result"]
        ]
        assert titles == ["new"], since
    bad = rest.post("crm.deal.list", {"filter": {">DATE_MODIFY": "yesterday"}})
    assert bad.status_code == 400 and bad.json()["error"] == "INVALID_ARG_VALUE"
    emu.configure(timezone_hours=0)
    assert rest.result("crm.deal.get", {"id": 1})["result"]["DATE_MODIFY"] == "2024-05-01T10:00:00+00:00"


def test_crm_item_shows_communications_as_documented(emu, rest):
    """crm-item-get.md: a contact's phones and e-mails come as ``fm`` entries, and ``phone`` /
    ``email`` hold a single value."""
    (contact,) = emu.seed(
        "crm.contact",
        [
            {
                "NAME": "Ann",
                "PHONE": [{"VALUE": "+1", "VALUE_TYPE": "WORK"}, {"VALUE": "+2", "VALUE_TYPE": "HOME"}],
            }
        ],
    )
    item = rest.result("crm.item.get", {"entityTypeId": 3, "id": contact})["result"]["item"]
    assert item["phone"] == "+1" and item["email"] is None
    assert [(f["typeId"], f["value"], f["valueType"]) for f in item["fm"]] == [
        ("PHONE", "+1", "WORK"),
        ("PHONE", "+2", "HOME"),
    ]
    assert all(isinstance(f["id"], int) for f in item["fm"])
