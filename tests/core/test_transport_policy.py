"""The retry and resend rules as pure functions: plain values in, a decision out (no HTTP, no
clock), so a sync and an async shell can share them."""

from __future__ import annotations

import socket
import ssl

import pytest

from airflow_provider_bitrix24.client import (
    Bitrix24OperationLimit,
    Bitrix24PortalMoved,
    Bitrix24TransportError,
    Bitrix24WriteMayHaveSucceeded,
    policy,
)
from airflow_provider_bitrix24.client.policy import Attempts, Done, Raise, Renew, Retry, RetryPolicy

RULES = RetryPolicy(max_retries=2, backoff_base=1.0, backoff_max=30.0, max_operation_wait=100.0)


def decide(status, body, *, safe=True, attempts=None, now=1_000.0, reset_at=None, location=None):
    verdict = policy.classify_reply(status, body, "crm.deal.add", location=location)
    return RULES.decide(
        verdict,
        attempts or Attempts(),
        "crm.deal.add",
        resend_safe=safe,
        now=now,
        reset_at=reset_at,
        jitter=0.0,
    )


def test_a_success_is_done():
    assert decide(200, b'{"result": 7}') == Done({"result": 7})


def test_a_redirect_raises_naming_the_host_only():
    decision = decide(307, b"", location="https://new.example.com/rest/1/code/x?token=secret")
    assert isinstance(decision, Raise) and isinstance(decision.error, Bitrix24PortalMoved)
    assert decision.error.new_url == "https://new.example.com"
    assert "secret" not in str(decision.error) and "code" not in str(decision.error.new_url)


def test_throttling_backs_off_for_writes_too_until_max_retries():
    body = b'{"error": "QUERY_LIMIT_EXCEEDED"}'
    first = decide(503, body, safe=False)
    assert isinstance(first, Retry) and first.throttled and first.delay == 0.5  # 1 s, half with no jitter
    assert isinstance(decide(503, body, safe=False, attempts=Attempts(retries=2)), Raise)


def test_a_5xx_resends_a_read_and_never_a_write():
    assert isinstance(decide(502, b"<html>", safe=True), Retry)
    decision = decide(502, b"<html>", safe=False)
    assert isinstance(decision, Raise) and isinstance(decision.error, Bitrix24WriteMayHaveSucceeded)


def test_an_expired_token_renews_a_bounded_number_of_times():
    body = b'{"error": "expired_token"}'
    assert isinstance(decide(401, body), Renew)
    assert isinstance(decide(401, body, attempts=Attempts(renewals=2)), Raise)


def test_the_operation_limit_waits_for_the_reset_within_the_budget():
    body = b'{"error": "OPERATION_TIME_LIMIT", "time": {"operating_reset_at": 1030}}'
    decision = decide(429, body, now=1_000.0)
    assert isinstance(decision, Retry) and decision.operating and decision.delay == pytest.approx(31.0)
    late = decide(429, body, now=1_000.0, attempts=Attempts(operating_waited=90.0))
    assert isinstance(late, Raise) and isinstance(late.error, Bitrix24OperationLimit)


def failure_decision(exc, *, connect_failed=False, tls_failed=False, safe=False, attempts=None):
    failure = policy.classify_failure(exc, connect_failed=connect_failed, tls_failed=tls_failed)
    return RULES.decide_failure(failure, attempts or Attempts(), "crm.deal.add", resend_safe=safe, jitter=0.0)


def wrapped(inner: BaseException) -> Exception:
    outer = ConnectionError("connection failed")
    outer.__cause__ = inner
    return outer


@pytest.mark.parametrize(
    ("inner", "hint"),
    [
        (
            ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number"),
            "use http:// for a local portal",
        ),
        (ssl.SSLCertVerificationError(1, "certificate verify failed"), "REQUESTS_CA_BUNDLE"),
        (socket.gaierror(-2, "Name or service not known"), "does not resolve"),
    ],
)
def test_what_retrying_cannot_heal_fails_at_once_with_a_hint(inner, hint):
    decision = failure_decision(wrapped(inner), connect_failed=True, safe=True)
    assert isinstance(decision, Raise) and isinstance(decision.error, Bitrix24TransportError)
    assert hint in str(decision.error)


def test_a_refused_connection_is_retried_for_about_three_seconds_even_for_a_write():
    attempts, slept = Attempts(), 0.0
    while True:
        decision = failure_decision(wrapped(ConnectionRefusedError(111, "refused")), attempts=attempts)
        if not isinstance(decision, Retry):
            break
        attempts.count(decision)
        slept += decision.delay
    assert isinstance(decision, Raise) and not isinstance(decision.error, Bitrix24WriteMayHaveSucceeded)
    assert 2.0 <= slept <= 3.0 and attempts.retries == 0


def test_a_lost_reply_resends_a_read_only():
    lost = ConnectionResetError(104, "reset")
    assert isinstance(failure_decision(lost, safe=True), Retry)
    decision = failure_decision(lost, safe=False)
    assert isinstance(decision, Raise) and isinstance(decision.error, Bitrix24WriteMayHaveSucceeded)
    assert isinstance(failure_decision(TimeoutError("connect"), connect_failed=True), Retry)  # never sent
