"""Method registry of the portal emulator.

Handler modules under ``emulator/handlers/`` register REST methods with :func:`method`; the
server core dispatches by lower-cased method name. A handler gets a :class:`CallContext` and the
decoded parameters and returns either a plain result or a :class:`Reply` (list methods use it to
set ``next``/``total``). To answer with a Bitrix24 error, raise :class:`ApiError`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Handler = Callable[["CallContext", dict], Any]

HANDLERS: dict[str, Handler] = {}


def method(*names: str) -> Callable[[Handler], Handler]:
    """Register ``fn`` as the handler of each REST method in ``names``."""

    def register(fn: Handler) -> Handler:
        for name in names:
            key = name.lower()
            if key in HANDLERS and HANDLERS[key] is not fn:
                raise RuntimeError(f"emulator method {key} registered twice")
            HANDLERS[key] = fn
        return fn

    return register


@dataclass
class Reply:
    """A result plus the list-paging keys of the success envelope."""

    result: Any
    next: int | None = None
    total: int | None = None


class ApiError(Exception):
    """A Bitrix24 error reply: HTTP status plus ``error``/``error_description``."""

    def __init__(self, status: int, code: str, description: str = "") -> None:
        super().__init__(f"{status} {code}: {description}")
        self.status = status
        self.code = code
        self.description = description


@dataclass
class CallContext:
    """What a handler may use: the portal state, who is calling, and the raw request."""

    portal: Any  # emulator.state.Portal
    auth_kind: str  # "webhook" | "oauth"
    user_id: int
    method: str
    app: bool = False  # True when called with an OAuth application token
    extra: dict = field(default_factory=dict)


# Plain HTTP routes that are not REST method calls (signed file links and the like). A route gets
# the server's request handler (``_send``, ``_abort``, ``rfile``, ``headers``), the portal and the
# decoded query string, and writes the whole reply itself.
RawRoute = Callable[[Any, Any, dict], None]
RAW_ROUTES: dict[tuple[str, str], RawRoute] = {}


def raw_route(verb: str, path: str) -> Callable[[RawRoute], RawRoute]:
    """Register ``fn`` for ``verb`` requests to ``path`` (matched without a trailing slash)."""

    def register(fn: RawRoute) -> RawRoute:
        key = (verb.upper(), path.rstrip("/").lower())
        if key in RAW_ROUTES and RAW_ROUTES[key] is not fn:
            raise RuntimeError(f"emulator route {key} registered twice")
        RAW_ROUTES[key] = fn
        return fn

    return register
