"""Parallel ID-window pagination: the same records, in order, in as few requests, no COUNT."""

from __future__ import annotations

import math

import pytest

from airflow_provider_bitrix24.client import Bitrix24Client, FileTokenStore, OAuth2Auth, WebhookAuth
from airflow_provider_bitrix24.emulator import CostModel

FAST = {"rate_limit": None, "backoff_base": 0.01, "backoff_max": 0.05}


def client_for(emu, **kwargs):
    return Bitrix24Client(emu.url, WebhookAuth(emu.webhook_user_id, emu.webhook_code), **{**FAST, **kwargs})


def ids_of(rows):
    return [int(r["ID"]) for r in rows]


@pytest.mark.parametrize("n", [0, 1, 50, 51, 2550, 2551, 12_345])
def test_dense_export_is_exact_ordered_and_within_budget(emu, n):
    emu.seed_generated("crm.deal", n) if n else None
    emu.clear_requests()
    with client_for(emu) as client:
        rows = list(client.paginate("crm.deal.list", {"select": ["TITLE"]}))
    assert ids_of(rows) == list(range(1, n + 1))
    assert len(emu.requests) <= math.ceil(n / 2500) + 2
    assert emu.count_queries == 0


def test_gaps_and_a_user_filter_keep_every_matching_record_once(emu):
    emu.seed("crm.deal", [{"TITLE": "keep" if i % 3 else "skip"} for i in range(9000)])
    for deal_id in range(4000, 4700):  # a hole in the middle of a window
        emu.table("crm.deal").delete(deal_id)
    expected = [r["ID"] for r in emu.rows("crm.deal") if r["TITLE"] == "keep"]
    with client_for(emu) as client:
        rows = list(
            client.paginate("crm.deal.list", {"filter": {"TITLE": "keep"}, "select": ["ID", "TITLE"]})
        )
    assert ids_of(rows) == expected
    assert emu.count_queries == 0


def test_sparse_ids_widen_the_windows(emu):
    # One deal in ten matches: windows must grow so the request count follows the matches.
    emu.seed("crm.deal", [{"TITLE": "hit" if i % 10 == 0 else "miss"} for i in range(30_000)])
    emu.clear_requests()
    with client_for(emu) as client:
        rows = list(client.paginate("crm.deal.list", {"filter": {"TITLE": "hit"}, "select": ["ID"]}))
    assert len(rows) == 3000
    assert len(emu.requests) <= math.ceil(3000 / 2500) + 4


def test_windows_are_in_flight_together(emu):
    emu.seed_generated("crm.deal", 20_000)  # the probe, then eight windows
    emu.configure(cost=CostModel(latency=0.2))
    emu.clear_requests()
    with client_for(emu, paginate_parallel=8) as client:
        assert len(list(client.paginate("crm.deal.list", {"select": ["ID"]}))) == 20_000
    spans = [(r.timestamp, r.timestamp + r.duration) for r in emu.requests]
    most = max(sum(1 for s, e in spans if s <= start < e) for start, _ in spans)
    assert most >= 4  # the portal saw windows overlapping, not a chain


def test_each_window_is_one_request(emu):
    # 10,000 records: the probe reads 100, then four windows of 2,475, one chained batch each.
    emu.seed_generated("crm.deal", 10_000)
    emu.clear_requests()
    with client_for(emu, paginate_parallel=8) as client:
        assert ids_of(client.paginate("crm.deal.list", {"select": ["ID"]})) == list(range(1, 10_001))
    windows = sorted(len(r.sub_calls) for r in emu.requests)[1:]  # the first is the 3-command probe
    assert len(emu.requests) == 5 and max(windows) <= 50


@pytest.mark.parametrize(
    ("remaining", "rows"),
    [
        (9_950, 2_488),  # four windows
        (99_950, 2_499),  # forty
        (2_000, 2_000),  # one
        (10_000, 2_000),  # a whole number of full windows gets one more: the last must end short
        (2_500, 1_250),
    ],
)
def test_windows_are_the_fewest_that_end_on_a_short_page(remaining, rows):
    from airflow_provider_bitrix24.client.paging import _window_rows

    assert _window_rows(remaining) == rows


def test_rows_added_before_the_last_window_is_requested_are_included(emu):
    emu.seed_generated("crm.deal", 30_000)  # twelve windows, two in flight
    with client_for(emu, paginate_parallel=2) as client:
        rows = client.paginate("crm.deal.list", {"select": ["ID"]})
        seen = [next(rows)["ID"] for _ in range(10)]
        emu.seed("crm.deal", [{"TITLE": "late"}])
        seen += [r["ID"] for r in rows]
    assert ids_of([{"ID": i} for i in seen]) == list(range(1, 30_002))


def test_token_expiry_between_windows_refreshes_once(emu, tmp_path):
    emu.seed_generated("crm.deal", 30_000)
    access, refresh = emu.issue_tokens()
    auth = OAuth2Auth(
        emu.client_id,
        emu.client_secret,
        refresh,
        access,
        token_url=emu.token_url,
        store=FileTokenStore(tmp_path / "tokens.json"),
    )
    with Bitrix24Client(emu.url, auth, paginate_parallel=2, **FAST) as client:
        rows = client.paginate("crm.deal.list", {"select": ["ID"]})
        seen = [next(rows)["ID"] for _ in range(10)]
        emu.expire_access_tokens()
        seen += [r["ID"] for r in rows]
    assert ids_of([{"ID": i} for i in seen]) == list(range(1, 30_001))
    assert emu.refresh_count == 1


def test_operation_limit_inside_a_window_waits_and_resumes(emu):
    emu.seed_generated("crm.deal", 7000)
    emu.inject_fault(status=429, error="OPERATION_TIME_LIMIT", method="crm.deal.list", count=2)
    waits = []
    with client_for(emu, sleep=waits.append) as client:
        rows = list(client.paginate("crm.deal.list", {"select": ["ID"]}))
    assert ids_of(rows) == list(range(1, 7001))
    assert len(waits) == 2


def test_limit_or_an_id_condition_keeps_the_single_chain(emu):
    emu.seed_generated("crm.deal", 3000)
    with client_for(emu) as client:
        assert len(list(client.paginate("crm.deal.list", {}, limit=120))) == 120
        rows = list(client.paginate("crm.deal.list", {"filter": {">ID": 2900}}))
    assert ids_of(rows) == list(range(2901, 3001))


def test_paginate_parallel_is_validated(emu):
    from airflow_provider_bitrix24.client import Bitrix24ConfigError

    for wrong in (0, 51):
        with pytest.raises(Bitrix24ConfigError):
            client_for(emu, paginate_parallel=wrong)


def test_more_windows_than_requests_default_pool_keep_their_connections(emu):
    emu.seed_generated("crm.deal", 40_000)  # the probe, then sixteen windows at once
    emu.configure(cost=CostModel(latency=0.2))
    emu.clear_requests()
    with client_for(emu, paginate_parallel=16) as client:
        assert ids_of(client.paginate("crm.deal.list", {"select": ["ID"]})) == list(range(1, 40_001))
        pool = client.session.get_adapter(emu.url)._pool_maxsize
    spans = [(r.timestamp, r.timestamp + r.duration) for r in emu.requests]
    assert pool >= 16 and max(sum(1 for s, e in spans if s <= start < e) for start, _ in spans) >= 12


def _most_in_flight(requests) -> int:
    spans = [(r.timestamp, r.timestamp + r.duration) for r in requests]
    return max(sum(1 for s, e in spans if s <= start < e) for start, _ in spans)


def test_by_default_an_export_that_fits_in_the_burst_sends_every_window_at_once(emu):
    emu.seed_generated("crm.deal", 30_000)  # the probe, then thirteen windows
    # Long enough that building and rendering every window (CPU, under one GIL with the client)
    # ends before the first reply is due, even on a loaded machine.
    emu.configure(cost=CostModel(latency=1.5))
    emu.clear_requests()
    with client_for(emu) as client:
        assert client.paginate_parallel is None
        assert ids_of(client.paginate("crm.deal.list", {"select": ["ID"]})) == list(range(1, 30_001))
    assert len(emu.requests) <= math.ceil(30_000 / 2500) + 2
    assert _most_in_flight(emu.requests[1:]) == len(emu.requests) - 1


def test_the_memory_budget_limits_the_windows_in_flight(emu):
    emu.seed_generated("crm.deal", 30_000)
    emu.configure(cost=CostModel(latency=0.3))
    emu.clear_requests()
    # Full records: each window of ~2,300 of them is well over 1 MB once decoded.
    with client_for(emu, paginate_buffer_mb=2) as client:
        assert ids_of(client.paginate("crm.deal.list")) == list(range(1, 30_001))
    assert _most_in_flight(emu.requests[1:]) <= 2


@pytest.mark.parametrize(
    ("burst", "parallel", "remaining", "expected"),
    [
        (50, None, 99_950, 40),  # forty windows fit in the burst: all at once
        (50, None, 124_999, 50),
        (50, None, 125_000, 8),  # past the burst the bucket paces requests: 8 keep it busy
        (4, None, 7_450, 3),
        (4, None, 9_950, 4),
        (4, None, 12_450, 8),
        (50, 3, 99_950, 3),  # an explicit value is kept
    ],
)
def test_windows_in_flight_by_default_follow_the_burst(emu, burst, parallel, remaining, expected):
    from airflow_provider_bitrix24.client import LeakyBucket

    client = client_for(emu, rate_limit=LeakyBucket(burst, 2), paginate_parallel=parallel)
    head = [{"ID": str(i), "TITLE": f"Deal {i}"} for i in range(1, 51)]
    from airflow_provider_bitrix24.client.paging import _windows_in_flight

    assert _windows_in_flight(client, remaining, head)[0] == expected


def test_paginate_buffer_mb_is_validated(emu):
    from airflow_provider_bitrix24.client import Bitrix24ConfigError

    for wrong in (0, -1):
        with pytest.raises(Bitrix24ConfigError):
            client_for(emu, paginate_buffer_mb=wrong)
