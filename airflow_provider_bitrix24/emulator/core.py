"""The public :class:`Emulator`: a local Bitrix24 portal served over real HTTP."""

from __future__ import annotations

import re
import ssl
import threading
from collections.abc import Callable, Iterable
from typing import Any

from . import dispatch  # noqa: F401  (registers ``batch``)
from .entities import ENTITIES, seed_rows
from .handlers import load_all
from .server import DEFAULT_REDIRECT_URI, EmulatorHTTPServer, OAuthApp
from .state import FAULT_KINDS, CostModel, Fault, Portal, RequestRecord


class Emulator:
    """A Bitrix24 portal on ``http://host:port`` (port 0 picks a free one) run in a thread.

    Pass a server-side ``ssl_context`` to serve HTTPS instead (clients that only speak https,
    benchmarks that should pay for TLS like a real portal).

    ``webhook_user_id`` and ``webhook_code`` fix the inbound webhook's credentials (random code
    by default), so a connection saved once keeps working across restarts. ``redirect_uri`` is the
    OAuth application's redirect URI, which ``/oauth/authorize/`` sends the browser back to.

    Use as a context manager, or call :meth:`start` / :meth:`stop`. Every attribute is safe to
    read from tests while clients talk to it.
    """

    def __init__(
        self,
        port: int = 0,
        host: str = "127.0.0.1",
        ssl_context: ssl.SSLContext | None = None,
        *,
        webhook_user_id: int | None = None,
        webhook_code: str | None = None,
        redirect_uri: str | None = DEFAULT_REDIRECT_URI,
    ) -> None:
        load_all()
        self.portal = Portal()
        if webhook_code is not None:
            if not re.fullmatch(r"[A-Za-z0-9]+", webhook_code):
                raise ValueError("webhook_code must be letters and digits only (it is a URL path segment)")
            self.portal.webhook_code = webhook_code
        if webhook_user_id is not None:
            if int(webhook_user_id) < 1:
                raise ValueError("webhook_user_id must be a positive user id")
            self.portal.webhook_user_id = int(webhook_user_id)
            self.portal.reset()  # re-create the administrator under that id
        self.oauth_app = OAuthApp(redirect_uri=redirect_uri)
        self._host, self._port = host, port
        self._tls = ssl_context
        self._server: EmulatorHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> Emulator:
        self._server = EmulatorHTTPServer((self._host, self._port), self.portal, self._tls, self.oauth_app)
        self.portal.base_url = self.url
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="bitrix24-emulator",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def wait(self) -> None:
        """Block until the server stops (the CLI's foreground mode)."""
        while self._thread is not None and self._thread.is_alive():
            self._thread.join(0.5)

    # -- addresses and credentials -------------------------------------------------------------
    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("emulator is not running")
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"{'https' if self._tls else 'http'}://{self._host}:{self.port}"

    @property
    def webhook_user_id(self) -> int:
        return self.portal.webhook_user_id

    @property
    def webhook_code(self) -> str:
        return self.portal.webhook_code

    @property
    def webhook_url(self) -> str:
        return f"{self.url}/rest/{self.webhook_user_id}/{self.webhook_code}/"

    @property
    def client_id(self) -> str:
        return self.portal.client_id

    @property
    def client_secret(self) -> str:
        return self.portal.client_secret

    @property
    def token_url(self) -> str:
        return f"{self.url}/oauth/token/"

    @property
    def authorize_url(self) -> str:
        """Where an application sends the user for consent (``?client_id=..&state=..``)."""
        return f"{self.url}/oauth/authorize/"

    @property
    def redirect_uri(self) -> str | None:
        """The OAuth application's redirect URI (its settings, not a request parameter)."""
        return self.oauth_app.redirect_uri

    @redirect_uri.setter
    def redirect_uri(self, value: str | None) -> None:
        self.oauth_app.redirect_uri = value

    @property
    def approve_consent(self) -> bool:
        """False: ``/oauth/authorize/`` refuses as a portal does (an error page, no redirect)."""
        return self.oauth_app.approve

    @approve_consent.setter
    def approve_consent(self, value: bool) -> None:
        self.oauth_app.approve = bool(value)

    def issue_tokens(self, expires_in: int | None = 3600, user_id: int | None = None) -> tuple[str, str]:
        access, refresh, _ = self.portal.issue_tokens(user_id, expires_in)
        return access, refresh

    def expire_access_tokens(self) -> None:
        self.portal.expire_access_tokens()

    def revoke_refresh_tokens(self) -> None:
        """Every refresh token issued so far now answers ``invalid_grant`` (expired after 180
        days, or the app was reinstalled): the user must authorise the application again."""
        with self.portal.lock:
            self.portal.refresh_tokens.clear()

    @property
    def refresh_count(self) -> int:
        """How many refresh_token grants succeeded since the last reset."""
        return self.portal.refresh_count

    # -- data --------------------------------------------------------------------------------
    def seed(self, entity: str, rows: Iterable[dict], **options: Any) -> list[int]:
        """Insert rows into an entity table (``"crm.deal"``, ``"user"``, ``"tasks.task"``, ...)
        and return their ids. Field names may be given in either case; missing timestamps and
        documented defaults are filled in. ``crm.item`` takes ``entity_type_id=``."""
        spec, table = self._table(entity, options)
        with self.portal.lock:
            return seed_rows(spec, table, list(rows), self.webhook_user_id)

    def seed_generated(
        self, entity: str, count: int, factory: Callable[[int], dict] | None = None, **options: Any
    ) -> range:
        """Append ``count`` rows built on demand from their id (no per-row memory), for exports of
        a million rows. ``factory(id) -> dict`` defaults to the entity's sample generator."""
        spec, table = self._table(entity, options)
        make = factory or spec.sample
        if make is None:
            raise ValueError(f"{entity} has no sample generator; pass factory=")
        with self.portal.lock:
            return table.add_generated(count, make)

    def _table(self, entity: str, options: dict):
        from .handlers.crm import item_table_name

        if entity == "crm.item":  # the item view's names over the type's table
            return ENTITIES["crm.item"], self.portal.table(
                item_table_name(int(options.get("entity_type_id", 0)))
            )
        if entity not in ENTITIES:
            raise KeyError(f"unknown emulator entity {entity!r}; known: {sorted(ENTITIES)}")
        return ENTITIES[entity], self.portal.table(entity)

    def table(self, entity: str, **options: Any):
        """The live :class:`~.table.Table` of an entity (for assertions on stored rows)."""
        return self._table(entity, options)[1]

    def rows(self, entity: str, **options: Any) -> list[dict]:
        """Every stored row of an entity, canonical field names, datetimes as epoch seconds."""
        table = self.table(entity, **options)
        with self.portal.lock:
            rows, _, _ = table.query({}, [], 0, len(table), False)
        return rows

    # -- observation ---------------------------------------------------------------------------
    @property
    def requests(self) -> list[RequestRecord]:
        with self.portal.lock:
            return list(self.portal.requests)

    def calls(self, method: str | None = None) -> list[RequestRecord]:
        """Every executed method call, batch commands flattened in order; filter by method."""
        out = []
        for record in self.requests:
            if record.is_batch:
                out.extend(record.sub_calls)
            else:
                out.append(record)
        return [r for r in out if method is None or r.method == method.lower()]

    def clear_requests(self) -> None:
        with self.portal.lock:
            self.portal.requests.clear()

    @property
    def count_queries(self) -> int:
        """List calls that ran the COUNT query (``start >= 0``) since the last reset."""
        return self.portal.count_queries

    # -- behaviour ---------------------------------------------------------------------------
    def inject_fault(
        self,
        status: int = 500,
        error: Any = "INTERNAL_SERVER_ERROR",
        description: str = "",
        count: int = 1,
        method: str | None = None,
        *,
        kind: str = "error",
        delay: float = 0.0,
        location: str | None = None,
        skip: int = 0,
    ) -> Fault:
        """Make the next ``count`` matching requests fail.

        ``kind="error"`` answers ``{"error", "error_description"}`` with ``status`` (200 puts the
        error inside a success status; ``error`` may be numeric or empty). Transport kinds:
        ``drop_before`` (connection reset, request not executed), ``drop_after`` (executed, then
        reset), ``delay`` (executed, reply held ``delay`` seconds), ``html`` (an HTML error page
        with ``status``, not executed), ``truncated`` (executed, half the JSON), ``redirect`` (302 to
        ``location`` + the same path, not executed). ``method`` limits it to one REST method
        (``"oauth/token"`` targets the token endpoint); by default it hits any REST request.
        ``skip`` lets that many matching requests through first (fail the third page, not the first).
        """
        if kind not in FAULT_KINDS:
            raise ValueError(f"fault kind must be one of {FAULT_KINDS}")
        if kind == "redirect":
            status = 302 if status == 500 else status
            if not location:
                raise ValueError("redirect fault needs location=")
        if kind == "html" and status == 500:
            status = 502
        fault = Fault(
            kind, status, error, description, count, method.lower() if method else None, delay, location, skip
        )
        with self.portal.lock:
            self.portal.faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        with self.portal.lock:
            self.portal.faults.clear()

    def configure(self, **options: Any) -> None:
        """Change limits and behaviour. Options: ``rate_limit`` (``{"burst", "per_second"}``, a
        (burst, per_second) pair or None), ``operating_limit`` (seconds or None),
        ``operating_basket_seconds``, ``operating_baskets``, ``cost`` (:class:`CostModel` or None),
        ``access_token_lifetime``, ``scopes`` (granted scopes or None for all),
        ``timezone_hours`` (portal UTC offset)."""
        self.portal.configure(**options)

    def reset(self) -> None:
        """Empty tables, tokens, log and faults; default limits; consent approved again.
        Credentials and the redirect URI stay the same."""
        self.portal.reset()
        with self.portal.lock:
            self.oauth_app.codes.clear()
            self.oauth_app.approve = True


__all__ = ["Emulator", "CostModel", "RequestRecord", "Fault"]
