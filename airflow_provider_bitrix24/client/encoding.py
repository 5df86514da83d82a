"""Nested parameters -> the query-string form PHP's ``parse_str`` turns back into arrays.

Bitrix24 parses ``batch`` command strings (``method?query``) with PHP rules, so a nested dict
``{"filter": {">ID": 5}, "select": ["ID"]}`` must become ``filter[>ID]=5&select[0]=ID``.
Values follow ``http_build_query``: ``True``/``False`` -> ``1``/``0``, ``None`` and empty
containers are left out. ``$result[...]`` references stay readable; PHP decodes both forms.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import quote

# Filter operators such as ">ID" stay readable; "=" and "&" are always escaped (they split pairs).
_KEY_SAFE = "[]<>!"
_VALUE_SAFE = "$[]"


def _scalar(value: Any) -> str:
    if value is True:
        return "1"
    if value is False:
        return "0"
    return str(value)


def flatten(params: Any, prefix: str = "") -> Iterator[tuple[str, str]]:
    """Yield ``(key, value)`` pairs of ``params`` flattened with PHP bracket keys."""
    if isinstance(params, Mapping):
        items = params.items()
    elif isinstance(params, (list, tuple)):
        items = enumerate(params)
    else:
        if params is not None:
            yield prefix, _scalar(params)
        return
    for key, value in items:
        name = f"{prefix}[{key}]" if prefix else str(key)
        yield from flatten(value, name)


def encode_params(params: Mapping[str, Any] | None) -> str:
    """Encode ``params`` as a PHP-compatible query string (no leading ``?``)."""
    if not params:
        return ""
    return "&".join(
        f"{quote(key, safe=_KEY_SAFE)}={quote(value, safe=_VALUE_SAFE)}"
        for key, value in flatten(params)
    )


def encode_command(method: str, params: Mapping[str, Any] | None = None) -> str:
    """One ``batch`` command string: ``method`` or ``method?query``."""
    query = encode_params(params)
    return f"{method}?{query}" if query else method
