"""Python parameters -> what the portal receives: a JSON body, or a ``batch`` command string.

* :func:`json_params` turns the Python values the client accepts into JSON values (see the table
  in docs/reliability.md: date/datetime, Decimal, set/tuple, bool) and refuses, before anything
  is sent, a value JSON cannot carry (``object()``, NaN, infinity, bytes, ...) with
  :class:`Bitrix24UnsendableValue` naming the parameter path (``fields.TITLE``).
* Batch commands (``method?query``) are read by the portal with PHP's ``parse_str``: a nested
  dict ``{"filter": {">ID": 5}, "select": ["ID"]}`` becomes ``filter[>ID]=5&select[0]=ID``.
  Values follow ``http_build_query``: ``True``/``False`` -> ``1``/``0``; ``None`` and empty
  containers are left out.
* The portal then replaces ``$result[...]``, ``$result_next[...]``, ``$result_total[...]``,
  ``$result_error[...]`` and ``$result_time[...]`` anywhere in a command's values, after
  decoding them, so no escaping protects data. A reference is written on purpose only as a
  :class:`BatchRef` (:func:`result_ref`); :func:`batch_command` reports a command whose data
  would not reach the portal as written (a look-alike, names PHP renames, more values than PHP
  reads), and the client sends that one on its own, as a plain call.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import Any
from urllib.parse import quote, unquote

from .errors import Bitrix24ConfigError

BATCH_LIMIT = 50  # commands per batch request (portal limit)
# PHP's parse_str keeps at most max_input_vars values of one command (1000 by default) and
# silently drops the rest; a command with more goes on its own as JSON.
PHP_MAX_INPUT_VARS = 1000
REFERENCE_SECTIONS = ("result", "result_next", "result_total", "result_error", "result_time")

# Filter operators such as ">ID" stay readable; "=" and "&" are always escaped (they split pairs).
_KEY_SAFE = "[]<>!"
_VALUE_SAFE = "$[]"
# Values ``quote`` would return unchanged (IDs, dates, codes, references): most of them, and
# a match costs a fraction of a quote call, which adds up over thousands of paging commands.
_PLAIN_VALUE = re.compile(r"[A-Za-z0-9_.~$\[\]-]*")
# What the portal would take for a reference inside a batch command (any case, to be safe).
_LOOKALIKE = re.compile(r"\$result(?:_next|_total|_error|_time)?\[", re.IGNORECASE)
# A reference as written in a command string: section and the key of the command it reads.
_REFERENCE = re.compile(r"\$result(?:_next|_total|_error|_time)?\[([^\[\]]*)\]")
_ESCAPED_REFERENCE = re.compile(r"%(?:24|5B|5D)", re.IGNORECASE)
_SCALARS = (str, int, float)


class Bitrix24UnsendableValue(Bitrix24ConfigError):
    """A parameter value the request cannot carry; ``path`` names it (``fields.TITLE``)."""

    def __init__(self, path: str, problem: str, method: str | None = None, command: str | None = None):
        self.path = path
        self.problem = problem
        where = f"batch command {command!r}: " if command is not None else ""
        super().__init__(description=f"{where}parameter {path or '(params)'} {problem}", method=method)


@dataclass(frozen=True)
class BatchRef:
    """A reference, written on purpose, to what an earlier command of the same batch request
    returned: ``BatchRef("add")`` is sent as ``$result[add]``, ``BatchRef("p0", ("items", 49,
    "id"))`` as ``$result[p0][items][49][id]``; ``section`` picks ``result_next``,
    ``result_total``, ``result_error`` or ``result_time`` instead of ``result``.

    Plain strings are always data: ``"$result[add]"`` in a parameter is stored as written."""

    key: str
    path: tuple[str | int, ...] = ()
    section: str = "result"

    def __post_init__(self) -> None:
        if self.section not in REFERENCE_SECTIONS:
            raise Bitrix24ConfigError(
                description=f"BatchRef section must be one of {', '.join(REFERENCE_SECTIONS)}, got {self.section!r}"
            )
        for part in (self.key, *self.path):
            text = str(part)
            if not text or any(c in text for c in "[]&=?#"):
                raise Bitrix24ConfigError(
                    description=f"BatchRef key or path part {text!r} cannot be referenced"
                )

    def __str__(self) -> str:
        return f"${self.section}[{self.key}]" + "".join(f"[{part}]" for part in self.path)


def result_ref(key: str, *path: str | int) -> BatchRef:
    """``$result[key][path...]``: an earlier command's result, for ``Bitrix24Client.batch``."""
    return BatchRef(str(key), tuple(path))


# ---------------------------------------------------------------------- Python values -> JSON


def _unsendable(value: Any) -> str:
    if isinstance(value, (float, Decimal)):
        return f"is {value}, which JSON cannot carry"
    if isinstance(value, BatchRef):
        return f"is a batch reference ({value}), which means something only inside batch"
    return f"has a type JSON cannot carry: {type(value).__name__}"


def _scalar_json(value: Any) -> Any:
    """The JSON form of one non-container value, or ``_UNSENDABLE``."""
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, str):
        return value if type(value) is str else str.__str__(value)  # a str Enum: its text
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else _UNSENDABLE
    if isinstance(value, dt.datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f") if value.is_finite() else _UNSENDABLE
    return _UNSENDABLE


_UNSENDABLE = object()


def _sorted(items: list[Any]) -> list[Any]:
    """A set's members in a stable order (sets have none of their own)."""
    try:
        return sorted(items)
    except TypeError:
        return sorted(items, key=repr)


def _key_text(key: Any, path: str) -> str:
    if isinstance(key, str):
        return key
    if isinstance(key, int) and not isinstance(key, bool):
        return str(key)
    raise Bitrix24UnsendableValue(path, f"has a key JSON cannot carry: {key!r}")


def _to_json(value: Any, path: str) -> Any:
    if value is None:
        return None
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            name = _key_text(key, path)
            out[name] = _to_json(item, f"{path}.{name}" if path else name)
        return out
    if isinstance(value, (list, tuple)):
        return [_to_json(item, f"{path}.{i}") for i, item in enumerate(value)]
    if isinstance(value, (set, frozenset)):
        return _sorted([_to_json(item, path) for item in value])
    converted = _scalar_json(value)
    if converted is _UNSENDABLE:
        raise Bitrix24UnsendableValue(path, _unsendable(value))
    return converted


def json_params(params: Mapping[str, Any] | None, method: str | None = None) -> dict:
    """``params`` as JSON values (a new dict; the caller's is not changed). Raises
    :class:`Bitrix24UnsendableValue`, naming the parameter path, for a value JSON cannot carry."""
    try:
        return _to_json(dict(params or {}), "")
    except Bitrix24UnsendableValue as exc:
        raise Bitrix24UnsendableValue(exc.path, exc.problem, method) from None


# ---------------------------------------------------------------------- batch command strings


@lru_cache(maxsize=2048)
def _quote_key(key: str) -> str:
    return quote(key, safe=_KEY_SAFE)  # keys repeat across commands: quoted once each


def _quote_value(value: str) -> str:
    return value if _PLAIN_VALUE.fullmatch(value) else quote(value, safe=_VALUE_SAFE)


def _dotted(name: str) -> str:
    """``fields[UF_LIST][1]`` -> ``fields.UF_LIST.1`` (how errors name a parameter)."""
    return name.replace("][", ".").replace("[", ".").rstrip("]")


def _query_scalar(value: Any, name: str) -> str:
    if value is True:
        return "1"
    if value is False:
        return "0"
    if type(value) is str:
        return value
    converted = _scalar_json(value)
    if converted is _UNSENDABLE:
        raise Bitrix24UnsendableValue(_dotted(name), _unsendable(value))
    if isinstance(converted, bool):
        return "1" if converted else "0"
    return str(converted)


def _pairs(params: Any, prefix: str, renamed: list[str]) -> Iterator[tuple[str, str, bool]]:
    """``(name, value, is_reference)`` for every leaf, names in PHP bracket form; keys PHP
    would read differently go to ``renamed``."""
    if isinstance(params, dict):  # dict first: the ABC check is the slow one
        items: Any = params.items()
    elif isinstance(params, (list, tuple)):
        items = enumerate(params)
    elif isinstance(params, Mapping):
        items = params.items()
    elif isinstance(params, (set, frozenset)):
        items = enumerate(_sorted(list(params)))
    else:
        if params is not None:
            yield from _leaf(prefix, params)
        return
    for key, value in items:
        if type(key) is not str:
            key = _key_text(key, _dotted(prefix))
        if prefix:
            name = f"{prefix}[{key}]"
            if "[" in key or "]" in key:
                renamed.append(_dotted(name))
        else:
            name = key
            if any(c in key for c in ". [") or not key:
                renamed.append(key)
        if isinstance(value, (dict, list, tuple, set, frozenset, Mapping)):
            yield from _pairs(value, name, renamed)
        elif value is not None:
            yield from _leaf(name, value)


def _leaf(name: str, value: Any) -> Iterator[tuple[str, str, bool]]:
    if isinstance(value, BatchRef):
        yield name, str(value), True
    else:
        yield name, _query_scalar(value, name), False


def _join(pairs: list[tuple[str, str, bool]]) -> str:
    return "&".join(f"{_quote_key(key)}={_quote_value(value)}" for key, value, _ref in pairs)


def encode_params(params: Mapping[str, Any] | None) -> str:
    """Encode ``params`` as a PHP-compatible query string (no leading ``?``); a
    :class:`BatchRef` is written as the reference it stands for."""
    if not params:
        return ""
    return _join(list(_pairs(params, "", [])))


def encode_command(method: str, params: Mapping[str, Any] | None = None) -> str:
    """One ``batch`` command string: ``method`` or ``method?query``."""
    query = encode_params(params)
    return f"{method}?{query}" if query else method


def batch_command(method: str, params: Mapping[str, Any] | None) -> tuple[str, str | None, bool]:
    """``(command string, why it must not go inside batch or None, whether it holds a BatchRef)``.

    A command must go on its own when the portal would not read its data as written: a value
    it would take for a reference, a name PHP renames (``a.b`` -> ``a_b``), or more values than
    PHP reads from one command."""
    renamed: list[str] = []
    pairs = list(_pairs(params, "", renamed)) if params else []
    query = _join(pairs)
    command = f"{method}?{query}" if query else method
    has_ref = False
    reason = None
    for name, value, is_ref in pairs:
        if is_ref:
            has_ref = True
        elif reason is None and "$" in value and (found := _LOOKALIKE.search(value)):
            reason = (
                f"the value of {_dotted(name)} contains {found.group(0)!r}, "
                "which the portal would replace inside batch"
            )
    if reason is None and renamed:
        reason = f"PHP would read the name {renamed[0]!r} differently inside batch"
    if reason is None and len(pairs) > PHP_MAX_INPUT_VARS:
        reason = (
            f"it has {len(pairs)} values, more than PHP reads from one batch command ({PHP_MAX_INPUT_VARS})"
        )
    return command, reason, has_ref


def batch_hazard(params: Mapping[str, Any] | None, method: str | None = None) -> str | None:
    """Why ``params`` would not reach the portal as written inside batch, or None."""
    try:
        return batch_command(method or "m", params)[1]
    except Bitrix24UnsendableValue as exc:
        raise Bitrix24UnsendableValue(exc.path, exc.problem, method) from None


def _check_method(method: Any) -> str:
    name = (method or "").strip().strip("/")
    if not name or any(c in name for c in "/?# "):
        raise Bitrix24ConfigError(description=f"invalid method name: {method!r}")
    return name


@dataclass
class EncodedCommand:
    """One batch command ready to send: inside a batch request (``solo`` is None), or on its own
    as a plain call with ``params`` (``solo`` says why)."""

    key: str
    method: str
    command: str
    params: Mapping[str, Any] | None = None
    solo: str | None = None


def _encode_batch_command(key: str, command: Any) -> EncodedCommand:
    if isinstance(command, str):  # the caller wrote the wire form: references in it are meant
        return EncodedCommand(key, command.split("?", 1)[0], command)
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
    try:
        text, reason, has_ref = batch_command(method, params)
    except Bitrix24UnsendableValue as exc:
        raise Bitrix24UnsendableValue(exc.path, exc.problem, method, key) from None
    if reason is not None and has_ref:
        raise Bitrix24ConfigError(
            description=(
                f"batch command {key!r} holds a BatchRef, which needs batch, and data that cannot go "
                f"inside batch: {reason}"
            ),
            method=method,
            hint="split it: read the referenced value first, then send this command with it",
        )
    if reason is not None:
        return EncodedCommand(key, method, text, json_params(params, method), reason)
    return EncodedCommand(key, method, text)


def _check_batch_chunk(commands: list[tuple[Any, Any]], outside: Mapping[str, str] | None = None) -> None:
    """Refuse, before sending, one batch request the portal would reject or mis-resolve: more
    than 50 commands, or a ``$result[key]`` naming no earlier command of the same request (the
    portal silently substitutes an empty value, so the command would run with a blank parameter).
    ``outside``: keys of commands sent on their own, with the reason."""
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
            if ref in earlier:
                continue
            if outside and ref in outside:
                raise Bitrix24ConfigError(
                    description=(
                        f"batch command {str(key)!r} refers to $result[{ref}], but {ref!r} is sent on its own, "
                        f"outside batch, because {outside[ref]}"
                    ),
                    method="batch",
                    hint="read that command's result first, then send this command with it",
                )
            raise Bitrix24ConfigError(
                description=(
                    f"batch command {str(key)!r} refers to $result[{ref}], but no earlier command in the same "
                    f"request has the key {ref!r}"
                ),
                method="batch",
                hint=f"references reach only earlier commands of the same request of up to {BATCH_LIMIT}",
            )
        earlier.add(str(key))
