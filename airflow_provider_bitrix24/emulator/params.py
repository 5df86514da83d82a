"""Request-parameter decoding the way a PHP portal sees it.

Bitrix24 is PHP: query strings and form bodies use bracketed keys (``filter[>ID]=5``,
``fields[PHONE][0][VALUE]=...``, ``select[]=ID``) that PHP folds into nested arrays. JSON bodies
arrive already nested. Both end up as plain dicts/lists here.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable
from email.parser import BytesParser
from email.policy import default as default_policy
from email.utils import collapse_rfc2231_value
from typing import Any
from urllib.parse import parse_qsl

_KEY_PART = re.compile(r"\[([^\]]*)\]")


def _split_key(key: str) -> list[str]:
    """``fields[PHONE][0][VALUE]`` -> ``["fields", "PHONE", "0", "VALUE"]``; ``a[]`` -> ``["a", ""]``."""
    head, bracket, rest = key.partition("[")
    if not bracket:
        return [key]
    parts = [head]
    tail = "[" + rest
    pos = 0
    while pos < len(tail):
        match = _KEY_PART.match(tail, pos)
        if not match:  # PHP keeps an unbalanced remainder as part of the last key
            break
        parts.append(match.group(1))
        pos = match.end()
    return parts


def _listify(node: Any) -> Any:
    """Turn dicts whose keys are exactly 0..n-1 into lists, recursively (PHP's packed arrays)."""
    if isinstance(node, dict):
        for key, value in node.items():
            node[key] = _listify(value)
        if node and all(k.isdigit() for k in node) and sorted(int(k) for k in node) == list(range(len(node))):
            return [node[str(i)] for i in range(len(node))]
    return node


def parse_php_query(query: str) -> dict:
    """Decode an URL-encoded query string with PHP bracket nesting into nested dicts/lists."""
    return nest_pairs(parse_qsl(query, keep_blank_values=True))


def nest_pairs(pairs: Iterable[tuple[str, Any]]) -> dict:
    """Fold ``(bracketed key, value)`` pairs into nested dicts/lists the way PHP does."""
    root: dict = {}
    for raw_key, value in pairs:
        parts = _split_key(raw_key)
        node = root
        for depth, part in enumerate(parts):
            last = depth == len(parts) - 1
            if part == "":  # `[]` appends
                part = str(sum(1 for k in node if k.isdigit()))
            if last:
                node[part] = value
            else:
                child = node.get(part)
                if not isinstance(child, dict):
                    child = {}
                    node[part] = child
                node = child
    return _listify(root)


def _multipart_pairs(body: bytes, content_type: str) -> list[tuple[str, Any]]:
    """Fields of a multipart/form-data body; a file part becomes ``[file name, base64 content]``
    (the shape Bitrix24 methods accept for file fields)."""
    message = BytesParser(policy=default_policy).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
    )
    if not message.is_multipart():
        raise ValueError("malformed multipart body")
    pairs: list[tuple[str, Any]] = []
    for part in message.iter_parts():
        raw_name = part.get_param("name", header="content-disposition")
        name = collapse_rfc2231_value(raw_name) if isinstance(raw_name, tuple) else raw_name
        if not name:
            continue
        payload = part.get_payload(decode=True) or b""
        if not isinstance(payload, bytes):
            raise ValueError("malformed multipart part")
        filename = part.get_filename()
        if filename is not None:
            pairs.append((name, [filename, base64.b64encode(payload).decode("ascii")]))
        else:
            pairs.append((name, payload.decode(part.get_content_charset() or "utf-8")))
    return pairs


def parse_body(body: bytes, content_type: str) -> dict:
    """Decode a request body (JSON, form-encoded or multipart). Raises ValueError when malformed."""
    if not body:
        return {}
    ctype = content_type.split(";", 1)[0].strip().lower()
    if ctype == "multipart/form-data":
        return nest_pairs(_multipart_pairs(body, content_type))
    text = body.decode("utf-8")
    if ctype == "application/json" or (not ctype and text.lstrip()[:1] in "{["):
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("JSON body must be an object")
        return data
    return parse_php_query(text)


def as_bool(value: Any) -> bool:
    """Bitrix24 booleans arrive as true/false, 1/0, "Y"/"N", "true"/"false"."""
    if isinstance(value, str):
        return value.strip().lower() in ("1", "y", "true", "yes")
    return bool(value)


def as_int(value: Any, default: int | None = None) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return default


def param(params: dict, name: str, default: Any = None) -> Any:
    """A top-level parameter by name in any case (``start``, ``START``, ``Start``), as the portal reads it."""
    if name in params:
        return params[name]
    lowered = name.lower()
    return next((v for k, v in params.items() if str(k).lower() == lowered), default)
