"""Plain HTTP legs of Drive file transfer in the emulator (not REST method calls).

``POST /rest/upload.json`` takes the streamed multipart body of the two-step upload and
``GET /rest/download.json`` streams every ``DOWNLOAD_URL`` (an injected fault drops the
connection midway). Both are registered on the server's raw route registry; the Drive logic
is in :mod:`.disk`.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlsplit

from airflow_provider_bitrix24.emulator import server as _server
from airflow_provider_bitrix24.emulator.registry import ApiError, raw_route
from airflow_provider_bitrix24.emulator.state import RequestRecord

from . import disk


def _log(
    portal: Any,
    handler: Any,
    name: str,
    status: int,
    started: float,
    error: Any = None,
    fault: str | None = None,
) -> None:
    record = RequestRecord(
        method=name,
        params={},
        auth_kind=None,
        http_status=status,
        error=error,
        http_method=handler.command,
        path=urlsplit(handler.path).path,
        fault=fault,
    )
    record.duration = time.time() - started
    portal.log(record)


def _reply_error(handler: Any, portal: Any, name: str, exc: ApiError, started: float) -> None:
    handler.close_connection = True  # the request body may be unread
    body = _server.encode_json({"error": exc.code, "error_description": exc.description})
    _log(portal, handler, name, exc.status, started, exc.code)
    handler._send(exc.status, body)


@raw_route("POST", "/rest/upload.json")
def upload(handler: Any, portal: Any, query: dict) -> None:
    started = time.time()
    try:
        envelope = disk.serve_upload(portal, query, handler.headers, handler.rfile)
    except ApiError as exc:
        _reply_error(handler, portal, "upload", exc, started)
        return
    _log(portal, handler, "upload", 200, started)
    handler._send(200, _server.encode_json(envelope))


@raw_route("GET", "/rest/download.json")
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
