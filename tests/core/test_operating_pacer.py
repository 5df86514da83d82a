"""Pacing chained reads under the operating-time limit: no refusal, no resent pages."""

from __future__ import annotations

import math
import threading

import pytest

from airflow_provider_bitrix24.client import Bitrix24Client, WebhookAuth
from airflow_provider_bitrix24.client.operating import OperatingPacer
from airflow_provider_bitrix24.emulator import CostModel


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def block(processing: float, operating: float) -> dict:
    return {"processing": processing, "operating": operating}


def refusals(emu) -> int:
    return sum(1 for call in emu.calls("crm.deal.list") if call.error == "OPERATION_TIME_LIMIT") + sum(
        1 for r in emu.requests if r.error == "OPERATION_TIME_LIMIT"
    )


def test_a_paced_export_is_never_refused_and_sends_no_page_twice(emu):
    # 200 pages at 5 ms of booked time each: 1 s of operating time against 0.6 s per 1.5 s window.
    emu.seed_generated("crm.deal", 10_000)
    emu.configure(
        rate_limit=None,
        operating_limit=0.6,
        operating_basket_seconds=0.3,
        operating_baskets=5,
        cost=CostModel(per_call=0.005, sleep=False),
    )

    def export(limit):
        emu.clear_requests()
        client = Bitrix24Client(
            emu.url,
            WebhookAuth(emu.webhook_user_id, emu.webhook_code),
            rate_limit=None,
            operating_limit=limit,
            operating_window=1.5,
            paginate_parallel=4,
        )
        with client:
            ids = [int(r["ID"]) for r in client.paginate("crm.deal.list", {"select": ["ID"]})]
        assert ids == list(range(1, 10_001))
        return refusals(emu), len(emu.requests)

    refused, sent = export(limit=None)
    assert refused > 0  # unpaced, the same export does run into the limit
    emu.portal.operating.clear()  # a fresh window for the paced run
    refused, sent = export(limit=0.6)
    assert refused == 0
    assert sent <= math.ceil(10_000 / 2500) + 2  # every window one request: nothing was resent


def learned(pacer: OperatingPacer, method: str, seconds: float, operating: float) -> None:
    """The method's first request (which goes unpaced) and its reply."""
    with pacer.reserve(method, 1):
        pacer.record(method, block(seconds, operating))


def test_reservations_hold_requests_until_earlier_calls_age_out():
    clock = Clock()
    pacer = OperatingPacer(limit=10.0, window=60.0, clock=clock)
    learned(pacer, "crm.deal.list", 1.0, 1.0)
    pacer.record("crm.deal.list", block(1.0, 2.0))
    with pacer.reserve("crm.deal.list", 4):  # 2 spent + 5 reserved
        assert pacer.used("crm.deal.list") == pytest.approx(7.0)
        state = pacer._methods["crm.deal.list"]
        assert pacer._until_room(state, 7.0, 5.0, clock.now) == pytest.approx(
            60.0
        )  # after the first call ages out
    assert pacer.used("crm.deal.list") == pytest.approx(2.0)
    clock.now += 60.0
    assert pacer.used("crm.deal.list") == pytest.approx(0.0)  # both calls aged out


def test_what_the_portal_reports_beyond_our_calls_counts_too():
    clock = Clock()
    pacer = OperatingPacer(limit=10.0, window=60.0, clock=clock)
    pacer.record("crm.deal.list", block(1.0, 7.0))  # another worker on the webhook used 6 s
    assert pacer.used("crm.deal.list") == pytest.approx(7.0)
    state = pacer._methods["crm.deal.list"]
    # Our one call aging out leaves 6 s of somebody else's: a 5 s request never fits by waiting.
    assert pacer._until_room(state, 7.0, 5.0, clock.now) is None


def test_a_request_that_cannot_fit_is_sent_rather_than_held_forever():
    clock = Clock()
    pacer = OperatingPacer(limit=1.0, window=60.0, clock=clock)
    learned(pacer, "crm.deal.list", 0.5, 0.5)
    with pacer.reserve("crm.deal.list", 50):  # 50 calls cost ~31 s, more than the whole limit
        assert pacer.used("crm.deal.list") > 1.0


def test_pacing_off_and_replies_without_operating_change_nothing():
    clock = Clock()
    off = OperatingPacer(limit=None, clock=clock)
    off.record("crm.deal.list", block(100.0, 100.0))
    with off.reserve("crm.deal.list", 50):
        assert off.used("crm.deal.list") == 0.0
    on = OperatingPacer(limit=10.0, clock=clock)
    on.record("batch", {"processing": 3.0})  # the outer batch call is not metered
    with on.reserve("batch", 10):
        assert on.used("batch") == 0.0


def test_operating_limit_is_validated():
    with pytest.raises(Exception, match="operating_limit"):
        Bitrix24Client("https://example.invalid", WebhookAuth("1", "x"), operating_limit=-1)


def test_bulk_writes_in_parallel_are_paced_too(emu):
    # 200 writes at 5 ms of booked time each: 1 s of operating time against 0.6 s per 1.5 s window.
    emu.configure(
        rate_limit=None,
        operating_limit=0.6,
        operating_basket_seconds=0.3,
        operating_baskets=5,
        cost=CostModel(per_call=0.005, sleep=False),
    )

    def write(limit):
        emu.portal.operating.clear()
        client = Bitrix24Client(
            emu.url,
            WebhookAuth(emu.webhook_user_id, emu.webhook_code),
            rate_limit=None,
            operating_limit=limit,
            operating_window=1.5,
            batch_parallel=4,
        )
        with client:
            return client.batch([("crm.deal.add", {"fields": {"TITLE": f"d{i}"}}) for i in range(200)])

    unpaced = write(limit=None)
    assert any(e.code == "OPERATION_TIME_LIMIT" for e in unpaced.errors.values())  # the limit does bite
    before = len(emu.rows("crm.deal"))
    paced = write(limit=0.6)
    assert not paced.errors and len(paced.result) == 200
    assert len(emu.rows("crm.deal")) == before + 200


def test_a_methods_first_request_goes_alone():
    pacer = OperatingPacer(limit=10.0, clock=Clock())
    order: list[str] = []

    def second_request() -> None:
        with pacer.reserve("crm.deal.add", 50):
            order.append("second sent")

    with pacer.reserve("crm.deal.add", 50):  # nothing is known yet: the first request is not held
        second = threading.Thread(target=second_request)
        second.start()
        second.join(0.2)
        assert second.is_alive()  # it waits for the first reply
        pacer.record("crm.deal.add", block(0.01, 0.01))
        order.append("first replied")
    second.join(2)
    assert order == ["first replied", "second sent"]


def test_a_job_far_below_the_limit_does_not_wait_for_the_first_reply():
    pacer = OperatingPacer(limit=480.0, clock=Clock())
    job = {"crm.deal.add": 500}  # 500 calls: far below 480 s even at a pessimistic cost per call
    sent = threading.Event()

    def second_request() -> None:
        with pacer.reserve_many({"crm.deal.add": 50}, job=job):
            sent.set()

    with pacer.reserve_many({"crm.deal.add": 50}, job=job):
        second = threading.Thread(target=second_request)
        second.start()
        second.join(2)
        assert sent.is_set()  # sent beside the first, not after its reply


def test_a_request_of_several_methods_holds_nothing_while_it_waits():
    clock = Clock()
    pacer = OperatingPacer(limit=10.0, window=60.0, clock=clock)
    learned(pacer, "crm.deal.add", 1.0, 1.0)
    learned(pacer, "crm.deal.update", 2.0, 2.0)
    pacer.record("crm.deal.update", block(6.0, 8.0))  # update: 8 of 10 s used, 5 s per call expected
    sent = threading.Event()

    def mixed_batch() -> None:
        with pacer.reserve_many({"crm.deal.add": 1, "crm.deal.update": 1}):
            sent.set()

    waiter = threading.Thread(target=mixed_batch)
    waiter.start()
    waiter.join(0.2)
    assert not sent.is_set()  # update must wait for its earlier calls to age out
    assert pacer.used("crm.deal.add") == pytest.approx(1.0)  # and holds no add reservation meanwhile
    clock.now += 60.0
    with pacer.reserve("crm.deal.get", 1):  # any request ending wakes the waiter
        pass
    waiter.join(2)
    assert sent.is_set()
