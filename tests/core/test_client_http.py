"""The client core over real HTTP against the emulator: auth modes, token rotation under
threads and processes, limits, error shapes, batch and chained-batch pagination."""

from __future__ import annotations

import json
import logging
import math
import socket
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from airflow_provider_bitrix24.client import (
    Bitrix24Client,
    Bitrix24ConfigError,
    Bitrix24Error,
    Bitrix24NotFound,
    Bitrix24OperationLimit,
    Bitrix24PortalMoved,
    Bitrix24ServerError,
    Bitrix24TokenExpired,
    Bitrix24TransportError,
    Bitrix24WriteMayHaveSucceeded,
    FileTokenStore,
    OAuth2Auth,
    StaticTokenAuth,
    WebhookAuth,
)

FAST = {"rate_limit": None, "backoff_base": 0.01, "backoff_max": 0.05}


@pytest.fixture
def webhook_client(emu):
    with Bitrix24Client(emu.url, WebhookAuth(emu.webhook_user_id, emu.webhook_code), **FAST) as client:
        yield client


@pytest.fixture
def token_path(tmp_path):
    return tmp_path / "tokens.json"


def oauth_client(emu, store_path, access=None, refresh=None, **kwargs):
    if refresh is None:
        access, refresh = emu.issue_tokens()
    auth = OAuth2Auth(
        emu.client_id,
        emu.client_secret,
        refresh,
        access,
        token_url=emu.token_url,
        store=FileTokenStore(store_path),
    )
    return Bitrix24Client(emu.url, auth, **{**FAST, **kwargs})


def seed_deals(emu, n):
    return emu.seed("crm.deal", [{"TITLE": f"Deal {i}"} for i in range(n)]) if n else []


# ------------------------------------------------------------------ auth modes end to end


def test_webhook_end_to_end(emu, webhook_client):
    deal_id = webhook_client.call("crm.deal.add", {"fields": {"TITLE": "Webhook deal"}})
    assert webhook_client.call("crm.deal.get", {"id": deal_id})["TITLE"] == "Webhook deal"
    assert emu.requests[-1].auth_kind == "webhook"


def test_oauth_end_to_end(emu, token_path):
    with oauth_client(emu, token_path) as client:
        assert client.call("user.current")["ID"]
        emu.expire_access_tokens()
        deal_id = client.call("crm.deal.add", {"fields": {"TITLE": "after refresh"}})
    assert emu.refresh_count == 1
    assert [r["TITLE"] for r in emu.rows("crm.deal")] == ["after refresh"] and deal_id
    saved = json.loads(token_path.read_text())
    assert saved["refresh_token"] and saved["access_token"]  # persisted for the next process
    assert oct(token_path.stat().st_mode & 0o777) == "0o600"


def test_oauth_starts_without_access_token(emu, token_path):
    _access, refresh = emu.issue_tokens()
    with oauth_client(emu, token_path, access=None, refresh=refresh) as client:
        assert client.call("user.current")["ID"]
    assert emu.refresh_count == 1


def test_api_key_end_to_end_and_expiry_message(emu):
    access, _refresh = emu.issue_tokens()
    with Bitrix24Client(emu.url, StaticTokenAuth(access), **FAST) as client:
        assert client.call("user.current")["ID"]
        emu.expire_access_tokens()
        with pytest.raises(Bitrix24TokenExpired) as info:
            client.call("user.current")
    message = str(info.value)
    assert "api_key" in message and "fresh token" in message and access not in message
    assert emu.refresh_count == 0


def test_wrong_webhook_code_is_auth_error_without_secret(emu):
    with Bitrix24Client(emu.url, WebhookAuth(emu.webhook_user_id, "wrong-code-123"), **FAST) as client:
        with pytest.raises(Bitrix24Error) as info:
            client.call("user.current")
    assert info.value.code == "NO_AUTH_FOUND" and info.value.http_status == 401
    assert "wrong-code-123" not in str(info.value)


# ------------------------------------------------------------------ token rotation


def test_expiry_in_the_middle_of_pagination(emu, token_path):
    ids = seed_deals(emu, 6000)
    with oauth_client(emu, token_path, paginate_parallel=1) as client:  # one lazy chain
        rows = client.paginate("crm.deal.list", {"select": ["ID", "TITLE"]})
        seen = [next(rows)["ID"] for _ in range(2600)]  # past the first batch of 2,500
        emu.expire_access_tokens()
        seen += [r["ID"] for r in rows]
    assert sorted(map(int, seen)) == ids  # nothing lost, nothing twice
    assert emu.refresh_count == 1


def test_eight_threads_one_refresh(emu, token_path):
    with oauth_client(emu, token_path) as client:
        client.call("user.current")
        emu.expire_access_tokens()
        # Hold the refresh reply so every thread's first request goes out with the expired token.
        emu.inject_fault(kind="delay", delay=0.5, method="oauth/token")
        barrier = threading.Barrier(8)
        results, errors = [], []

        def work():
            barrier.wait()
            try:
                results.append(client.call("user.current")["ID"])
            except Exception as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=work) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    assert not errors and len(results) == 8
    assert emu.refresh_count == 1
    expired = [r for r in emu.requests if r.error == "expired_token"]
    assert len(expired) >= 4, len(expired)  # the threads really did race on the expired token


STALE_WORKER = textwrap.dedent(
    """
    import sys
    from airflow_provider_bitrix24.client import Bitrix24Client, FileTokenStore, OAuth2Auth
    url, client_id, secret, token_url, access, refresh, path = sys.argv[1:8]
    auth = OAuth2Auth(client_id, secret, refresh, access, token_url=token_url, store=FileTokenStore(path))
    client = Bitrix24Client(url, auth, rate_limit=None)
    print("first", client.call("user.current")["ID"], flush=True)
    sys.stdin.readline()  # wait until the parent has rotated the tokens
    print("second", client.call("user.current")["ID"], flush=True)
    print("refreshes", auth.refresh_count, flush=True)
    """
)


def test_second_process_with_stale_refresh_token_recovers(emu, token_path):
    access, refresh = emu.issue_tokens()
    worker = subprocess.Popen(
        [
            sys.executable,
            "-c",
            STALE_WORKER,
            emu.url,
            emu.client_id,
            emu.client_secret,
            emu.token_url,
            access,
            refresh,
            str(token_path),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert worker.stdout.readline().startswith("first")
        # This process refreshes first: the worker's in-memory refresh token is now rotated away.
        with oauth_client(emu, token_path, access=access, refresh=refresh) as client:
            emu.expire_access_tokens()
            client.call("user.current")
        assert emu.refresh_count == 1
        out, err = worker.communicate("go\n", timeout=60)
    finally:
        worker.kill()
    assert worker.returncode == 0, err
    assert "second" in out and "refreshes 0" in out
    assert emu.refresh_count == 1  # the worker adopted the stored pair instead of refreshing
    assert access not in err and refresh not in err


RACING_WORKER = textwrap.dedent(
    """
    import sys
    from airflow_provider_bitrix24.client import Bitrix24Client, FileTokenStore, OAuth2Auth
    url, client_id, secret, token_url, access, refresh, path = sys.argv[1:8]
    auth = OAuth2Auth(client_id, secret, refresh, access, token_url=token_url, store=FileTokenStore(path))
    client = Bitrix24Client(url, auth, rate_limit=None)
    print("ready", flush=True)
    sys.stdin.readline()
    print("user", client.call("user.current")["ID"], "refreshes", auth.refresh_count, flush=True)
    """
)


def test_processes_sharing_a_file_store_refresh_once(emu, token_path):
    """Three worker processes hit one expiry together: the fcntl lock lets exactly one refresh."""
    access, refresh = emu.issue_tokens()
    args = [emu.url, emu.client_id, emu.client_secret, emu.token_url, access, refresh, str(token_path)]
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", RACING_WORKER, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    try:
        for worker in workers:
            assert worker.stdout.readline().startswith("ready")
        emu.expire_access_tokens()
        emu.inject_fault(kind="delay", delay=0.5, method="oauth/token")  # keep the winner busy
        for worker in workers:
            worker.stdin.write("go\n")
            worker.stdin.flush()
        outputs = [worker.communicate(timeout=60) for worker in workers]
    finally:
        for worker in workers:
            worker.kill()
    assert all(w.returncode == 0 for w in workers), [err[-500:] for _out, err in outputs]
    assert emu.refresh_count == 1
    assert sorted(out.split()[-1] for out, _err in outputs) == ["0", "0", "1"]


# ------------------------------------------------------------------ limits


def test_query_limit_exceeded_is_retried_even_for_writes(emu, webhook_client):
    emu.inject_fault(status=503, error="QUERY_LIMIT_EXCEEDED", description="Too many requests", count=2)
    deal_id = webhook_client.call("crm.deal.add", {"fields": {"TITLE": "throttled"}})
    assert deal_id and len(emu.rows("crm.deal")) == 1
    assert [r.http_status for r in emu.requests] == [503, 503, 200]


def test_query_limit_gives_up_after_max_retries(emu):
    emu.inject_fault(status=503, error="QUERY_LIMIT_EXCEEDED", count=10)
    with Bitrix24Client(
        emu.url, WebhookAuth(emu.webhook_user_id, emu.webhook_code), max_retries=2, **FAST
    ) as client:
        with pytest.raises(Bitrix24Error, match="QUERY_LIMIT_EXCEEDED"):
            client.call("crm.deal.list")
    assert len(emu.requests) == 3


def test_client_bucket_keeps_under_portal_rate_limit(emu):
    # The client's bucket is under the portal's (burst 3 vs 5+1, 8/s vs 10/s): the portal would
    # refuse only if one request reached it more than 0.3 s late relative to the first, so local
    # jitter cannot refuse one, while a client that ignored its bucket is refused at once.
    with Bitrix24Client(
        emu.url, WebhookAuth(emu.webhook_user_id, emu.webhook_code), rate_limit={"burst": 3, "per_second": 8}
    ) as client:
        client.call("user.current")  # open the keep-alive connection before the measured run
        time.sleep(0.5)  # and let the client's bucket drain again
        emu.configure(rate_limit={"burst": 5, "per_second": 10})
        emu.clear_requests()
        started = time.monotonic()
        for _ in range(13):
            client.call("user.current")
        elapsed = time.monotonic() - started
    assert [r.http_status for r in emu.requests] == [200] * 13  # never refused, nothing resent
    assert elapsed >= 10 / 8 - 0.05  # 10 requests beyond the client's burst at 8/s


def test_operation_time_limit_waits_for_reset(emu, webhook_client):
    from airflow_provider_bitrix24.emulator import CostModel

    emu.configure(
        operating_limit=0.05,
        operating_basket_seconds=0.5,
        operating_baskets=2,
        cost=CostModel(per_call=0.1, sleep=False),
    )
    webhook_client.call("crm.deal.list")  # books 0.1 s > limit: the next call is blocked
    started = time.monotonic()
    assert webhook_client.call("crm.deal.list") == []
    waited = time.monotonic() - started
    statuses = [r.http_status for r in emu.requests]
    assert statuses[1] == 429 and statuses[-1] == 200
    assert 0 < waited < 15  # the basket resets within ~1-2 s; generous for a loaded CI machine


def test_operation_time_limit_beyond_max_wait_raises(emu):
    from airflow_provider_bitrix24.emulator import CostModel

    emu.configure(
        operating_limit=0.05,
        operating_basket_seconds=30,
        operating_baskets=10,
        cost=CostModel(per_call=0.1, sleep=False),
    )
    slept = []
    client = Bitrix24Client(
        emu.url,
        WebhookAuth(emu.webhook_user_id, emu.webhook_code),
        max_operation_wait=5,
        sleep=slept.append,
        **FAST,
    )
    client.call("crm.deal.list")  # reset_at is ~300 s away now
    with pytest.raises(Bitrix24OperationLimit, match="max_operation_wait") as info:
        client.call("crm.deal.list")
    assert not slept and info.value.http_status == 429


def test_operation_time_limit_without_reset_time_backs_off(emu):
    emu.inject_fault(status=429, error="OPERATION_TIME_LIMIT", description="blocked", count=1)
    slept = []
    client = Bitrix24Client(
        emu.url, WebhookAuth(emu.webhook_user_id, emu.webhook_code), sleep=slept.append, **FAST
    )
    assert client.call("crm.deal.list") == []
    assert len(slept) == 1 and [r.http_status for r in emu.requests] == [429, 200]


def test_operation_time_limit_persisting_after_the_reset_is_polled_within_the_total_budget(emu):
    # Refused seven times with no reset time known: more than max_retries, yet each refusal is
    # worth another try while the total wait stays within max_operation_wait.
    emu.inject_fault(status=429, error="OPERATION_TIME_LIMIT", description="blocked", count=7)
    slept = []
    client = Bitrix24Client(
        emu.url, WebhookAuth(emu.webhook_user_id, emu.webhook_code), sleep=slept.append, **FAST
    )
    assert client.call("crm.deal.list") == []
    assert len(slept) == 7 and all(8 <= s <= 10 for s in slept)

    emu.inject_fault(status=429, error="OPERATION_TIME_LIMIT", description="blocked", count=3)
    slept.clear()
    client = Bitrix24Client(  # a new client: no reset time learnt from earlier replies
        emu.url,
        WebhookAuth(emu.webhook_user_id, emu.webhook_code),
        max_operation_wait=15,
        sleep=slept.append,
        **FAST,
    )
    with pytest.raises(Bitrix24OperationLimit, match="max_operation_wait=15"):
        client.call("crm.deal.list")
    assert len(slept) == 1  # a second poll would pass 15 s in all


def test_a_reset_a_whole_window_away_is_waited_by_default(emu):
    from airflow_provider_bitrix24.emulator import CostModel

    emu.configure(operating_limit=0.05, cost=CostModel(per_call=0.1, sleep=False))  # 10 one-minute baskets
    slept = []
    client = Bitrix24Client(
        emu.url, WebhookAuth(emu.webhook_user_id, emu.webhook_code), sleep=slept.append, **FAST
    )
    client.call("crm.deal.list")  # the basket opened now resets in 600 s
    with pytest.raises(Bitrix24OperationLimit):  # nothing really sleeps here, so it stays blocked
        client.call("crm.deal.list")
    assert 599 <= slept[0] <= 602 and sum(slept) <= client.max_operation_wait


def test_an_older_reset_time_from_a_late_reply_does_not_replace_a_newer_one(emu, webhook_client):
    webhook_client._note_operating("crm.deal.list", {"operating_reset_at": 2_000})
    webhook_client._note_operating("crm.deal.list", {"operating_reset_at": 1_000})
    assert webhook_client.transport.operating_reset["crm.deal.list"] == 2_000


# ------------------------------------------------------------------ error shapes and transport


def test_error_inside_http_200(emu, webhook_client):
    emu.inject_fault(status=200, error="ERROR_CORE", description="Something failed", method="crm.deal.add")
    with pytest.raises(Bitrix24Error) as info:
        webhook_client.call("crm.deal.add", {"fields": {"TITLE": "x"}})
    assert (info.value.code, info.value.http_status, info.value.method) == ("ERROR_CORE", 200, "crm.deal.add")
    emu.inject_fault(status=400, error=123, description="numeric")
    with pytest.raises(Bitrix24Error, match="123"):
        webhook_client.call("crm.deal.list")


def test_non_json_body(emu, webhook_client):
    emu.inject_fault(kind="html", status=502, count=1)
    no_retry = Bitrix24Client(
        emu.url, WebhookAuth(emu.webhook_user_id, emu.webhook_code), max_retries=0, **FAST
    )
    with pytest.raises(Bitrix24ServerError, match="not JSON") as info:
        no_retry.call("crm.deal.list")
    assert info.value.http_status == 502 and len(str(info.value)) < 600
    assert emu.webhook_code not in str(info.value)
    emu.clear_faults()
    emu.inject_fault(kind="html", status=502, count=1)
    assert webhook_client.call("crm.deal.list") == []  # a read is retried


def test_write_is_never_resent_after_lost_reply(emu, webhook_client):
    emu.inject_fault(kind="drop_after", method="crm.deal.add")
    with pytest.raises(Bitrix24WriteMayHaveSucceeded, match="may have been applied") as info:
        webhook_client.call("crm.deal.add", {"fields": {"TITLE": "once"}})
    assert len(emu.calls("crm.deal.add")) == 1 and len(emu.rows("crm.deal")) == 1
    assert emu.webhook_code not in str(info.value)


def test_write_after_5xx_is_not_resent(emu, webhook_client):
    emu.inject_fault(status=500, error="INTERNAL_SERVER_ERROR", method="crm.deal.update")
    with pytest.raises(Bitrix24WriteMayHaveSucceeded):
        webhook_client.call("crm.deal.update", {"id": 1, "fields": {"TITLE": "x"}})
    assert len([r for r in emu.requests if r.method == "crm.deal.update"]) == 1


def test_read_is_retried_after_lost_reply(emu, webhook_client):
    seed_deals(emu, 3)
    emu.inject_fault(kind="drop_after", method="crm.deal.list")
    assert len(webhook_client.call("crm.deal.list")) == 3
    assert len(emu.requests) == 2


def test_read_timeout_write_not_resent_read_retried(emu):
    client = Bitrix24Client(
        emu.url, WebhookAuth(emu.webhook_user_id, emu.webhook_code), timeout=(2.0, 0.3), **FAST
    )
    emu.inject_fault(kind="delay", delay=1.0, method="crm.deal.add")
    with pytest.raises(Bitrix24WriteMayHaveSucceeded, match="ReadTimeout"):
        client.call("crm.deal.add", {"fields": {"TITLE": "slow"}})
    emu.inject_fault(kind="delay", delay=1.0, method="crm.deal.list")
    assert len(client.call("crm.deal.list")) == 1  # the slow add did happen; the read was resent
    assert len(emu.calls("crm.deal.add")) == 1 and len(emu.calls("crm.deal.list")) == 2


def test_unreachable_portal_is_transport_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = Bitrix24Client(f"http://127.0.0.1:{port}", WebhookAuth(1, "code-abcdef"), max_retries=1, **FAST)
    with pytest.raises(Bitrix24TransportError) as info:
        client.call("crm.deal.add", {"fields": {}})  # never reached a server: safe to retry, then give up
    assert not isinstance(info.value, Bitrix24WriteMayHaveSucceeded)
    assert "code-abcdef" not in str(info.value)


def test_redirect_means_portal_moved(emu, webhook_client):
    emu.inject_fault(kind="redirect", location="https://new-name.bitrix24.com")
    with pytest.raises(Bitrix24PortalMoved) as info:
        webhook_client.call("crm.deal.add", {"fields": {"TITLE": "x"}})
    assert info.value.new_url == "https://new-name.bitrix24.com"
    assert "new-name.bitrix24.com" in str(info.value) and emu.webhook_code not in str(info.value)


def test_unknown_method(emu, webhook_client):
    with pytest.raises(Bitrix24NotFound):
        webhook_client.call("crm.nothing.here")


# ------------------------------------------------------------------ batch


def test_batch_120_commands_chunked(emu, webhook_client):
    result = webhook_client.batch([("crm.deal.add", {"fields": {"TITLE": f"B{i}"}}) for i in range(120)])
    assert len(result.result) == 120 and not result.errors
    assert len([r for r in emu.requests if r.method == "batch"]) == 3
    assert sorted(r["TITLE"] for r in emu.rows("crm.deal")) == sorted(f"B{i}" for i in range(120))


def _most_in_flight(records) -> int:
    spans = [(r.timestamp, r.timestamp + r.duration) for r in records]
    return max(sum(1 for s, e in spans if s <= start < e) for start, _ in spans)


def test_batch_without_halt_keeps_chunks_in_flight_and_results_in_command_order(emu, webhook_client):
    from airflow_provider_bitrix24.emulator import CostModel

    emu.configure(cost=CostModel(latency=0.2))
    emu.clear_requests()
    keys = [f"k{i}" for i in range(400)]  # eight requests
    result = webhook_client.batch({k: ("crm.deal.add", {"fields": {"TITLE": k}}) for k in keys})
    assert list(result.result) == keys and not result.errors
    assert sorted(r["TITLE"] for r in emu.rows("crm.deal")) == sorted(keys)
    assert _most_in_flight(emu.requests) >= 4

    emu.clear_requests()
    webhook_client.batch([("crm.deal.get", {"id": 1})] * 150, halt=True)
    assert len(emu.requests) == 3 and _most_in_flight(emu.requests) == 1  # halt: one by one


def test_a_failed_chunk_stops_the_rest_and_is_raised(emu):
    from airflow_provider_bitrix24.client import Bitrix24AccessDenied
    from airflow_provider_bitrix24.emulator import CostModel

    emu.configure(cost=CostModel(latency=0.1))
    emu.inject_fault(status=403, error="ACCESS_DENIED", description="revoked", count=1, skip=2)
    emu.clear_requests()
    with Bitrix24Client(
        emu.url, WebhookAuth(emu.webhook_user_id, emu.webhook_code), **FAST, batch_parallel=2
    ) as client:
        with pytest.raises(Bitrix24AccessDenied):
            client.batch(
                [("crm.deal.add", {"fields": {"TITLE": f"D{i}"}}) for i in range(500)]
            )  # ten requests
    # two sent before it, the failed third, and at most two started while its reply travelled:
    # the other five of the ten are never sent
    assert len(emu.requests) <= 5


def test_batch_parallel_is_validated(emu):
    for wrong in (0, 51):
        with pytest.raises(Bitrix24ConfigError):
            Bitrix24Client(emu.url, WebhookAuth(emu.webhook_user_id, emu.webhook_code), batch_parallel=wrong)


def test_batch_references_and_errors(emu, webhook_client):
    from airflow_provider_bitrix24.client.encoding import result_ref

    result = webhook_client.batch(
        {
            "add": ("crm.deal.add", {"fields": {"TITLE": "Ref & co", "OPPORTUNITY": 10}}),
            "get": ("crm.deal.get", {"id": result_ref("add")}),
            "bad": ("crm.deal.get", {"id": 999999}),
        }
    )
    assert result.result["get"]["TITLE"] == "Ref & co"
    assert set(result.errors) == {"bad"} and result.errors["bad"].method == "crm.deal.get"
    with pytest.raises(Bitrix24Error):
        result.raise_for_errors()


# ------------------------------------------------------------------ pagination


def test_paginate_10000_deals_request_budget(emu, webhook_client):
    emu.seed_generated("crm.deal", 10_000)
    emu.clear_requests()
    rows = list(webhook_client.paginate("crm.deal.list", {"select": ["ID"]}))
    assert len(rows) == 10_000 and len({r["ID"] for r in rows}) == 10_000
    assert len(emu.requests) <= math.ceil(10_000 / 2500) + 2
    assert emu.count_queries == 0


@pytest.mark.parametrize("n", [0, 1, 49, 50, 2500, 2501, 2550, 2551])
def test_paginate_short_page_pitfall_exact_set(emu, webhook_client, n):
    ids = seed_deals(emu, n)
    rows = list(webhook_client.paginate("crm.deal.list", {"select": ["TITLE"]}))
    assert [int(r["ID"]) for r in rows] == ids  # every record exactly once, in ID order


def test_paginate_with_user_filter_and_limit(emu, webhook_client):
    emu.seed("crm.deal", [{"TITLE": "keep" if i % 2 else "skip"} for i in range(300)])
    rows = list(
        webhook_client.paginate("crm.deal.list", {"filter": {"TITLE": "keep"}, "select": ["ID", "TITLE"]})
    )
    assert len(rows) == 150 and {r["TITLE"] for r in rows} == {"keep"}
    assert len(list(webhook_client.paginate("crm.deal.list", {}, limit=120))) == 120


def test_paginate_wrapped_camelcase_results(emu, webhook_client):
    """``{tasks: [...]}`` / ``{items: [...]}`` with camelCase ``id``: references reach into the wrapper."""
    emu.seed_generated("tasks.task", 2551)
    emu.seed_generated("crm.item", 2551, entity_type_id=1036)
    emu.clear_requests()
    tasks = list(webhook_client.paginate("tasks.task.list", {"select": ["ID", "TITLE"]}))
    items = list(webhook_client.paginate("crm.item.list", {"entityTypeId": 1036, "select": ["title"]}))
    assert len({t["id"] for t in tasks}) == len(tasks) == 2551
    assert len({i["id"] for i in items}) == len(items) == 2551
    # Each export: the probe (two pages) and one window of the other 2,451 records.
    assert len(emu.requests) == 2 * 2 and emu.count_queries == 0


def test_paginate_start_next_fallback(emu, webhook_client):
    seed_deals(emu, 120)
    rows = list(webhook_client.paginate("crm.deal.list", {"order": {"TITLE": "DESC"}}))
    assert len({r["ID"] for r in rows}) == 120  # custom order: start/next paging


def test_paginate_logs_progress_without_secrets(emu, webhook_client, caplog):
    seed_deals(emu, 2600)
    with caplog.at_level(logging.DEBUG):
        assert len(list(webhook_client.paginate("crm.deal.list"))) == 2600
    assert "2600 rows" in caplog.text
    assert emu.webhook_code not in caplog.text
