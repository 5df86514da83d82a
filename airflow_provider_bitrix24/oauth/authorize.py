"""``python -m airflow_provider_bitrix24.oauth authorize``: the first OAuth pair of an application.

The flow is the full protocol of Bitrix24's OAuth documentation:

1. the browser goes to ``<portal>/oauth/authorize/?client_id=..&state=..``; the portal takes the
   redirect URI from the application's settings, never from the request;
2. after consent the portal sends the browser to that URI with ``code``, ``state``, ``domain``,
   ``member_id``, ``scope`` and ``server_domain``. A localhost URI is received by a listener of
   this command; any other URI is pasted back on stdin. A failed consent sends the browser
   nowhere (the portal shows the reason on its own page), so the listener waits only so long;
3. the code (valid 30 seconds, once) is exchanged at the token URL with ``client_secret``.

``requests_oauthlib.OAuth2Session`` builds the consent URL with its ``state``; oauthlib prepares the
code grant, which goes through the client's one transport: a timeout, no redirect followed (the
request carries the client secret), no resend after a lost reply, and no library DEBUG logging of
the request while it runs. Secrets go to stdout only
when asked for; stderr carries progress and errors without them.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
import threading
import time
import webbrowser
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any, TextIO
from urllib.parse import parse_qs, urlsplit

from oauthlib.oauth2 import WebApplicationClient
from requests_oauthlib import OAuth2Session

from airflow_provider_bitrix24.client import DEFAULT_TOKEN_URL, TokenPair, normalize_portal_url
from airflow_provider_bitrix24.client.errors import (
    Bitrix24ConfigError,
    Bitrix24Error,
    Bitrix24PortalMoved,
    Bitrix24TransportError,
    Bitrix24WriteMayHaveSucceeded,
    register_secret,
    scrub,
)
from airflow_provider_bitrix24.client.policy import RetryPolicy
from airflow_provider_bitrix24.client.transport import Transport

DEFAULT_REDIRECT_URI = "http://localhost:8025/callback"
DEFAULT_WAIT = 300.0  # seconds to wait for the browser to come back
TIMEOUT = (10.0, 60.0)  # connect, read: the token request
_LOOPBACK = ("localhost", "127.0.0.1", "::1")
# Libraries that log request URLs and bodies (client secret, code, tokens) at DEBUG.
_CHATTY_LOGGERS = ("requests_oauthlib", "oauthlib", "urllib3")


class AuthorizeError(Exception):
    """A failed authorization; the message says what to do and never holds a secret."""


# --------------------------------------------------------------------------- the flow


def authorize(
    portal: str,
    client_id: str,
    client_secret: str,
    *,
    redirect_uri: str = DEFAULT_REDIRECT_URI,
    token_url: str = DEFAULT_TOKEN_URL,
    browser: bool = True,
    wait: float = DEFAULT_WAIT,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> tuple[dict, dict]:
    """Run the consent and the code exchange; return ``(token reply, redirect parameters)``.

    ``browser`` False prints the consent URL on ``stdout`` and reads the address the browser was
    sent back to from ``stdin``; True opens a browser and, for a localhost ``redirect_uri``,
    receives the redirect on a local listener (else reads it from ``stdin`` as well).
    """
    stdin, stdout, stderr = stdin or sys.stdin, stdout or sys.stdout, stderr or sys.stderr
    register_secret(client_secret)
    if not client_id or not client_secret:
        raise AuthorizeError(
            "--client-id and --client-secret are required (the application's form in Bitrix24)"
        )
    try:
        portal = normalize_portal_url(portal)
    except Bitrix24ConfigError as exc:
        raise AuthorizeError(f"--portal: {exc.description}") from None
    _require_http_url("--token-url", token_url)
    _require_http_url("--redirect-uri", redirect_uri)

    session = OAuth2Session(client_id)
    with _plain_http_allowed(portal, token_url):
        consent_url, state = session.authorization_url(f"{portal}/oauth/authorize/")
        listener = _Listener(redirect_uri) if browser and _is_loopback(redirect_uri) else None
        try:
            if browser:
                _say(stderr, f"Opening the portal's consent page in your browser:\n  {consent_url}")
                if not webbrowser.open(consent_url):  # also False when a launcher exits at once
                    _say(stderr, "If no browser opened, open the address above yourself.")
            else:
                print(consent_url, file=stdout, flush=True)
                _say(
                    stderr,
                    "Open the address above in a browser signed in to the portal and allow the application.",
                )
            if listener is not None:
                _say(stderr, f"Waiting for the portal to send the browser back to {redirect_uri} ...")
                returned = listener.wait(wait)
            else:
                returned = _read_pasted(stdin, stderr, redirect_uri)
        finally:
            if listener is not None:
                listener.stop()
        received = parse_redirect(returned, state)
        register_secret(received["code"])
        token = exchange_code(token_url, client_id, received["code"], client_secret)
    return token, {k: v for k, v in received.items() if k != "code"}


def parse_redirect(url: str, state: str) -> dict[str, str]:
    """The redirect's parameters, after checking it answers this request (``state``)."""
    query = {k: v[-1] for k, v in parse_qs(urlsplit(url.strip()).query, keep_blank_values=True).items()}
    if query.get("error"):
        described = (
            f"{query['error']}: {query['error_description']}"
            if query.get("error_description")
            else query["error"]
        )
        raise AuthorizeError(
            f"The portal did not grant access ({scrub(described)}). Allow the application on the consent "
            "page, as a user who may use it, and run the command again."
        )
    if not query.get("code"):
        raise AuthorizeError(
            "The address has no authorization code: the portal did not send the browser back to the "
            "application. Consent was refused or failed (the portal shows why on its own page, for example "
            "when the application is not installed), or the address given is not the one the browser "
            "ended on after consent."
        )
    if query.get("state") != state:
        raise AuthorizeError(
            "State mismatch: the redirect does not answer this authorization request (an address from an "
            "earlier attempt, or a forged one). Nothing was exchanged; run the command again and use the "
            "address of this run."
        )
    return query


def exchange_code(token_url: str, client_id: str, code: str, client_secret: str) -> dict:
    """``grant_type=authorization_code`` as a GET with query parameters, as the docs show, through
    the client's one transport: a timeout, no redirect followed (the request carries the client
    secret), and never resent after a lost reply (a code works once)."""
    query = WebApplicationClient(client_id).prepare_request_body(
        code=code, client_secret=client_secret, include_client_id=True
    )
    # The token endpoint has no operating-time limit: a 429 there is refused, not waited out.
    transport = Transport.standalone(
        policy=RetryPolicy(max_retries=2, max_operation_wait=0.0), timeout=TIMEOUT
    )
    try:
        with _quiet_http_logs():
            reply = transport.token_request(f"{token_url}?{query}", resend_safe=False)
    except Bitrix24PortalMoved as exc:
        raise AuthorizeError(
            f"The token URL answered with a redirect to {exc.new_url or 'another address'}; it was not "
            "followed because the request carries the client secret. Pass the final address as --token-url."
        ) from None
    except Bitrix24WriteMayHaveSucceeded as exc:  # the reply was lost; a code is never sent twice
        what = "the request timed out" if "Timeout" in (exc.description or "") else "the reply was lost"
        raise AuthorizeError(
            f"Could not reach the token URL {token_url}: {what} ({scrub(exc.description)}). The code "
            "works once and was not sent again: run the command again."
        ) from None
    except Bitrix24TransportError as exc:
        raise AuthorizeError(f"Could not reach the token URL {token_url}: {scrub(exc)}") from None
    except Bitrix24Error as exc:
        raise AuthorizeError(_explain(exc.code or "", exc.description or "")) from None
    finally:
        transport.close()
    if not isinstance(reply, dict):
        raise AuthorizeError(
            "The token URL answered without a JSON token reply: is --token-url the authorization server "
            f"(default {DEFAULT_TOKEN_URL})?"
        )
    if reply.get("error"):
        raise AuthorizeError(_explain(str(reply["error"]), str(reply.get("error_description") or "")))
    if not reply.get("access_token") or not reply.get("refresh_token"):
        raise AuthorizeError("The token URL's reply holds no access_token/refresh_token pair.")
    register_secret(reply["access_token"])
    register_secret(reply["refresh_token"])
    return dict(reply)


def _explain(code: str, description: str) -> str:
    said = scrub(f"{code}: {description}" if description else code)
    if code == "invalid_client":
        return (
            f"The authorization server refused the application's credentials ({said}). Check --client-id and "
            "--client-secret against the application's form in Bitrix24 (Developer resources), and that the "
            "application is installed on this portal."
        )
    if code == "invalid_grant":
        return (
            f"The authorization code was refused ({said}). A code lives 30 seconds and works once: run the "
            "command again and let it exchange the code at once."
        )
    if code in ("invalid_scope", "insufficient_scope"):
        return f"The scopes exceed the application's card ({said}): add the permissions in its settings."
    if code == "PAYMENT_REQUIRED":
        return (
            f"The application's trial or paid period is over ({said}); renew it, then run the command again."
        )
    return f"The authorization server refused the code exchange ({said})."


# --------------------------------------------------------------------------- receiving the redirect


class _Listener:
    """A one-shot HTTP listener on a localhost redirect URI (the browser's way back)."""

    def __init__(self, redirect_uri: str) -> None:
        parts = urlsplit(redirect_uri)
        self.redirect_uri = redirect_uri
        self.path = parts.path.rstrip("/") or ""
        self.base = f"{parts.scheme}://{parts.netloc}{parts.path or '/'}"
        self.received: str | None = None
        self.done = threading.Event()
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urlsplit(self.path)
                if url.path.rstrip("/") != listener.path or listener.done.is_set():
                    self._reply(404, "This is not the redirect URI.")
                    return
                query = parse_qs(url.query)
                if not ({"code", "error", "state"} & set(query)):
                    self._reply(400, "No authorization code in this request; still waiting.")
                    return
                listener.received = f"{listener.base}?{url.query}"
                self._reply(
                    200, "Authorization received. You can close this tab and go back to the terminal."
                )
                listener.done.set()

            def _reply(self, status: int, text: str) -> None:
                body = f"<html><body><p>{text}</p></body></html>".encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # the request line holds the code
                pass

        bind = "::1" if parts.hostname == "::1" else "127.0.0.1"
        server_class = type("Server", (HTTPServer,), {"address_family": _family(bind)})
        try:
            self.server = server_class((bind, parts.port or 80), Handler)
        except OSError as exc:
            raise AuthorizeError(
                f"Cannot listen on {redirect_uri} ({exc.strerror or exc}). Choose a free port: set the "
                "application's redirect URI in Bitrix24 to http://localhost:<port>/... and pass the same "
                "--redirect-uri."
            ) from None
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )
        self.thread.start()

    def wait(self, seconds: float) -> str:
        if not self.done.wait(seconds) or self.received is None:
            raise AuthorizeError(
                f"No redirect reached {self.redirect_uri} within {seconds:.0f} s. Either consent was not given "
                "(the portal then shows the reason on its own page and sends the browser nowhere, for example "
                "when the application is not installed), or the application's redirect URI in Bitrix24 is not "
                f"{self.redirect_uri}: set it there, or pass the one it has with --redirect-uri."
            )
        return self.received

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _family(host: str) -> int:
    import socket

    return socket.AF_INET6 if ":" in host else socket.AF_INET


def _read_pasted(stdin: TextIO, stderr: TextIO, redirect_uri: str) -> str:
    _say(
        stderr, f"Paste the address your browser was sent to (it starts with {redirect_uri}) and press Enter:"
    )
    line = stdin.readline()
    if not line.strip():
        raise AuthorizeError("No address was given on stdin.")
    return line.strip()


def _is_loopback(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme == "http" and (parts.hostname or "") in _LOOPBACK


def _require_http_url(option: str, url: str) -> None:
    parts = urlsplit(url or "")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise AuthorizeError(f"{option} must be an http(s) URL, got {scrub(url)!r}")


@contextlib.contextmanager
def _plain_http_allowed(*urls: str) -> Iterator[None]:
    """oauthlib refuses http URLs; allow them only when the user gave one (a local portal)."""
    if not any(urlsplit(u).scheme == "http" for u in urls):
        yield
        return
    previous = os.environ.get("OAUTHLIB_INSECURE_TRANSPORT")
    os.environ["OAUTHLIB_INSECURE_TRANSPORT"] = "1"
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("OAUTHLIB_INSECURE_TRANSPORT", None)
        else:
            os.environ["OAUTHLIB_INSECURE_TRANSPORT"] = previous


@contextlib.contextmanager
def _quiet_http_logs() -> Iterator[None]:
    loggers = [logging.getLogger(name) for name in _CHATTY_LOGGERS]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(max(lg.getEffectiveLevel(), logging.INFO))
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def _say(stream: TextIO, text: str) -> None:
    print(text, file=stream, flush=True)


# --------------------------------------------------------------------------- the connection


def connection_json(portal: str, client_id: str, client_secret: str, token: dict, token_url: str) -> dict:
    """The whole Airflow connection (the JSON form of ``AIRFLOW_CONN_<ID>``)."""
    extra: dict[str, Any] = {
        "auth_type": "oauth2",
        "refresh_token": token["refresh_token"],
        "access_token": token["access_token"],
    }
    if token_url != DEFAULT_TOKEN_URL:
        extra["token_url"] = token_url
    return {
        "conn_type": "bitrix24",
        "host": portal,
        "login": client_id,
        "password": client_secret,
        "extra": extra,
    }


def save_to_connection(conn_id: str, pair: TokenPair, portal: str, client_id: str) -> tuple[Any, Any]:
    """Save ``pair`` (the grant of ``client_id`` on ``portal``) in the token store of connection
    ``conn_id`` (the hook's own resolution: extra ``token_store``, default the Variable named after
    the grant); return ``(store, existing connection or None)``."""
    from airflow.exceptions import AirflowNotFoundException

    from airflow_provider_bitrix24.client import MemoryTokenStore
    from airflow_provider_bitrix24.hooks.bitrix24 import Bitrix24Hook

    hook = Bitrix24Hook(bitrix24_conn_id=conn_id)
    try:
        existing = hook.get_connection(conn_id)
    except AirflowNotFoundException:
        existing = None
    try:
        store = hook.token_store(portal, client_id)
    except Bitrix24ConfigError as exc:
        raise AuthorizeError(exc.description) from None
    if isinstance(store, MemoryTokenStore):
        raise AuthorizeError(
            f"Connection {conn_id!r} keeps its tokens in an Airflow Variable, and Airflow's metadata database "
            "is not reachable from this shell. Run the command where `airflow variables list` works (same "
            "AIRFLOW_HOME and configuration), or give the connection a file store (extra token_store "
            "'file:<path>')."
        )
    try:
        with store.lock():
            store.save(pair)
    except Exception as exc:
        raise AuthorizeError(f"Could not save the token pair in {store!r}: {scrub(exc)}") from None
    return store, existing


def connection_advice(
    conn_id: str, existing: Any, store: Any, portal: str, client_id: str, token_url: str
) -> str:
    """How to add or update the connection so that it starts from the saved pair (no secret in it)."""
    current = existing.extra_dejson if existing is not None else {}
    # The default store is found from the portal and client id alone: only a chosen one is named.
    pinned = current.get("token_store") if isinstance(current, dict) else None
    extra: dict[str, Any] = {"auth_type": "oauth2", **({"token_store": pinned} if pinned else {})}
    if token_url != DEFAULT_TOKEN_URL:
        extra["token_url"] = token_url
    add = (
        f"airflow connections add {conn_id} --conn-type bitrix24 --conn-host {portal} "
        f"--conn-login {client_id} --conn-password '<client secret>' --conn-extra '{json.dumps(extra)}'"
    )
    saved = f"Saved the token pair in {store!r}."
    if existing is None:
        return f"{saved} Connection {conn_id!r} does not exist yet; add it (the client secret of the application):\n  {add}"
    auth_type = str((current or {}).get("auth_type") or "webhook").lower()
    if (
        existing.conn_type == "bitrix24"
        and auth_type == "oauth2"
        and (existing.login or "").strip() == client_id
    ):
        return f"{saved} Connection {conn_id!r} already uses this application and starts from the new pair."
    return (
        f"{saved} Connection {conn_id!r} exists but is not set up for this application (auth type {auth_type}, "
        f"login {existing.login or '-'}). Replace it:\n  airflow connections delete {conn_id}\n  {add}"
    )


# --------------------------------------------------------------------------- command line


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m airflow_provider_bitrix24.oauth",
        description="OAuth helpers for Bitrix24 connections.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    cmd = commands.add_parser(
        "authorize",
        help="get an application's first access/refresh token pair",
        description=(
            "Send the user to the portal's consent page, receive the authorization code on the redirect "
            "URI and exchange it for the first token pair. Progress and errors go to stderr, tokens only "
            "to stdout or to the connection's token store."
        ),
    )
    cmd.add_argument(
        "--portal",
        required=True,
        metavar="URL",
        help="portal address, e.g. https://your-company.bitrix24.com",
    )
    cmd.add_argument(
        "--client-id", required=True, metavar="ID", help="the application's client_id (its form in Bitrix24)"
    )
    cmd.add_argument(
        "--client-secret",
        default=os.environ.get("BITRIX24_CLIENT_SECRET"),
        metavar="SECRET",
        help="the application's client_secret (default: the BITRIX24_CLIENT_SECRET environment variable)",
    )
    cmd.add_argument(
        "--redirect-uri",
        default=DEFAULT_REDIRECT_URI,
        metavar="URI",
        help="the redirect URI set in the application (default: %(default)s); on localhost the command "
        "listens there, otherwise it asks for the address the browser ended on",
    )
    cmd.add_argument(
        "--token-url", default=DEFAULT_TOKEN_URL, metavar="URL", help="token endpoint (default: %(default)s)"
    )
    cmd.add_argument(
        "--conn-id",
        metavar="ID",
        help="save the pair in this Airflow connection's token store and say how to add or update the connection",
    )
    cmd.add_argument(
        "--no-browser",
        action="store_true",
        help="print the consent URL on stdout and read the address the browser was sent back to from stdin",
    )
    cmd.add_argument(
        "--print-connection-json",
        action="store_true",
        help="print the whole connection as one JSON line on stdout, for AIRFLOW_CONN_<ID>",
    )
    cmd.add_argument(
        "--wait",
        type=float,
        default=DEFAULT_WAIT,
        metavar="SECONDS",
        help="how long the local listener waits for the browser (default: %(default)s)",
    )
    return parser


def main(
    argv: list[str] | None = None,
    *,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    stdout, stderr = stdout or sys.stdout, stderr or sys.stderr
    args = build_parser().parse_args(argv)
    try:
        token, received = authorize(
            args.portal,
            args.client_id,
            args.client_secret or "",
            redirect_uri=args.redirect_uri,
            token_url=args.token_url,
            browser=not args.no_browser,
            wait=args.wait,
            stdin=stdin,
            stdout=stdout,
            stderr=stderr,
        )
    except AuthorizeError as exc:
        _say(stderr, f"error: {exc}")
        return 1
    portal = normalize_portal_url(args.portal)
    _say(
        stderr,
        f"Authorised on {received.get('domain') or portal}; scopes granted: {token.get('scope') or received.get('scope') or '?'}",
    )
    connection = connection_json(portal, args.client_id, args.client_secret, token, args.token_url)
    if args.conn_id:
        expires_in = token.get("expires_in")
        pair = TokenPair(
            token["access_token"],
            token["refresh_token"],
            time.time() + float(expires_in) if expires_in else None,
        )
        try:
            store, existing = save_to_connection(args.conn_id, pair, portal, args.client_id)
        except AuthorizeError as exc:
            # The code is spent: print the pair rather than lose it.
            print(json.dumps(connection), file=stdout, flush=True)
            _say(
                stderr,
                f"error: {exc}\nThe connection with the new tokens is on stdout instead, so they are not lost.",
            )
            return 1
        _say(stderr, connection_advice(args.conn_id, existing, store, portal, args.client_id, args.token_url))
    if args.print_connection_json:
        print(json.dumps(connection), file=stdout, flush=True)
    elif not args.conn_id:
        keep = ("access_token", "refresh_token", "expires_in", "scope", "member_id", "client_endpoint")
        print(json.dumps({k: token[k] for k in keep if k in token}), file=stdout, flush=True)
        _say(
            stderr,
            "The token pair is on stdout. Put refresh_token in the connection's extra, or run again with "
            "--conn-id ID (saves it in the connection's token store) or --print-connection-json.",
        )
    return 0
