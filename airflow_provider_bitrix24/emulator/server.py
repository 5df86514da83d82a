"""The HTTP side: routes, request decoding, transport faults and writing replies."""

from __future__ import annotations

import html
import json
import secrets
import socket
import ssl
import struct
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlencode, urlsplit

from .dispatch import Outcome, authenticate_token, authenticate_webhook, execute, failure, token_endpoint
from .params import parse_body, parse_php_query
from .registry import RAW_ROUTES
from .state import TOKEN_ENDPOINT, Portal, RequestRecord

_HTML_PAGE = "<html><head><title>{status} Error</title></head><body><center><h1>{status} Error</h1></center><hr><center>nginx</center></body></html>"


# Where the emulated local application sends the browser back after consent (its "handler path"
# in Bitrix24); the same default as ``python -m airflow_provider_bitrix24.oauth authorize``.
DEFAULT_REDIRECT_URI = "http://localhost:8025/callback"
CODE_LIFETIME = 30.0  # seconds an authorization code may wait for its exchange (the docs' figure)
AUTHORIZE_PATH = "/oauth/authorize"


@dataclass
class OAuthApp:
    """The emulated local application's settings and its pending authorization codes.

    As in Bitrix24, the redirect URI comes from the application's settings, not from the request.
    ``approve`` False makes the consent fail the way a portal does: an error page, no redirect.
    """

    redirect_uri: str | None = DEFAULT_REDIRECT_URI
    approve: bool = True
    codes: dict[str, tuple[int, float]] = field(default_factory=dict)  # code -> (user id, expiry)


def encode_json(body: Any) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def parse_route(path: str) -> tuple[str, str | None, tuple[str, str] | None]:
    """(kind, method, webhook credentials) for a request path. kind: "token" | "rest" | "unknown"."""
    parts = [p for p in path.split("/") if p]
    if parts[:2] == ["oauth", "token"] and len(parts) == 2:
        return "token", TOKEN_ENDPOINT, None
    if not parts or parts[0] != "rest" or len(parts) not in (2, 4):
        return "unknown", None, None
    name = parts[-1]
    for suffix in (".json",):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
    credentials = (parts[1], parts[2]) if len(parts) == 4 else None
    return "rest", name.lower(), credentials


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: EmulatorHTTPServer

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes; without this, Nagle plus delayed ACKs
        # add ~40 ms to every keep-alive request.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
        pass

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    # -- plumbing ----------------------------------------------------------------------------
    def _abort(self) -> None:
        """Reset the connection without a reply (the client sees a connection error)."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        except OSError:
            pass

    def _send(
        self,
        status: int,
        body: bytes,
        content_type: str = "application/json; charset=utf-8",
        headers: dict | None = None,
    ) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError, OSError):
            self.close_connection = True

    def _drain_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            return self._read_chunked()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _read_chunked(self) -> bytes:
        chunks: list[bytes] = []
        while True:
            size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):  # trailers
                    pass
                return b"".join(chunks)
            chunks.append(self.rfile.read(size))
            self.rfile.readline()  # CRLF after each chunk

    def _read_params(self, query: str) -> dict:
        body = self._drain_body()
        params = parse_php_query(query) if query else {}
        params.update(parse_body(body, self.headers.get("Content-Type", "")))
        return params

    # -- one request -------------------------------------------------------------------------
    def _serve(self) -> None:
        portal: Portal = self.server.portal
        started = time.time()
        url = urlsplit(self.path)
        raw = RAW_ROUTES.get((self.command, url.path.rstrip("/").lower()))
        if raw is not None:
            raw(self, portal, parse_php_query(url.query) if url.query else {})
            return
        if url.path.rstrip("/").lower() == AUTHORIZE_PATH:
            self._drain_body()
            self._authorize(portal, parse_php_query(url.query) if url.query else {}, started)
            return
        kind, name, credentials = parse_route(url.path)
        logged_path = url.path.replace(f"/{credentials[1]}/", "/***/", 1) if credentials else url.path
        record = RequestRecord(
            method=name or url.path, params={}, auth_kind=None, http_method=self.command, path=logged_path
        )
        if kind == "unknown":
            self._drain_body()
            self._finish(record, failure(404, "ERROR_METHOD_NOT_FOUND", "Method not found!"), started)
            return
        early = portal.take_fault(name, ("drop_before", "redirect", "html"))
        if early is not None:
            record.fault = early.kind
            record.http_status = 0 if early.kind == "drop_before" else early.status
            portal.log(record)
            if early.kind == "drop_before":
                self._abort()
                return
            self._drain_body()  # an unread body would be parsed as the next keep-alive request
            if early.kind == "redirect":
                self.close_connection = True
                location = (early.location or "").rstrip("/") + self.path
                self._send(early.status or 302, b"", "text/html", {"Location": location})
            else:
                self._send(
                    early.status, _HTML_PAGE.format(status=early.status).encode(), "text/html; charset=utf-8"
                )
            return
        try:
            params = self._read_params(url.query)
        except (ValueError, UnicodeDecodeError):
            self._finish(record, failure(400, "INVALID_REQUEST", "Malformed request body"), started)
            return
        record.params = {k: v for k, v in params.items() if k != "auth"}
        if kind == "token":
            record.params = {"grant_type": params.get("grant_type")}
            outcome = self._api_fault(portal, name, record)
            if outcome is None and params.get("grant_type") == "authorization_code":
                outcome = self._exchange_code(portal, params)
            outcome = outcome or token_endpoint(portal, params)
            body = outcome.result if outcome.ok else outcome.envelope()
            self._finish(record, outcome, started, body=body)
            return
        outcome = self._api_fault(portal, name, record) or self._rest(
            portal, name or "", credentials, params, record
        )
        self._finish(record, outcome, started)

    # -- OAuth: the user's consent and the authorization_code grant ----------------------------
    def _authorize(self, portal: Portal, query: dict, started: float) -> None:
        """``/oauth/authorize/?client_id=..&state=..``: the user (the portal administrator) is
        signed in and consents at once; the browser goes to the application's redirect URI with
        ``code``, ``state``, ``domain``, ``member_id``, ``scope`` and ``server_domain``. When
        consent fails the portal shows an error page and sends the browser nowhere."""
        app: OAuthApp = self.server.oauth_app
        record = RequestRecord(
            method="oauth/authorize",
            params={"client_id": query.get("client_id")},
            auth_kind=None,
            http_method=self.command,
            path=AUTHORIZE_PATH + "/",
        )
        if query.get("client_id") != portal.client_id:
            problem = (400, "The application was not found on this portal (check client_id).")
        elif not app.approve:
            problem = (403, "Access denied: the application was not authorised.")
        elif not app.redirect_uri:
            problem = (400, "The application has no redirect URI in its settings.")
        else:
            problem = None
        record.duration = time.time() - started
        if problem is not None:
            record.http_status, record.error = problem[0], "authorization_failed"
            portal.log(record)
            page = f"<html><body><h1>Authorization failed</h1><p>{html.escape(problem[1])}</p></body></html>"
            self._send(problem[0], page.encode(), "text/html; charset=utf-8")
            return
        code = secrets.token_hex(16)
        with portal.lock:
            now = time.time()
            for stale in [c for c, (_, expires) in app.codes.items() if expires <= now]:
                del app.codes[stale]
            app.codes[code] = (portal.webhook_user_id, now + CODE_LIFETIME)
        netloc = urlsplit(portal.base_url).netloc
        reply = {"code": code, "state": query.get("state"), "domain": netloc, "member_id": portal.member_id}
        reply.update({"scope": portal.scope, "server_domain": netloc})
        target = app.redirect_uri or ""
        location = (
            target
            + ("&" if "?" in target else "?")
            + urlencode({k: v for k, v in reply.items() if v is not None})
        )
        record.http_status = 302
        portal.log(record)
        self._send(302, b"", "text/html", {"Location": location})

    def _exchange_code(self, portal: Portal, params: dict) -> Outcome:
        """``grant_type=authorization_code``: a code works once and for ``CODE_LIFETIME`` seconds."""
        app: OAuthApp = self.server.oauth_app
        if params.get("client_id") != portal.client_id or params.get("client_secret") != portal.client_secret:
            return failure(401, "invalid_client", "Invalid client credentials")
        if not params.get("code"):
            return failure(400, "invalid_request", "code is required")
        with portal.lock:
            user_id, expires = app.codes.pop(str(params["code"]), (None, 0.0))
            if user_id is None or expires <= time.time():
                return failure(400, "invalid_grant", "Invalid authorization code")
            access, refresh, lifetime = portal.issue_tokens(user_id)
        return Outcome(result=portal.token_reply(user_id, access, refresh, lifetime))

    @staticmethod
    def _api_fault(portal: Portal, name: str | None, record: RequestRecord) -> Outcome | None:
        fault = portal.take_fault(name, ("error",))
        if fault is None:
            return None
        record.fault = fault.kind
        return failure(fault.status, fault.error, fault.description)

    def _rest(
        self,
        portal: Portal,
        name: str,
        credentials: tuple[str, str] | None,
        params: dict,
        record: RequestRecord,
    ) -> Outcome:
        if credentials is not None:
            identity = authenticate_webhook(portal, *credentials)
        else:
            identity = authenticate_token(portal, params.get("auth"))
        if isinstance(identity, Outcome):
            return identity
        record.auth_kind = identity.kind
        if portal.rate is not None and not portal.rate.try_acquire():
            return failure(503, "QUERY_LIMIT_EXCEEDED", "Too many requests")
        params.pop("auth", None)
        return execute(portal, identity, name, params, record)

    def _finish(self, record: RequestRecord, outcome: Outcome, started: float, body: Any = None) -> None:
        portal: Portal = self.server.portal
        cost = portal.cost
        pending = outcome.cost + (cost.latency if cost else 0.0)
        cut_off = (
            cost is not None
            and cost.time_limit is not None
            and (outcome.timed_out or pending > cost.time_limit)
        )
        if cut_off and cost is not None and cost.time_limit is not None:
            pending = cost.time_limit
        # The modelled time is the request's whole service time: the emulator's own processing
        # (handlers, JSON encoding) counts toward it, and only the rest is slept. Otherwise
        # the emulator's CPU, which a real portal does not spend, would be added to the model.
        finish_at = started + pending if cost is not None and cost.sleep else 0.0
        if cut_off:
            _sleep_until(finish_at)
            record.http_status, record.error, record.fault = 504, "GATEWAY_TIMEOUT", "time_limit"
            record.duration = time.time() - started
            portal.log(record)
            self.close_connection = True
            self._send(504, _HTML_PAGE.format(status=504).encode(), "text/html; charset=utf-8")
            return
        if outcome.ok and outcome.time:
            outcome.time["finish"] = max(outcome.time["finish"], finish_at, time.time())
            outcome.time["duration"] = outcome.time["finish"] - started
            outcome.time["start"] = started
        payload = encode_json(body if body is not None else outcome.envelope())
        _sleep_until(finish_at)
        record.http_status, record.error, record.count_query = (
            outcome.status,
            outcome.error,
            outcome.count_query or record.count_query,
        )
        record.duration = time.time() - started
        late = portal.take_fault(record.method, ("drop_after", "delay", "truncated"))
        if late is not None:
            record.fault = late.kind
        portal.log(record)
        if late is not None and late.kind == "drop_after":
            self._abort()
            return
        if late is not None and late.kind == "delay":
            time.sleep(late.delay)
        if late is not None and late.kind == "truncated":
            payload = payload[: max(1, len(payload) // 2)]
        self._send(outcome.status, payload)


def _sleep_until(deadline: float) -> None:
    remaining = deadline - time.time()
    if remaining > 0:
        time.sleep(remaining)


class EmulatorHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(
        self,
        address: tuple[str, int],
        portal: Portal,
        tls: ssl.SSLContext | None = None,
        oauth_app: OAuthApp | None = None,
    ) -> None:
        super().__init__(address, _RequestHandler)
        self.portal = portal
        self.tls = tls
        self.oauth_app = oauth_app if oauth_app is not None else OAuthApp()

    def finish_request(self, request: Any, client_address: Any) -> None:
        """With TLS, the handshake runs in the connection's own thread (not in the accept loop)."""
        if self.tls is None:
            super().finish_request(request, client_address)
            return
        try:
            connection = self.tls.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return
        try:
            self.RequestHandlerClass(connection, client_address, self)  # type: ignore[arg-type]
        finally:
            connection.close()
