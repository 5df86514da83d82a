"""Nested parameters -> the query-string form PHP's ``parse_str`` turns back into arrays.

Bitrix24 parses ``batch`` command strings (``method?query``) with PHP rules, so a nested dict
``{"filter": {">ID": 5}, "select": ["ID"]}`` must become ``filter[>ID]=5&select[0]=ID``.
Values follow ``http_build_query``: ``True``/``False`` -> ``1``/``0``, ``None`` and empty
containers are left out. ``$result[...]`` references stay readable; PHP decodes both forms.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from functools import lru_cache
from typing import Any
from urllib.parse import quote, unquote

from .errors import Bitrix24ConfigError

BATCH_LIMIT = 50  # commands per batch request (portal limit)

# Filter operators such as ">ID" stay readable; "=" and "&" are always escaped (they split pairs).
_KEY_SAFE = "[]<>!"
_VALUE_SAFE = "$[]"
# Values ``quote`` would return unchanged (IDs, dates, codes, references): most of them, and
# a match costs a fraction of a quote call, which adds up over thousands of paging commands.
_PLAIN_VALUE = re.compile(r"[A-Za-z0-9_.~$\[\]-]*")


@lru_cache(maxsize=2048)
def _quote_key(key: str) -> str:
    return quote(key, safe=_KEY_SAFE)  # keys repeat across commands: quoted once each


def _quote_value(value: str) -> str:
    return value if _PLAIN_VALUE.fullmatch(value) else quote(value, safe=_VALUE_SAFE)


def _scalar(value: Any) -> str:
    if value is True:
        return "1"
    if value is False:
        return "0"
    return str(value)


def flatten(params: Any, prefix: str = "") -> Iterator[tuple[str, str]]:
    """Yield ``(key, value)`` pairs of ``params`` flattened with PHP bracket keys."""
    if isinstance(params, (dict, Mapping)):  # dict first: the ABC check is the slow one
        items = params.items()
    elif isinstance(params, (list, tuple)):
        items = enumerate(params)
    else:
        if params is not None:
            yield prefix, _scalar(params)
        return
    for key, value in items:
        name = f"{prefix}[{key}]" if prefix else str(key)
        if isinstance(value, (dict, list, tuple, Mapping)):
            yield from flatten(value, name)
        elif value is not None:
            yield name, _scalar(value)


def encode_params(params: Mapping[str, Any] | None) -> str:
    """Encode ``params`` as a PHP-compatible query string (no leading ``?``)."""
    if not params:
        return ""
    return "&".join(f"{_quote_key(key)}={_quote_value(value)}" for key, value in flatten(params))


def encode_command(method: str, params: Mapping[str, Any] | None = None) -> str:
    """One ``batch`` command string: ``method`` or ``method?query``."""
    query = encode_params(params)
    return f"{method}?{query}" if query else method


def _check_method(method: str) -> str:
    name = (method or "").strip().strip("/")
    if not name or any(c in name for c in "/?# "):
        raise Bitrix24ConfigError(description=f"invalid method name: {method!r}")
    return name


def _encode_batch_command(command: Any) -> tuple[str, str]:
    if isinstance(command, str):
        return command.split("?", 1)[0], command
    if isinstance(command, Mapping):
        method, params = command.get("method"), command.get("params")
    else:
        try:
            method, params = command
        except (TypeError, ValueError):
            raise Bitrix24ConfigError(
                description=f"batch command must be (method, params) or 'method?query', got {type(command).__name__}"
            ) from None
    method = _check_method(method)
    if method.lower() == "batch":
        raise Bitrix24ConfigError(description="batch cannot be nested inside batch")
    return method, encode_command(method, params)


_REFERENCE = re.compile(r"\$result(?:_next|_total|_error|_time)?\[([^\[\]]*)\]")
_ESCAPED_REFERENCE = re.compile(r"%(?:24|5B|5D)", re.IGNORECASE)


def _check_batch_chunk(commands: list[tuple[Any, Any]]) -> None:
    """Refuse, before sending, one batch request the portal would reject or mis-resolve: more
    than 50 commands, or a ``$result[key]`` naming no earlier command of the same request (the
    portal silently substitutes an empty value, so the command would run with a blank parameter)."""
    if len(commands) > BATCH_LIMIT:
        raise Bitrix24ConfigError(
            description=f"one batch request takes at most {BATCH_LIMIT} commands, got {len(commands)}",
            method="batch",
            hint="use Bitrix24Client.batch() / Bitrix24Hook.batch() (or Bitrix24BatchOperator), which send 50 per request",
        )
    earlier: set[str] = set()
    for key, command in commands:
        text = str(command)
        if _ESCAPED_REFERENCE.search(text):  # a reference written percent-encoded
            text = unquote(text)
        for ref in _REFERENCE.findall(text):
            if ref not in earlier:
                raise Bitrix24ConfigError(
                    description=(
                        f"batch command {str(key)!r} refers to $result[{ref}], but no earlier command in the same "
                        f"request has the key {ref!r}"
                    ),
                    method="batch",
                    hint=f"references reach only earlier commands of the same request of up to {BATCH_LIMIT}",
                )
        earlier.add(str(key))
