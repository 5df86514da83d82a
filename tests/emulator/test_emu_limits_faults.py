"""Leaky bucket, operating-time limit, cost model and every injected fault kind."""

from __future__ import annotations

import json
import time

import pytest
import requests

from airflow_provider_bitrix24.emulator import CostModel
from airflow_provider_bitrix24.emulator.limits import LeakyBucket, OperatingLimiter


class FakeClock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_leaky_bucket_refuses_over_burst_then_leaks(emu, rest):
    clock = FakeClock()
    emu.configure(rate_limit=LeakyBucket(5, 2, clock=clock))
    statuses = [rest.post("server.time").status_code for _ in range(7)]
    assert statuses == [200] * 6 + [503]  # the counter may reach burst + 1 before refusing
    assert rest.post("server.time").json() == {
        "error": "QUERY_LIMIT_EXCEEDED",
        "error_description": "Too many requests",
    }
    clock.now += 0.5  # one unit leaks
    assert [rest.post("server.time").status_code for _ in range(2)] == [200, 503]


def test_default_limits_after_reset(emu, rest):
    emu.reset()  # the fixture disables limits; reset restores the 50 / 2 per second portal
    assert (emu.portal.rate.capacity, emu.portal.rate.leak_per_second) == (50, 2)
    assert emu.portal.operating.limit == 480
    started = time.monotonic()
    passed = 0
    while rest.post("server.time").status_code == 200:
        passed += 1
    assert 51 <= passed <= 51 + 2 * (time.monotonic() - started) + 1


def test_operating_limit_blocks_one_method_for_one_identity(emu, rest):
    clock = FakeClock()
    emu.configure(
        operating_limit=OperatingLimiter(1.0, basket_seconds=60, baskets=10, clock=clock),
        cost=CostModel(per_call=0.4, sleep=False),
    )
    times = []
    for _ in range(3):
        times.append(rest.result("crm.deal.list")["time"])
        clock.now += 30  # two calls per one-minute basket
    assert [round(t["operating"], 1) for t in times] == [0.4, 0.8, 1.2]
    assert times[0]["operating_reset_at"] == times[1]["operating_reset_at"] == 1_000_600
    blocked = rest.post("crm.deal.list")
    assert (blocked.status_code, blocked.json()["error"]) == (429, "OPERATION_TIME_LIMIT")
    assert rest.post("crm.lead.list").status_code == 200  # other methods keep working
    access, _ = emu.issue_tokens()
    assert rest.post("crm.deal.list", token=access).status_code == 200  # other identities too
    clock.now = 1_000_600  # the oldest basket (0.8 s) is dropped; 0.4 s left
    after = rest.result("crm.deal.list")["time"]
    assert round(after["operating"], 1) == 0.8 and after["operating_reset_at"] == 1_000_660


def test_batch_outer_call_is_not_metered_but_commands_are(emu, rest):
    emu.configure(operating_limit=1.0, cost=CostModel(per_call=0.6, sleep=False))
    result = rest.result(
        "batch", {"cmd": {"a": "crm.deal.list", "b": "crm.deal.list", "c": "crm.deal.list"}}
    )["result"]
    assert set(result["result"]) == {"a", "b"}
    assert result["result_error"]["c"]["error"] == "OPERATION_TIME_LIMIT"
    assert rest.post("crm.deal.list").status_code == 429
    assert rest.post("batch", {"cmd": {"t": "server.time"}}).status_code == 200


def test_cost_model_sleeps_and_count_grows_with_table(emu, rest):
    emu.seed_generated("crm.deal", 20_000)
    emu.configure(cost=CostModel(latency=0.15, count_per_row=1e-5))
    started = time.monotonic()
    counted = rest.result("crm.deal.list", {"start": 0})
    assert time.monotonic() - started >= 0.35  # 0.15 latency + 20k rows * 1e-5 count
    assert counted["time"]["processing"] >= 0.2
    uncounted = rest.result("crm.deal.list", {"start": -1, "filter": {">ID": 19_990}})
    assert uncounted["time"]["processing"] < 0.1


def test_modelled_time_includes_the_emulators_own_processing(emu, rest, monkeypatch):
    """The model is the whole service time: a slow handler is not charged twice."""
    from airflow_provider_bitrix24.emulator import registry

    real = registry.HANDLERS["server.time"]
    calls = []

    def slow(ctx, params):
        calls.append(time.monotonic())
        time.sleep(0.3)
        return real(ctx, params)

    monkeypatch.setitem(registry.HANDLERS, "server.time", slow)
    emu.configure(cost=CostModel(latency=0.4))
    started = time.monotonic()
    assert rest.post("server.time").status_code == 200
    took = time.monotonic() - started
    assert calls and 0.4 <= took < 0.65  # max(0.4 modelled, 0.3 real), not their sum


def test_realistic_cost_keeps_the_documented_proportion():
    model = CostModel.realistic()
    with_count = model.latency + model.call_cost(50, 2_387_743)
    without = model.latency + model.call_cost(50, 0)
    assert with_count == pytest.approx(49.9, rel=0.01)
    assert without == pytest.approx(0.1, rel=0.1)


# -- faults ------------------------------------------------------------------------------------
def test_api_error_fault_counts_down_and_can_target_a_method(emu, rest):
    emu.inject_fault(503, "QUERY_LIMIT_EXCEEDED", "Too many requests", count=2, method="crm.deal.list")
    assert rest.post("server.time").status_code == 200
    assert [rest.post("crm.deal.list").status_code for _ in range(3)] == [503, 503, 200]
    assert [(r.error, r.fault) for r in emu.requests[1:]] == [("QUERY_LIMIT_EXCEEDED", "error")] * 2 + [
        (None, None)
    ]


@pytest.mark.parametrize("code", ["QUERY_LIMIT_EXCEEDED", 0, 502, ""])
def test_error_inside_http_200_and_odd_codes(emu, rest, code):
    emu.inject_fault(200, code, "odd")
    response = rest.post("server.time")
    assert response.status_code == 200 and response.json() == {"error": code, "error_description": "odd"}


def test_drop_before_does_not_execute(emu, rest):
    emu.inject_fault(kind="drop_before", method="crm.deal.add")
    with pytest.raises(requests.ConnectionError):
        rest.post("crm.deal.add", {"fields": {"TITLE": "x"}})
    assert len(emu.table("crm.deal")) == 0
    assert emu.requests[-1].fault == "drop_before"
    assert rest.post("crm.deal.add", {"fields": {"TITLE": "x"}}).status_code == 200


def test_drop_after_executes_the_write(emu, rest):
    emu.inject_fault(kind="drop_after")
    with pytest.raises(requests.ConnectionError):
        rest.post("crm.deal.add", {"fields": {"TITLE": "x"}})
    assert len(emu.table("crm.deal")) == 1


def test_delay_causes_read_timeout_after_executing(emu):
    emu.inject_fault(kind="delay", delay=0.6)
    with pytest.raises(requests.ReadTimeout):
        requests.post(emu.webhook_url + "crm.deal.add", json={"fields": {"TITLE": "x"}}, timeout=(2, 0.2))
    assert len(emu.table("crm.deal")) == 1


def test_html_page_is_not_executed(emu, rest):
    emu.inject_fault(502, kind="html")
    response = rest.post("crm.deal.add", {"fields": {"TITLE": "x"}})
    assert response.status_code == 502 and response.headers["Content-Type"].startswith("text/html")
    assert "<html>" in response.text and len(emu.table("crm.deal")) == 0


def test_truncated_json_after_executing(emu, rest):
    emu.inject_fault(kind="truncated")
    response = rest.post("crm.deal.add", {"fields": {"TITLE": "x"}})
    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.text)
    assert len(emu.table("crm.deal")) == 1


def test_redirect_to_another_base_url(emu):
    emu.inject_fault(kind="redirect", location="http://127.0.0.1:9/moved")
    response = requests.post(
        emu.webhook_url + "crm.deal.add", json={"fields": {"TITLE": "x"}}, allow_redirects=False, timeout=5
    )
    assert response.status_code == 302
    assert (
        response.headers["Location"]
        == f"http://127.0.0.1:9/moved/rest/{emu.webhook_user_id}/{emu.webhook_code}/crm.deal.add"
    )
    assert len(emu.table("crm.deal")) == 0


def test_fault_on_token_endpoint_only(emu):
    _, refresh = emu.issue_tokens()
    emu.inject_fault(503, "temporarily_unavailable", method="oauth/token")
    params = {
        "grant_type": "refresh_token",
        "client_id": emu.client_id,
        "client_secret": emu.client_secret,
        "refresh_token": refresh,
    }
    assert requests.get(emu.webhook_url + "server.time", timeout=5).status_code == 200
    assert requests.get(emu.token_url, params=params, timeout=5).status_code == 503
    assert requests.get(emu.token_url, params=params, timeout=5).status_code == 200  # refresh token not spent


def test_unknown_fault_kind_is_rejected(emu):
    with pytest.raises(ValueError):
        emu.inject_fault(kind="explode")
    with pytest.raises(ValueError):
        emu.inject_fault(kind="redirect")


def test_skip_lets_matching_requests_through_first(emu, rest):
    emu.inject_fault(500, "INTERNAL_SERVER_ERROR", method="crm.deal.list", skip=2)
    statuses = [rest.post("crm.deal.list").status_code for _ in range(4)]
    rest.post("server.time")  # other methods do not consume the skip
    assert statuses == [200, 200, 500, 200]


def test_request_time_limit_cuts_off_long_requests(emu, rest):
    emu.configure(cost=CostModel(per_call=0.3, time_limit=1.0, sleep=False))
    assert rest.post("server.time").status_code == 200
    cmd = {f"c{i}": "crm.deal.add?fields[TITLE]=x" for i in range(10)}
    response = rest.post("batch", {"cmd": cmd})
    assert response.status_code == 504 and "text/html" in response.headers["Content-Type"]
    assert len(emu.table("crm.deal")) == 4  # 0.3 s each: the fifth command starts after the cut
    assert (emu.requests[-1].http_status, emu.requests[-1].fault) == (504, "time_limit")
    assert CostModel.realistic(scale=0.5, time_limit=True).time_limit == 30.0
    assert CostModel.realistic().time_limit is None
