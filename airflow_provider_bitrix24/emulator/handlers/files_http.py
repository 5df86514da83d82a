"""Plain HTTP routes of the emulator: the file legs that are not REST method calls.

The server core routes ``/rest/<method>`` to the method registry; signed file links
(``/rest/upload.json``, ``/rest/download.json`` and links of other modules registered here)
need the raw request instead: a streamed multipart body in, a streamed file out, a connection
dropped midway. :data:`ROUTES` maps ``(HTTP verb, path)`` to such a handler and
:func:`install` puts a small dispatcher in front of the server's request handling (once; the
server core itself is unchanged). Handlers get the server's request handler object.
"""

from __future__ import annotations

import time
from typing import Any, Callable
from urllib.parse import urlsplit

from airflow_provider_bitrix24.emulator import server as _server
from airflow_provider_bitrix24.emulator.params import parse_php_query
from airflow_provider_bitrix24.emulator.registry import ApiError
from airflow_provider_bitrix24.emulator.state import RequestRecord

from . import disk

RawRoute = Callable[[Any, Any, dict], None]  # (request handler, portal, query params)
ROUTES: dict[tuple[str, str], RawRoute] = {}


def route(verb: str, path: str) -> Callable[[RawRoute], RawRoute]:
    def register(fn: RawRoute) -> RawRoute:
        key = (verb.upper(), path.lower())
        if key in ROUTES and ROUTES[key] is not fn:
            raise RuntimeError(f"emulator route {key} registered twice")
        ROUTES[key] = fn
        return fn

    return register


def install() -> None:
    """Serve :data:`ROUTES` before the server's own routing (idempotent)."""
    handler_cls = _server._RequestHandler
    if getattr(handler_cls, "_raw_routes_installed", False):
        return
    core_serve = handler_cls._serve

    def _serve(self: Any) -> None:
        url = urlsplit(self.path)
        fn = ROUTES.get((self.command, url.path.rstrip("/").lower()))
        if fn is None:
            core_serve(self)
            return
        fn(self, self.server.portal, parse_php_query(url.query) if url.query else {})

    handler_cls._serve = _serve
    handler_cls._raw_routes_installed = True


def _log(portal: Any, handler: Any, name: str, status: int, started: float, error: Any = None, fault: str | None = None) -> None:
    record = RequestRecord(
        method=name, params={}, auth_kind=None, http_status=status, error=error,
        http_method=handler.command, path=urlsplit(handler.path).path, fault=fault,
    )
    record.duration = time.time() - started
    portal.log(record)


def _reply_error(handler: Any, portal: Any, name: str, exc: ApiError, started: float) -> None:
    handler.close_connection = True  # the request body may be unread
    body = _server.encode_json({"error": exc.code, "error_description": exc.description})
    _log(portal, handler, name, exc.status, started, exc.code)
    handler._send(exc.status, body)


@route("POST", "/rest/upload.json")
def upload(handler: Any, portal: Any, query: dict) -> None:
    started = time.time()
    try:
        envelope = disk.serve_upload(portal, query, handler.headers, handler.rfile)
    except ApiError as exc:
        _reply_error(handler, portal, "upload", exc, started)
        return
    _log(portal, handler, "upload", 200, started)
    handler._send(200, _server.encode_json(envelope))


@route("GET", "/rest/download.json")
def download(handler: Any, portal: Any, query: dict) -> None:
    started = time.time()
    try:
        item = disk.serve_download(portal, query, handler.headers)
    except ApiError as exc:
        _reply_error(handler, portal, "download", exc, started)
        return
    stream_file(handler, portal, "download", item, started)


def stream_file(handler: Any, portal: Any, name: str, item: disk.Download, started: float) -> None:
    """Send ``item`` with its headers; an injected fault resets the connection midway."""
    try:
        handler.send_response(200)
        for key, value in item.headers().items():
            handler.send_header(key, value)
        handler.end_headers()
        for chunk in item.chunks():
            handler.wfile.write(chunk)
        handler.wfile.flush()
    except ConnectionAbortedError:
        _log(portal, handler, name, 200, started, fault="drop_midway")
        handler.wfile.flush()
        handler._abort()
        return
    except OSError:  # the client went away
        handler.close_connection = True
    _log(portal, handler, name, 200, started)


install()
