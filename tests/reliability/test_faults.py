"""Server and transport faults against reads and writes over real HTTP.

The rule every test here pins down: a read either returns the exact records (nothing lost,
nothing twice) or fails with a typed error; a write is retried only when the portal refused it
before running it (rate / operation limits, auth renewal), otherwise it is sent exactly once and
the error says it may have been applied and how to check.
"""

from __future__ import annotations

import pytest
from reliability_helpers import FAST, executed, seed_deals, sent

from airflow_provider_bitrix24.client import (
    Bitrix24AccessDenied,
    Bitrix24BadRequest,
    Bitrix24Client,
    Bitrix24Error,
    Bitrix24NotFound,
    Bitrix24OperationLimit,
    Bitrix24PortalMoved,
    Bitrix24RateLimited,
    Bitrix24ServerError,
    Bitrix24TransportError,
    Bitrix24WriteMayHaveSucceeded,
    WebhookAuth,
)

READ_TIMEOUT = 0.4

# (fault kwargs, how many injected) for faults that a read survives by being resent.
TRANSIENT = {
    "503_storm": dict(status=503, error="QUERY_LIMIT_EXCEEDED", description="Too many requests", count=4),
    "429_operation_limit": dict(status=429, error="OPERATION_TIME_LIMIT", description="blocked", count=1),
    "500": dict(status=500, error="INTERNAL_SERVER_ERROR", count=2),
    "502": dict(status=502, error="", count=1),
    "504": dict(status=504, error="GATEWAY_TIMEOUT", count=1),
    "reset_before_reply_read": dict(kind="drop_before", count=2),
    "reset_after_executed": dict(kind="drop_after", count=2),
    "read_timeout": dict(kind="delay", delay=READ_TIMEOUT * 2.5, count=1),
    "html_error_page": dict(kind="html", status=502, count=2),
    "truncated_json": dict(kind="truncated", count=1),
}


@pytest.fixture
def client(emu):
    auth = WebhookAuth(emu.webhook_user_id, emu.webhook_code)
    with Bitrix24Client(emu.url, auth, timeout=(2.0, READ_TIMEOUT), **FAST) as c:
        yield c


@pytest.mark.parametrize("fault", list(TRANSIENT), ids=list(TRANSIENT))
def test_read_survives_fault_with_exact_records(emu, client, fault):
    ids = seed_deals(emu, 130)  # three chained pages in one batch request
    emu.inject_fault(**TRANSIENT[fault])
    rows = list(client.paginate("crm.deal.list", {"select": ["ID", "TITLE"]}))
    assert sorted(int(r["ID"]) for r in rows) == ids  # nothing lost, nothing twice
    assert len(rows) == len(ids)
    assert emu.requests[0].fault or emu.requests[0].http_status >= 400  # the fault really hit
    assert emu.requests[-1].http_status == 200


@pytest.mark.parametrize("fault", ["503_storm", "429_operation_limit"])
def test_write_refused_by_a_limit_is_resent_and_applied_once(emu, client, fault):
    emu.inject_fault(**TRANSIENT[fault])
    deal_id = client.call("crm.deal.add", {"fields": {"TITLE": "limited"}})
    assert [r["ID"] for r in emu.rows("crm.deal")] == [deal_id]
    assert len(executed(emu, "crm.deal.add")) == 1


# Faults after which a write may or may not have run: never resent.
AMBIGUOUS = [
    "500",
    "502",
    "504",
    "reset_before_reply_read",
    "reset_after_executed",
    "read_timeout",
    "html_error_page",
    "truncated_json",
]


@pytest.mark.parametrize("fault", AMBIGUOUS)
def test_write_that_may_have_reached_the_portal_is_sent_once(emu, client, fault):
    emu.inject_fault(**{**TRANSIENT[fault], "count": 1})
    with pytest.raises(Bitrix24WriteMayHaveSucceeded) as info:
        client.call("crm.deal.add", {"fields": {"TITLE": "once"}})
    assert len(sent(emu, "crm.deal.add")) == 1  # exactly one request, no automatic resend
    message = str(info.value)
    assert (
        "crm.deal.add" in message
        and "may have been applied" in message
        and "before running it again" in message
    )
    assert isinstance(info.value, Bitrix24TransportError)
    # The portal ran it at most once: the caller can check and decide.
    assert len(emu.rows("crm.deal")) <= 1


@pytest.mark.parametrize("fault", ["reset_after_executed", "500", "truncated_json"])
def test_write_batch_is_sent_once_after_an_ambiguous_fault(emu, client, fault):
    emu.inject_fault(**{**TRANSIENT[fault], "count": 1})
    commands = [("crm.deal.add", {"fields": {"TITLE": f"batch {n}"}}) for n in range(3)]
    with pytest.raises(Bitrix24WriteMayHaveSucceeded, match="batch"):
        client.batch(commands)
    assert len([r for r in emu.requests if r.method == "batch"]) == 1
    assert len(emu.rows("crm.deal")) in (0, 3)  # the whole batch ran once or not at all


def test_storm_longer_than_max_retries_fails_typed(emu, client):
    emu.inject_fault(status=503, error="QUERY_LIMIT_EXCEEDED", count=50)
    with pytest.raises(Bitrix24RateLimited, match="QUERY_LIMIT_EXCEEDED"):
        client.call("crm.deal.list")
    assert len(emu.requests) == client.max_retries + 1
    emu.clear_faults()


def test_persistent_5xx_on_a_read_fails_typed_after_bounded_retries(emu, client):
    emu.inject_fault(status=502, error="", count=50)
    with pytest.raises(Bitrix24ServerError, match="HTTP 502"):
        client.call("crm.deal.list")
    assert len(emu.requests) == client.max_retries + 1


def test_persistent_connection_resets_fail_typed(emu, client):
    emu.inject_fault(kind="drop_before", count=50)
    with pytest.raises(Bitrix24TransportError, match="gave up after") as info:
        client.call("crm.deal.list")
    assert not isinstance(info.value, Bitrix24WriteMayHaveSucceeded)
    assert len(emu.requests) == client.max_retries + 1


def test_unreachable_portal_resends_even_a_write_then_fails_typed():
    """A refused TCP connection proves nothing was sent: retrying a write is safe there, for a
    few seconds in all (a restarting portal or proxy), then the call fails typed."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    slept: list[float] = []
    client = Bitrix24Client(
        f"http://127.0.0.1:{port}", WebhookAuth(1, "code1234"), sleep=slept.append, **FAST
    )
    with pytest.raises(Bitrix24TransportError) as info:
        client.call("crm.deal.add", {"fields": {"TITLE": "x"}})
    assert not isinstance(info.value, Bitrix24WriteMayHaveSucceeded)
    assert "refused" in str(info.value)
    assert 1 <= len(slept) <= client.max_retries and sum(slept) <= 3.0  # resent, briefly


def test_operation_limit_with_reset_time_waits_then_completes(emu, client):
    from airflow_provider_bitrix24.emulator import CostModel

    emu.configure(
        operating_limit=0.05,
        operating_basket_seconds=0.5,
        operating_baskets=2,
        cost=CostModel(per_call=0.1, sleep=False),
    )
    client.call("crm.deal.add", {"fields": {"TITLE": "a"}})  # uses up the method's budget
    deal_id = client.call("crm.deal.add", {"fields": {"TITLE": "b"}})
    statuses = [r.http_status for r in emu.calls("crm.deal.add")]
    assert statuses == [200, 429, 200]
    assert [r["TITLE"] for r in emu.rows("crm.deal")] == ["a", "b"] and deal_id


@pytest.mark.parametrize(
    ("status", "code", "cls", "shown"),
    [
        (200, "ACCESS_DENIED", Bitrix24AccessDenied, "ACCESS_DENIED"),
        (200, "ERROR_CORE", Bitrix24Error, "ERROR_CORE"),
        (400, 123, Bitrix24BadRequest, "123"),
        (400, 0, Bitrix24BadRequest, "0"),
        (400, "", Bitrix24BadRequest, "(empty error code)"),
        (404, "", Bitrix24NotFound, "HTTP 404"),
    ],
)
def test_error_shapes_are_typed_and_not_retried(emu, client, status, code, cls, shown):
    emu.inject_fault(status=status, error=code, description="details here", count=1)
    with pytest.raises(cls) as info:
        client.call("crm.deal.add", {"fields": {"TITLE": "x"}})
    assert shown in str(info.value) and "details here" in str(info.value)
    assert info.value.http_status == status and info.value.method == "crm.deal.add"
    assert len(emu.requests) == 1 and not emu.rows("crm.deal")


def test_redirect_to_a_new_portal_address_is_not_followed(emu, client):
    emu.inject_fault(kind="redirect", location="http://127.0.0.1:9/")
    with pytest.raises(Bitrix24PortalMoved) as info:
        client.call("crm.deal.add", {"fields": {"TITLE": "x"}})
    assert info.value.new_url == "http://127.0.0.1:9"
    assert "update the connection host" in str(info.value)
    assert len(emu.requests) == 1 and not emu.rows("crm.deal")


# ------------------------------------------------------------------ batch sub-command errors


def _mixed_commands():
    return {
        "first": ("crm.deal.add", {"fields": {"TITLE": "first"}}),
        "missing": ("crm.deal.get", {"id": 999999}),
        "third": ("crm.deal.add", {"fields": {"TITLE": "third"}}),
    }


def test_batch_sub_error_without_halt_runs_the_rest(emu, client):
    result = client.batch(_mixed_commands(), halt=False)
    assert set(result.result) == {"first", "third"}
    assert isinstance(result.errors["missing"], Bitrix24Error)  # the portal sends an empty code here
    assert "Not found" in str(result.errors["missing"])
    assert "crm.deal.get" in str(result.errors["missing"])
    assert sorted(r["TITLE"] for r in emu.rows("crm.deal")) == ["first", "third"]
    with pytest.raises(Bitrix24Error, match="Not found"):
        result.raise_for_errors()


def test_batch_sub_error_with_halt_stops_and_sends_no_further_chunk(emu, client):
    commands = _mixed_commands()
    commands.update({f"more{n}": ("crm.deal.add", {"fields": {"TITLE": f"more {n}"}}) for n in range(60)})
    result = client.batch(commands, halt=True)
    assert set(result.result) == {"first"} and set(result.errors) == {"missing"}
    assert [r["TITLE"] for r in emu.rows("crm.deal")] == ["first"]
    assert len(emu.requests) == 1  # the second chunk of the 63 commands was never sent


def test_injected_error_inside_a_batch_is_typed_per_command(emu, client):
    emu.inject_fault(status=503, error="QUERY_LIMIT_EXCEEDED", method="crm.deal.get", count=1)
    result = client.batch({"a": ("crm.deal.list", {}), "b": ("crm.deal.get", {"id": 1})})
    assert isinstance(result.errors["b"], Bitrix24RateLimited)
    assert "a" in result.result


def test_operation_limit_inside_chained_pagination_resumes_exactly(emu, client):
    ids = seed_deals(emu, 160)
    emu.inject_fault(status=429, error="OPERATION_TIME_LIMIT", method="crm.deal.list", count=1)
    rows = list(client.paginate("crm.deal.list", {"select": ["ID"]}))
    assert sorted(int(r["ID"]) for r in rows) == ids and len(rows) == len(ids)
    assert isinstance(client, Bitrix24Client)
    assert any(r.error == "OPERATION_TIME_LIMIT" for r in emu.calls("crm.deal.list"))
    assert Bitrix24OperationLimit  # the error class the client waited on


def test_operation_limit_is_waited_until_the_announced_reset(emu):
    """The first wait runs to ``operating_reset_at`` of the last successful reply, not a guess."""
    from airflow_provider_bitrix24.emulator import CostModel

    emu.configure(
        operating_limit=0.05, operating_basket_seconds=30, cost=CostModel(per_call=0.1, sleep=False)
    )
    slept = []
    client = Bitrix24Client(
        emu.url, WebhookAuth(emu.webhook_user_id, emu.webhook_code), sleep=slept.append, **FAST
    )
    client.call("crm.deal.list")  # books more than the limit; its basket resets in 300 s
    with pytest.raises(Bitrix24OperationLimit):  # nothing really sleeps, so the limit stays
        client.call("crm.deal.list")
    assert 299 <= slept[0] <= 302


def test_operator_fails_a_lost_write_without_airflow_retries(emu, webhook_conn):
    """Airflow's own task retry would send the write again: the operator's error opts out of it."""
    from airflow.sdk.exceptions import AirflowFailException

    from airflow_provider_bitrix24.operators.base import Bitrix24Operator

    emu.inject_fault(kind="drop_after", method="crm.deal.add")
    op = Bitrix24Operator(
        task_id="create", action_id="crm_deal_create", retries=3, parameters={"fields": {"TITLE": "once"}}
    )
    with pytest.raises(AirflowFailException) as info:
        op.execute({})
    assert isinstance(info.value, Bitrix24WriteMayHaveSucceeded)  # still the typed error for callers
    assert "may have been applied" in str(info.value) and "does not retry" in str(info.value)
    assert len(sent(emu, "crm.deal.add")) == 1 and len(emu.rows("crm.deal")) == 1


def test_batch_operator_with_applied_writes_fails_without_airflow_retries(emu, webhook_conn):
    from airflow.sdk.exceptions import AirflowFailException

    from airflow_provider_bitrix24.operators.direct import Bitrix24BatchOperator

    op = Bitrix24BatchOperator(task_id="batch", commands=_mixed_commands(), retries=3)
    with pytest.raises(AirflowFailException) as info:
        op.execute({})
    assert isinstance(info.value, Bitrix24Error)
    assert "writes applied: first, third" in str(info.value) and "missing" in str(info.value)
    assert len(emu.rows("crm.deal")) == 2


def test_batch_operator_whose_request_fails_after_others_wrote_fails_without_airflow_retries(
    emu, webhook_conn
):
    """One of three requests in flight is refused as a whole after the others applied writes:
    a task retry would apply those again, so it is not retried, and the message names them."""
    import re

    from airflow.sdk.exceptions import AirflowFailException

    from airflow_provider_bitrix24.emulator import CostModel
    from airflow_provider_bitrix24.operators.direct import Bitrix24BatchOperator

    emu.configure(cost=CostModel(latency=0.2))  # all three requests are in flight before any reply
    emu.inject_fault(status=403, error="ACCESS_DENIED", description="revoked", count=1)
    commands = {f"d{i}": ("crm.deal.add", {"fields": {"TITLE": f"D{i}"}}) for i in range(150)}
    op = Bitrix24BatchOperator(task_id="batch", commands=commands, retries=3)
    with pytest.raises(AirflowFailException) as info:
        op.execute({})
    message = str(info.value)
    created = {r["TITLE"].lower() for r in emu.rows("crm.deal")}
    assert "ACCESS_DENIED" in message and len(created) == 100  # the other two requests wrote
    named = set(re.findall(r"d\d+", message.split("writes applied by other requests: ")[1]))
    assert named == created


def test_batch_operator_with_only_reads_failing_stays_retryable(emu, webhook_conn):
    from airflow.sdk.exceptions import AirflowFailException

    from airflow_provider_bitrix24.operators.direct import Bitrix24BatchOperator

    op = Bitrix24BatchOperator(
        task_id="batch", commands={"a": ("crm.deal.list", {}), "b": ("crm.deal.get", {"id": 9})}
    )
    with pytest.raises(Bitrix24Error, match="BATCH_FAILED") as info:
        op.execute({})
    assert not isinstance(info.value, AirflowFailException)


def test_import_interrupted_by_a_lost_reply_reruns_without_duplicates(emu, webhook_conn, tmp_path):
    """A sync job is idempotent instead: the upsert looks records up by key, so running the task
    again after a lost reply completes the data and creates nothing twice."""
    import json

    from airflow.sdk import ObjectStoragePath

    from airflow_provider_bitrix24.operators.transfers import ObjectStorageToBitrix24Operator

    source = tmp_path / "deals.jsonl"
    source.write_text(
        "".join(json.dumps({"TITLE": f"D{n}", "ORIGIN_ID": f"o{n}"}) + "\n" for n in range(120))
    )

    def run():
        return ObjectStorageToBitrix24Operator(
            task_id="import",
            path=ObjectStoragePath(f"file://{source}"),
            entity="deal",
            match_field="ORIGIN_ID",
        ).execute({})

    emu.inject_fault(kind="delay", delay=0.0, method="batch")  # a no-op for the first batch: the key lookup
    emu.inject_fault(kind="drop_after", method="batch")  # the first write batch runs, its reply is lost
    with pytest.raises(Bitrix24WriteMayHaveSucceeded):
        run()
    assert len(emu.rows("crm.deal")) == 50
    second = run()  # what Airflow's retry of this task does
    assert (second["created"], second["updated"], second["failed"]) == (70, 50, 0)
    origins = sorted(r["ORIGIN_ID"] for r in emu.rows("crm.deal"))
    assert origins == sorted(f"o{n}" for n in range(120))  # every record, each once


def test_scrubbing_keeps_error_details_readable(emu, client):
    """Masking must hide credentials only, not the status codes and details that explain a failure."""
    emu.inject_fault(status=400, error="ERROR_CORE", description="Error code: 404 (deal {ID: 7}) is missing")
    with pytest.raises(Bitrix24BadRequest) as info:
        client.call("crm.deal.list")
    assert "Error code: 404 (deal {ID: 7}) is missing" in str(info.value)
