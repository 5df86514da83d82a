"""Narrow units of the client core (no network): encoding, error classification, method
classification, leaky bucket, secret scrubbing, result shapes, token refresh races."""

from __future__ import annotations

import pickle
import threading
from urllib.parse import parse_qsl

import pytest
import requests

from airflow_provider_bitrix24.client import (
    Bitrix24AccessDenied,
    Bitrix24AuthError,
    Bitrix24BadRequest,
    Bitrix24Client,
    Bitrix24ConfigError,
    Bitrix24Error,
    Bitrix24NotFound,
    Bitrix24OperationLimit,
    Bitrix24RateLimited,
    Bitrix24ServerError,
    Bitrix24TokenExpired,
    LeakyBucket,
    MemoryTokenStore,
    OAuth2Auth,
    TokenPair,
    WebhookAuth,
    normalize_portal_url,
)
from airflow_provider_bitrix24.client.auth import parse_webhook_url
from airflow_provider_bitrix24.client.encoding import encode_command, encode_params
from airflow_provider_bitrix24.client.errors import classify, register_secret, scrub
from airflow_provider_bitrix24.client.methods import DEFAULT_PAGING, is_read_method, paging_spec
from airflow_provider_bitrix24.client.paging import _records

# ---------------------------------------------------------------- encoding


def test_encode_nested_params_php_style():
    query = encode_params(
        {
            "filter": {">ID": 5, "TITLE": "a&b=c d"},
            "select": ["ID", "TITLE"],
            "flag": True,
            "off": False,
            "none": None,
        }
    )
    assert parse_qsl(query) == [
        ("filter[>ID]", "5"),
        ("filter[TITLE]", "a&b=c d"),
        ("select[0]", "ID"),
        ("select[1]", "TITLE"),
        ("flag", "1"),
        ("off", "0"),
    ]


def test_encode_keeps_result_references_and_escapes_separators_in_keys():
    cmd = encode_command("crm.deal.list", {"filter": {">ID": "$result[p0][49][ID]", ">=DATE": "2024"}})
    assert cmd.startswith("crm.deal.list?filter[>ID]=$result[p0][49][ID]&")
    assert "filter[>%3DDATE]=2024" in cmd  # '=' in a key would split the pair
    assert encode_command("user.current", {}) == "user.current"


# ---------------------------------------------------------------- classification


@pytest.mark.parametrize(
    ("envelope", "status", "cls"),
    [
        ({"error": "expired_token"}, 401, Bitrix24TokenExpired),
        ({"error": "NO_AUTH_FOUND"}, 401, Bitrix24AuthError),
        ({"error": "insufficient_scope"}, 403, Bitrix24AccessDenied),
        ({"error": "ERROR_METHOD_NOT_FOUND"}, 404, Bitrix24NotFound),
        ({"error": "QUERY_LIMIT_EXCEEDED"}, 503, Bitrix24RateLimited),
        ({"error": "OPERATION_TIME_LIMIT"}, 429, Bitrix24OperationLimit),
        ({"error": "INTERNAL_SERVER_ERROR"}, 500, Bitrix24ServerError),
        ({"error": "ERROR_CORE", "error_description": "x"}, 200, Bitrix24Error),
        ({"error": 42}, 400, Bitrix24BadRequest),
        ({"error": ""}, 200, Bitrix24BadRequest),
        ("<html>Bad gateway</html>", 502, Bitrix24ServerError),
        ("", 200, Bitrix24ServerError),
        ([1, 2], 200, Bitrix24ServerError),
    ],
)
def test_classify(envelope, status, cls):
    err = classify(envelope, status, "crm.deal.get")
    assert type(err) is cls
    assert err.method == "crm.deal.get" and err.http_status == status


def test_classify_success_and_details():
    assert classify({"result": 1}, 200) is None
    err = classify({"error": 42, "error_description": "numeric"}, 400, "m")
    assert err.code == "42" and "numeric" in str(err)
    assert "(empty error code)" in str(classify({"error": None}, 200, "m"))
    html = classify("<html>" + "x" * 2000 + "</html>", 502, "m")
    assert "not JSON" in str(html) and len(str(html)) < 500
    limit = classify({"error": "OPERATION_TIME_LIMIT", "time": {"operating_reset_at": 1700000000}}, 429, "m")
    assert limit.reset_at == 1700000000.0


def test_errors_pickle_and_keep_fields():
    err = Bitrix24RateLimited("QUERY_LIMIT_EXCEEDED", "slow down", "crm.deal.list", 503)
    copy = pickle.loads(pickle.dumps(err))
    assert type(copy) is Bitrix24RateLimited
    assert (copy.code, copy.method, copy.http_status, str(copy)) == (
        err.code,
        err.method,
        err.http_status,
        str(err),
    )


# ---------------------------------------------------------------- secrets


def test_scrub_masks_registered_secrets_and_credential_shapes():
    register_secret("s3cr3t-webhook-code")
    text = (
        "POST http://p/rest/7/s3cr3t-webhook-code/crm.deal.add failed; "
        "url /oauth/token/?grant_type=refresh_token&client_secret=abcdef&refresh_token=zzzzzz; "
        '{"auth": "tok123456"} /rest/1/unregistered/x'
    )
    out = scrub(text)
    for secret in ("s3cr3t-webhook-code", "abcdef", "zzzzzz", "tok123456", "unregistered"):
        assert secret not in out
    assert "crm.deal.add" in out and "grant_type=refresh_token" in out


def test_auth_reprs_hide_secrets():
    assert "abc123code" not in repr(WebhookAuth(1, "abc123code"))
    pair = TokenPair("access-aaaa", "refresh-bbbb")
    assert "access-aaaa" not in repr(pair) and "refresh-bbbb" not in repr(pair)


# ---------------------------------------------------------------- methods table


@pytest.mark.parametrize(
    ("method", "read"),
    [
        ("crm.deal.list", True),
        ("CRM.DEAL.GET", True),
        ("crm.deal.fields", True),
        ("user.current", True),
        ("user.search", True),
        ("crm.deal.add", False),
        ("crm.deal.update", False),
        ("crm.deal.delete", False),
        ("tasks.task.complete", False),
        ("im.message.add", False),
        ("some.unknown.verb", False),
    ],
)
def test_is_read_method(method, read):
    assert is_read_method(method) is read


def test_paging_table():
    assert paging_spec("crm.deal.list").id_cursor and paging_spec("crm.deal.list").record_id == "ID"
    item = paging_spec("CRM.ITEM.LIST")
    assert (item.record_id, item.result_key) == ("id", "items")
    task = paging_spec("tasks.task.list")
    assert (task.record_id, task.filter_id, task.result_key) == ("id", "ID", "tasks")
    assert paging_spec("lists.element.get") is DEFAULT_PAGING and not DEFAULT_PAGING.id_cursor


def test_records_shapes():
    spec = paging_spec("tasks.task.list")
    assert _records([{"ID": 1}], DEFAULT_PAGING, "m") == [{"ID": 1}]
    assert _records({"tasks": [{"id": 1}]}, spec, "m") == [{"id": 1}]
    assert _records({"products": [{"id": 2}]}, DEFAULT_PAGING, "m") == [{"id": 2}]
    assert _records({"5": {"ID": 5}, "7": {"ID": 7}}, DEFAULT_PAGING, "m") == [{"ID": 5}, {"ID": 7}]
    assert _records([], DEFAULT_PAGING, "m") == [] and _records({}, DEFAULT_PAGING, "m") == []
    with pytest.raises(Bitrix24Error, match="cannot find the records"):
        _records({"a": 1, "b": 2}, DEFAULT_PAGING, "m")


# ---------------------------------------------------------------- urls and config


@pytest.mark.parametrize(
    ("body", "decoded"),
    [
        (
            b'{"result": {"ID": "7", "TITLE": "\xd0\xa1\xd0\xb4\xd0\xb5\xd0\xbb\xd0\xba\xd0\xb0"}}',
            {"result": {"ID": "7", "TITLE": "Сделка"}},
        ),
        (b'\xef\xbb\xbf{"result": true}', {"result": True}),  # a BOM: the fast decoder refuses it
        (b"<html>Bad gateway</html>", "<html>Bad gateway</html>"),  # not JSON: the text, for classify
        (b"", ""),
    ],
)
def test_reply_bodies_decode_whatever_the_decoder(body, decoded):
    resp = requests.Response()
    resp.status_code, resp._content = 200, body
    client = Bitrix24Client("https://p.example", WebhookAuth(1, "abcd"), rate_limit=None)
    assert client._decode(resp, "crm.deal.get") == decoded
    assert client._decode(requests.Response(), "crm.deal.get", body) == decoded  # the body read in one go


def test_normalize_portal_url():
    assert normalize_portal_url("example.bitrix24.com") == "https://example.bitrix24.com"
    assert normalize_portal_url("http://127.0.0.1:8080/") == "http://127.0.0.1:8080"
    assert normalize_portal_url("https://x.bitrix24.com/rest/") == "https://x.bitrix24.com"
    for bad in ("", "ftp://x", "http://", "https://ex ample.com", "http://host:notaport"):
        with pytest.raises(Bitrix24ConfigError, match="host"):
            normalize_portal_url(bad)


def test_parse_webhook_url():
    assert parse_webhook_url("https://x.bitrix24.com/rest/12/codecode/") == (
        "https://x.bitrix24.com",
        "12",
        "codecode",
    )
    assert parse_webhook_url("x.bitrix24.com/rest/1/abcd/crm.deal.list")[1:] == ("1", "abcd")
    with pytest.raises(Bitrix24ConfigError, match="webhook URL"):
        parse_webhook_url("https://x.bitrix24.com/1/abc")


# ---------------------------------------------------------------- leaky bucket


class FakeClock:
    def __init__(self):
        self.now = 0.0
        self.slept = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.slept.append(seconds)
        self.now += seconds


def test_leaky_bucket_burst_then_steady_rate():
    clock = FakeClock()
    bucket = LeakyBucket(capacity=5, leak_per_second=2, clock=clock, sleep=clock.sleep)
    waits = [bucket.acquire() for _ in range(9)]
    assert waits[:5] == [0, 0, 0, 0, 0]
    assert all(w > 0 for w in waits[5:])
    assert clock.now == pytest.approx(2.0)  # 4 requests over the burst at 2/s
    clock.now += 10  # drained
    assert bucket.acquire() == 0


def test_leaky_bucket_threads_respect_rate():
    clock = FakeClock()
    lock = threading.Lock()

    def sleep(seconds):
        with lock:
            clock.slept.append(seconds)

    bucket = LeakyBucket(capacity=10, leak_per_second=5, clock=clock, sleep=sleep)
    threads = [threading.Thread(target=bucket.acquire) for _ in range(30)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # 20 requests beyond the burst queue at 0.2 s intervals: the longest wait is 4 s.
    assert len(clock.slept) == 20 and max(clock.slept) == pytest.approx(4.0)
    bucket.penalize()
    assert bucket.reserve() > 0


# ---------------------------------------------------------------- OAuth refresh logic with mocks


def _token_reply(access, refresh, status=200):
    resp = requests.Response()
    resp.status_code = status
    resp._content = (
        b'{"access_token": "%s", "refresh_token": "%s", "expires_in": 3600}'
        % (access.encode(), refresh.encode())
        if status == 200
        else b'{"error": "invalid_grant", "error_description": "Invalid refresh token"}'
    )
    resp._content_consumed = True
    return resp


def _token_session(mocker):
    """A mock Session as the transport uses it: ``request(verb, url, ...)``, headers to update."""
    session = mocker.Mock(spec=requests.Session)
    session.headers = {}
    return session


def test_oauth_refresh_uses_get_with_query_and_rotates(mocker):
    session = _token_session(mocker)
    session.request.return_value = _token_reply("access-new1", "refresh-new1")
    store = MemoryTokenStore()
    auth = OAuth2Auth(
        "app.1",
        "secret-xyz",
        "refresh-old1",
        "access-old1",
        token_url="https://oauth.example/t/",
        store=store,
        session=session,
    )
    body, used = auth.prepare({"x": 1})
    assert body == {"x": 1, "auth": "access-old1"}
    auth.renew(used)
    auth.renew(used)  # a second thread with the same stale token: no second refresh
    assert session.request.call_count == 1
    verb, url = session.request.call_args.args
    assert verb == "GET" and session.request.call_args.kwargs["allow_redirects"] is False
    assert url.startswith("https://oauth.example/t/?") and "grant_type=refresh_token" in url
    assert "refresh_token=refresh-old1" in url and "client_secret=secret-xyz" in url
    assert store.load().refresh_token == "refresh-new1"
    assert auth.prepare({})[0]["auth"] == "access-new1"


def test_oauth_invalid_grant_adopts_pair_rotated_elsewhere(mocker):
    """Lost race without a cross-process lock: our refresh token was already used by another
    process; the store now has its new pair, so we adopt it instead of failing."""
    store = MemoryTokenStore(TokenPair("access-A", "refresh-A"))
    session = _token_session(mocker)

    def other_process_won(*_a, **_k):
        store.save(TokenPair("access-B", "refresh-B"))  # the winner saves while we are refreshing
        return _token_reply("", "", status=400)

    session.request.side_effect = other_process_won
    auth = OAuth2Auth("app.1", "secret-xyz", store=store, session=session, token_url="https://o.example/t/")
    _, used = auth.prepare({})
    auth.renew(used)
    assert auth.prepare({})[0]["auth"] == "access-B"
    assert auth.refresh_count == 0


def test_oauth_invalid_grant_everywhere_raises_clear_error(mocker):
    session = _token_session(mocker)
    session.request.return_value = _token_reply("", "", status=400)
    auth = OAuth2Auth(
        "app.1",
        "secret-xyz",
        "refresh-dead",
        "access-dead",
        session=session,
        token_url="https://o.example/t/",
    )
    _, used = auth.prepare({})
    with pytest.raises(Bitrix24AuthError, match="Authorise the application again") as info:
        auth.renew(used)
    assert "refresh-dead" not in str(info.value) and "secret-xyz" not in str(info.value)


def test_client_rejects_bad_config_before_any_request(mocker):
    session = mocker.Mock(spec=requests.Session)
    session.headers = {}
    with pytest.raises(Bitrix24ConfigError, match="rate_limit"):
        Bitrix24Client(
            "https://x.bitrix24.com", WebhookAuth(1, "abcd"), rate_limit={"burst": 0}, session=session
        )
    with pytest.raises(Bitrix24ConfigError, match="user id"):
        WebhookAuth("admin", "abcd")
    with pytest.raises(Bitrix24ConfigError, match="refresh_token"):
        OAuth2Auth("app.1", "secret")
    with pytest.raises(Bitrix24ConfigError, match="token_url"):
        OAuth2Auth("app.1", "secret", "refresh", token_url="oauth.bitrix.info")
    client = Bitrix24Client(
        "https://x.bitrix24.com", WebhookAuth(1, "abcd"), session=session, rate_limit=None
    )
    with pytest.raises(Bitrix24ConfigError, match="nested"):
        client.batch([("batch", {})])
    with pytest.raises(Bitrix24ConfigError, match="method name"):
        client.call("crm.deal.list?x=1")
    session.post.assert_not_called()


def test_client_core_never_imports_airflow():
    """The layering rule: the client core (and the emulator) are usable without Airflow."""
    import subprocess
    import sys

    probe = (
        "import sys, airflow_provider_bitrix24.client, airflow_provider_bitrix24.client.files; "
        "import airflow_provider_bitrix24.emulator; "
        "print(sorted(m for m in sys.modules if m == 'airflow' or m.startswith('airflow.')))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]"
