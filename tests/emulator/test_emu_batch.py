"""batch: command encodings, $result references, halt, limits, and what the request log shows."""

from __future__ import annotations

from urllib.parse import urlencode

import requests


def test_references_between_commands_and_envelope(emu, rest):
    emu.seed("crm.deal", [{"TITLE": f"d{i}"} for i in range(60)])
    body = rest.result(
        "batch",
        {
            "halt": 0,
            "cmd": {
                "page": "crm.deal.list?filter[>ID]=0&order[ID]=ASC&start=-1",
                "last": "crm.deal.get?id=$result[page][49][ID]",
                "rest": "crm.deal.list?filter[>ID]=$result[page][49][ID]&start=0",
            },
        },
    )
    result = body["result"]
    assert set(result) == {"result", "result_error", "result_total", "result_next", "result_time"}
    assert result["result"]["last"]["ID"] == "50"
    assert [r["ID"] for r in result["result"]["rest"]] == [str(i) for i in range(51, 61)]
    assert result["result_total"] == {"page": 0, "rest": 10}  # start=-1 reports total 0
    assert result["result_error"] == [] and result["result_next"] == []  # PHP's empty array
    assert set(result["result_time"]["page"]) >= {"start", "finish", "operating"}
    assert "time" in body


def test_unresolved_reference_drops_the_filter_condition(emu, rest):
    emu.seed("crm.deal", [{"TITLE": f"d{i}"} for i in range(10)])
    result = rest.result(
        "batch",
        {
            "cmd": {
                "page": "crm.deal.list?filter[>ID]=0&start=-1",
                "next": "crm.deal.list?filter[>ID]=$result[page][49][ID]&start=-1",  # page has only 10 rows
            }
        },
    )["result"]["result"]
    assert len(result["next"]) == 10  # the whole table again, not an empty page
    sub = emu.requests[-1].sub_calls[1]
    assert sub.params["filter"] == {">ID": ""}


def test_list_of_commands_gives_list_results_and_key_of_errors(emu, rest):
    result = rest.result("batch", {"cmd": ["user.current", "crm.deal.nothing", "server.time"]})["result"]
    assert isinstance(result["result"], dict) and set(result["result"]) == {"0", "2"}
    assert result["result_error"]["1"]["error"] == "ERROR_METHOD_NOT_FOUND"
    packed = rest.result("batch", {"cmd": ["user.current", "server.time"]})["result"]
    assert isinstance(packed["result"], list) and packed["result"][0]["ID"] == "1"


def test_halt_stops_at_first_error(emu, rest):
    cmd = {"a": "crm.deal.get?id=5", "b": "user.current"}
    assert set(rest.result("batch", {"halt": 0, "cmd": cmd})["result"]["result"]) == {"b"}
    halted = rest.result("batch", {"halt": 1, "cmd": cmd})["result"]
    assert halted["result"] == [] and set(halted["result_error"]) == {"a"}
    assert len(emu.requests[-1].sub_calls) == 1
    assert rest.result("batch", {"halt": True, "cmd": cmd})["result"]["result"] == []


def test_form_encoded_batch_with_url_encoded_values(emu):
    inner = urlencode({"fields[TITLE]": "A & B = C?", "fields[COMMENTS]": "100%"})
    body = urlencode(
        {"halt": 1, "cmd[add]": f"crm.deal.add?{inner}", "cmd[get]": "crm.deal.get?id=$result[add]"}
    )
    response = requests.post(
        emu.webhook_url + "batch",
        data=body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        timeout=5,
    )
    deal = response.json()["result"]["result"]["get"]
    assert (deal["TITLE"], deal["COMMENTS"]) == ("A & B = C?", "100%")


def test_batch_length_and_nesting_limits(emu, rest):
    too_long = rest.post("batch", {"cmd": {f"c{i}": "server.time" for i in range(51)}})
    assert (too_long.status_code, too_long.json()["error"]) == (400, "ERROR_BATCH_LENGTH_EXCEEDED")
    assert (
        len(rest.result("batch", {"cmd": {f"c{i}": "server.time" for i in range(50)}})["result"]["result"])
        == 50
    )
    nested = rest.result("batch", {"cmd": {"inner": "batch?cmd[x]=server.time"}})["result"]
    assert nested["result_error"]["inner"]["error"] == "ERROR_BATCH_METHOD_NOT_ALLOWED"


def test_sub_calls_are_visible_in_the_request_log(emu, rest):
    rest.result("batch", {"cmd": {"a": "crm.deal.add?fields[TITLE]=x", "b": "crm.deal.list?start=0"}})
    (record,) = emu.requests
    assert record.is_batch and record.method == "batch"
    assert [(s.key, s.method) for s in record.sub_calls] == [("a", "crm.deal.add"), ("b", "crm.deal.list")]
    assert record.sub_calls[1].count_query and emu.count_queries == 1
    assert [c.method for c in emu.calls()] == ["crm.deal.add", "crm.deal.list"]
    assert emu.calls("crm.deal.add")[0].params == {"fields": {"TITLE": "x"}}


def test_injected_error_can_target_one_command_in_a_batch(emu, rest):
    emu.inject_fault(400, "ERROR_CORE", "boom", method="crm.deal.add")
    result = rest.result(
        "batch", {"cmd": {"a": "crm.deal.add?fields[TITLE]=x", "b": "crm.deal.add?fields[TITLE]=y"}}
    )["result"]
    assert result["result_error"]["a"] == {"error": "ERROR_CORE", "error_description": "boom"}
    assert result["result"]["b"] == 1


def test_operator_keys_with_equals_sign_must_be_percent_encoded(emu, rest):
    emu.seed("crm.deal", [{"TITLE": f"d{i}"} for i in range(5)])
    result = rest.result(
        "batch",
        {
            "cmd": {
                "encoded": "crm.deal.list?filter[%3C%3DID]=2&start=-1",
                "raw": "crm.deal.list?filter[<=ID]=2&start=-1",  # PHP splits at the first '='
            }
        },
    )["result"]
    assert [r["ID"] for r in result["result"]["encoded"]] == ["1", "2"]
    assert result["result_error"]["raw"]["error_description"] == "Parameter 'filter' must be array."
