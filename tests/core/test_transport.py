"""One transport for every request: redirects never followed, streamed uploads and downloads
under the same backoff as calls, failures that cannot heal raised at once with a hint, no
connections opened ahead of need, small jobs sent at once."""

from __future__ import annotations

import json
import logging
import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from airflow_provider_bitrix24.client import (
    Bitrix24Client,
    Bitrix24PortalMoved,
    Bitrix24TokenExpired,
    Bitrix24TransportError,
    Bitrix24WriteMayHaveSucceeded,
    LeakyBucket,
    WebhookAuth,
)
from airflow_provider_bitrix24.client.files import Drive, DriveTarget, upload_via_url
from airflow_provider_bitrix24.emulator import CostModel

FAST = {"rate_limit": None, "backoff_base": 0.01, "backoff_max": 0.05}
THROTTLED = (503, {"error": "QUERY_LIMIT_EXCEEDED", "error_description": "Too many requests"})


class StubPortal:
    """A scripted HTTP server: ``script[path]`` is a list of ``(status, body)`` replies, used in
    order (the last one repeats); every request is recorded as ``(verb, path with query, body)``."""

    def __init__(self, tls: tuple | None = None) -> None:
        self.script: dict[str, list[tuple[int, object]]] = {}
        self.seen: list[tuple[str, str, bytes]] = []
        self.paths: list[str] = []  # every request line, recorded before its body is read
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _reply(self) -> None:
                stub.paths.append(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                stub.seen.append((self.command, self.path, body))
                replies = stub.script.get(self.path.split("?", 1)[0], [(404, {"error": "NOT_FOUND"})])
                status, payload = replies.pop(0) if len(replies) > 1 else replies[0]
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _reply

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        scheme = "http"
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
            scheme = "https"
        self.url = f"{scheme}://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def stub():
    portal = StubPortal()
    yield portal
    portal.close()


def sleeps_recorder():
    slept: list[float] = []
    return slept, slept.append


def webhook_client(url: str, **kwargs) -> Bitrix24Client:
    return Bitrix24Client(url, WebhookAuth(1, "stub-webhook-code"), **{**FAST, **kwargs})


# ------------------------------------------------------------------ redirects


def test_a_streamed_upload_is_not_redirected_with_the_webhook_code(emu, stub):
    client = Bitrix24Client(emu.url, WebhookAuth(emu.webhook_user_id, emu.webhook_code), **FAST)
    drive = Drive(client, inline_limit=10)
    root = int(client.call("disk.storage.getlist")[0]["ROOT_OBJECT_ID"])
    record = drive.upload(DriveTarget(root), b"first", name="a.txt")
    emu.inject_fault(kind="redirect", status=307, location=stub.url, method="disk.file.uploadversion")
    with pytest.raises(Bitrix24PortalMoved) as info:
        drive.upload_version(int(record["ID"]), b"a second version, streamed", name="a.txt")
    assert stub.paths == [], "the upload followed the redirect to another host"
    assert info.value.new_url == stub.url and emu.webhook_code not in str(info.value)


def test_a_redirect_names_the_new_host_without_the_query(stub):
    stub.script["/dl"] = [(302, b"")]
    client = webhook_client(stub.url)

    # the stub answers 302 without Location: the error says so and names no link
    with pytest.raises(Bitrix24PortalMoved):
        Drive(client).download(
            1, "unused", record={"DOWNLOAD_URL": f"{stub.url}/dl?token=secret-xyz", "SIZE": 1}
        )
    assert len(stub.seen) == 1


# ------------------------------------------------------------------ uploads and downloads share the policy


def test_an_upload_url_refused_with_503_backs_off_and_is_sent_again(stub):
    stub.script["/rest/1/stub-webhook-code/disk.folder.uploadfile"] = [
        (200, {"result": {"uploadUrl": f"{stub.url}/upload?token=t-123", "field": "file"}})
    ]
    stub.script["/upload"] = [THROTTLED, (200, {"result": {"ID": 7}})]
    slept, sleep = sleeps_recorder()
    client = webhook_client(stub.url, sleep=sleep)
    result = upload_via_url(client, "disk.folder.uploadfile", {"id": 1}, b"payload", filename="f.bin")
    assert result == {"ID": 7}
    uploads = [s for s in stub.seen if s[1].startswith("/upload")]
    assert len(uploads) == 2 and all(b"payload" in body for _v, _p, body in uploads)
    assert len(slept) == 1


def test_a_download_refused_with_503_backs_off_and_completes(stub, tmp_path):
    stub.script["/dl"] = [THROTTLED, (200, b"hello")]
    slept, sleep = sleeps_recorder()
    client = webhook_client(stub.url, sleep=sleep)
    record = {"DOWNLOAD_URL": f"{stub.url}/dl?token=t-456", "SIZE": 5}
    Drive(client).download(1, tmp_path / "f.txt", record=record)
    assert (tmp_path / "f.txt").read_bytes() == b"hello"
    assert len(stub.seen) == 2 and len(slept) == 1


def test_a_streamed_upload_whose_reply_is_lost_is_not_sent_again(stub):
    stub.script["/rest/1/stub-webhook-code/disk.folder.uploadfile"] = [
        (200, {"result": {"uploadUrl": f"{stub.url}/upload", "field": "file"}})
    ]
    stub.script["/upload"] = [(502, b"<html>bad gateway</html>")]
    client = webhook_client(stub.url)
    with pytest.raises(Bitrix24WriteMayHaveSucceeded):
        upload_via_url(client, "disk.folder.uploadfile", {"id": 1}, b"payload")
    assert len([s for s in stub.seen if s[1].startswith("/upload")]) == 1


def test_signed_link_query_values_stay_out_of_debug_logs(stub, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    stub.script["/dl"] = [(200, b"hello")]
    client = webhook_client(stub.url)
    record = {"DOWNLOAD_URL": f"{stub.url}/dl?token=signed-token-9876&ts=1", "SIZE": 5}
    Drive(client).download(1, tmp_path / "f.txt", record=record)
    assert "/dl?" in caplog.text  # urllib3 did log the request line
    assert "signed-token-9876" not in caplog.text


# ------------------------------------------------------------------ failures that cannot heal


def test_tls_to_a_plain_http_port_fails_once_with_a_hint(emu):
    slept, sleep = sleeps_recorder()
    client = webhook_client(emu.url.replace("http://", "https://"), sleep=sleep)
    with pytest.raises(Bitrix24TransportError) as info:
        client.call("crm.deal.list")
    assert "use http:// for a local portal" in str(info.value)
    assert client.requests_sent == 1 and slept == []


def test_an_unknown_host_fails_once_with_a_hint():
    slept, sleep = sleeps_recorder()
    client = webhook_client("http://no-such-portal.invalid", sleep=sleep)
    with pytest.raises(Bitrix24TransportError) as info:
        client.call("crm.deal.list")
    assert "does not resolve" in str(info.value)
    assert client.requests_sent == 1 and slept == []


def test_an_untrusted_certificate_fails_once_with_a_hint(tls_certificate, monkeypatch):
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE"):
        monkeypatch.delenv(name, raising=False)
    portal = StubPortal(tls=tls_certificate)
    try:
        slept, sleep = sleeps_recorder()
        client = webhook_client(portal.url, sleep=sleep)
        with pytest.raises(Bitrix24TransportError) as info:
            client.call("crm.deal.list")
    finally:
        portal.close()
    assert "certificate" in str(info.value) and "REQUESTS_CA_BUNDLE" in str(info.value)
    assert client.requests_sent == 1 and slept == []


def test_a_refused_connection_is_retried_briefly():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    slept, sleep = sleeps_recorder()
    client = webhook_client(f"http://127.0.0.1:{port}", sleep=sleep, max_retries=5)
    with pytest.raises(Bitrix24TransportError) as info:
        client.call("crm.deal.add", {"fields": {}})  # never reached a server: safe to retry a write
    assert not isinstance(info.value, Bitrix24WriteMayHaveSucceeded)
    assert 1.5 <= sum(slept) <= 3.0, slept  # about 3 s in all, whatever max_retries says
    assert client.requests_sent == len(slept) + 1


# ------------------------------------------------------------------ nothing opened or held back for nothing


@pytest.fixture
def connects(mocker):
    """How many connections were opened."""
    from urllib3.connection import HTTPConnection, HTTPSConnection

    opened: list[int] = []

    def recording(original):
        def connect(self):
            opened.append(1)
            return original(self)

        return connect

    for cls in (HTTPConnection, HTTPSConnection):
        mocker.patch.object(cls, "connect", recording(cls.connect))
    return opened


def test_a_small_filtered_read_opens_one_connection(emu, connects):
    emu.seed("crm.deal", [{"TITLE": "match" if i < 3 else "other"} for i in range(200)])
    emu.configure(cost=CostModel(latency=0.05))
    client = Bitrix24Client(emu.url, WebhookAuth(emu.webhook_user_id, emu.webhook_code), **FAST)
    rows = list(client.paginate("crm.deal.list", {"filter": {"TITLE": "match"}, "select": ["ID"]}))
    assert len(rows) == 3
    assert len(connects) == 1


def test_500_creates_go_in_one_round(emu, mocker):
    """A job that fits the burst and stays far below the operating limit goes at once: no
    first request alone, no rounds of 8."""
    emu.configure(cost=CostModel(latency=0.3), operating_limit=480)
    in_flight, most = [0], [0]
    lock = threading.Lock()
    original = requests.Session.request

    def counting(self, *args, **kwargs):
        with lock:
            in_flight[0] += 1
            most[0] = max(most[0], in_flight[0])
        try:
            return original(self, *args, **kwargs)
        finally:
            with lock:
                in_flight[0] -= 1

    mocker.patch.object(requests.Session, "request", counting)
    client = Bitrix24Client(
        emu.url, WebhookAuth(emu.webhook_user_id, emu.webhook_code), rate_limit=LeakyBucket(50, 2)
    )
    result = client.batch([("crm.deal.add", {"fields": {"TITLE": f"d{i}"}}) for i in range(500)])
    assert len(result.result) == 500 and not result.errors
    assert client.requests_sent == 10
    assert most[0] == 10, f"{most[0]} batch requests in flight at most: more than one round"


def test_nothing_outside_the_client_core_touches_http_auth_or_the_bucket():
    """Every request goes through the client's transport: no other layer imports requests or
    reaches for a client's session, auth object or bucket."""
    import ast
    from pathlib import Path

    import airflow_provider_bitrix24

    package = Path(airflow_provider_bitrix24.__file__).parent
    offenders = []
    for path in package.rglob("*.py"):
        # The emulator is the portal, not a client. The authorization helper (oauth/) exchanges its
        # consent code through the client's transport too, so it is scanned like the rest.
        if path.relative_to(package).parts[0] in ("client", "emulator"):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            if any(name.split(".")[0] in ("requests", "urllib3", "httpx") for name in names):
                offenders.append(f"{path.relative_to(package)}:{node.lineno} imports {names}")
            if isinstance(node, ast.Attribute) and node.attr in ("session", "bucket", "transport"):
                offenders.append(f"{path.relative_to(package)}:{node.lineno} uses .{node.attr}")
    assert offenders == []


def test_an_expired_signed_link_is_not_renewed_with_our_credential(stub, tmp_path):
    stub.script["/dl"] = [(401, {"error": "expired_token", "error_description": "The access token expired"})]
    client = webhook_client(stub.url)
    with pytest.raises(Bitrix24TokenExpired, match="request it again"):
        Drive(client).download(
            1, tmp_path / "f.txt", record={"DOWNLOAD_URL": f"{stub.url}/dl?token=t", "SIZE": 1}
        )
    assert len(stub.seen) == 1 and not (tmp_path / "f.txt").exists()
