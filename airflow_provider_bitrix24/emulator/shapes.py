"""Documented response shapes: the notation, a conformance check, and answers built from a shape.

``response_shapes.json`` (written by ``scripts/extract_doc_responses.py`` from each method's doc
page) maps a method to ``{"result": SHAPE}`` plus ``"paged": true`` when the documented reply
carries ``total``/``next``. A SHAPE is

- a scalar type: ``"string"``, ``"integer"``, ``"number"``, ``"boolean"``; ``"any"`` where the
  example shows ``null`` or elements of different types;
- an object: ``{"KEY": SHAPE, ...}`` (every documented key);
- a map keyed by ids: ``{"*": SHAPE}`` (the example's keys were all digits);
- a list: ``[SHAPE]`` of its elements, or ``[]`` when the example list is empty.

Pure data and functions: no emulator state.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

Shape = Any
ANY = "any"
MAP_KEY = "*"


# -- reading a documented example ----------------------------------------------------------------
def _scalar_shape(value: Any) -> str:
    if value is None:
        return ANY
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    return "string"


def merge(a: Shape, b: Shape) -> Shape:
    """One shape that two examples of the same thing share (keys both have, types both allow)."""
    if a == b:
        return a
    if a == ANY:
        return b
    if b == ANY:
        return a
    if isinstance(a, str) and isinstance(b, str) and {a, b} == {"integer", "number"}:
        return "number"
    if isinstance(a, dict) and isinstance(b, dict):
        return {k: merge(a[k], b[k]) for k in a if k in b}
    if isinstance(a, list) and isinstance(b, list):
        if not a or not b:
            return a or b
        return [merge(a[0], b[0])]
    return ANY


def shape_of(value: Any) -> Shape:
    """The shape of a documented JSON value."""
    if isinstance(value, dict):
        if value and all(str(k).isdigit() for k in value):
            shapes = [shape_of(v) for v in value.values()]
            element = shapes[0]
            for other in shapes[1:]:
                element = merge(element, other)
            return {MAP_KEY: element}
        return {str(k): shape_of(v) for k, v in value.items()}
    if isinstance(value, list):
        if not value:
            return []
        element = shape_of(value[0])
        for item in value[1:]:
            element = merge(element, shape_of(item))
        return [element]
    return _scalar_shape(value)


# -- the package data ----------------------------------------------------------------------------
@cache
def documented() -> dict[str, dict]:
    """Every served method's documented reply shape, by lower-case method name."""
    text = resources.files(__package__).joinpath("response_shapes.json").read_text(encoding="utf-8")
    return json.loads(text)


def result_shape(method: str) -> Shape | None:
    entry = documented().get(method.lower())
    return None if entry is None else entry["result"]


# -- checking a reply ----------------------------------------------------------------------------
def _kind_ok(value: Any, shape: str) -> bool:
    if shape == ANY:
        return True
    if shape == "boolean":
        return isinstance(value, bool)
    if shape == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if shape == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, str)


def problems(value: Any, shape: Shape, path: str = "result", *, every_key: bool = True) -> list[str]:
    """Where ``value`` departs from ``shape``: missing documented keys and wrong JSON types.

    Extra keys are allowed (a record may carry more fields than an example shows), ``null`` is
    allowed below the top level (unset fields), and an empty JSON array stands for an empty
    object (PHP encodes both alike). ``every_key=False`` checks only the keys that are there
    (a reply to a call that selected its fields).
    """
    if value is None and path != "result":
        return []
    if isinstance(shape, str):
        return [] if _kind_ok(value, shape) else [f"{path}: {_describe(value)} where the docs show {shape}"]
    if isinstance(shape, list):
        if not isinstance(value, list):
            return [f"{path}: {_describe(value)} where the docs show a list"]
        if not shape:
            return []
        return [
            p
            for i, item in enumerate(value)
            for p in problems(item, shape[0], f"{path}[{i}]", every_key=every_key)
        ]
    if isinstance(value, list) and not value:
        return []
    if not isinstance(value, dict):
        return [f"{path}: {_describe(value)} where the docs show an object"]
    if MAP_KEY in shape and len(shape) == 1:
        return [
            p
            for k, v in value.items()
            for p in problems(v, shape[MAP_KEY], f"{path}.{k}", every_key=every_key)
        ]
    found = []
    for key, sub in shape.items():
        if key in value:
            found.extend(problems(value[key], sub, f"{path}.{key}", every_key=every_key))
        elif every_key:
            found.append(f"{path}: no key {key!r}")
    return found


def _describe(value: Any) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    return _scalar_shape(value) if value is not None else "null"


# -- answering in a shape ------------------------------------------------------------------------
_PLACEHOLDER = {"string": "", "integer": 0, "number": 0, "boolean": False, ANY: None}


def placeholder(shape: Shape) -> Any:
    """A value of the documented shape with neutral contents (no documented value is copied)."""
    if isinstance(shape, str):
        return _PLACEHOLDER.get(shape)
    if isinstance(shape, list):
        return []
    if MAP_KEY in shape and len(shape) == 1:
        return {}
    return {key: placeholder(sub) for key, sub in shape.items()}


def _coerce_scalar(value: Any, shape: str) -> Any:
    if _kind_ok(value, shape) or value is None:
        return value
    if shape == "string" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if shape == "string" and isinstance(value, bool):
        return "Y" if value else "N"
    if shape in ("integer", "number") and isinstance(value, str):
        try:
            return int(value) if shape == "integer" else float(value)
        except ValueError:
            return _PLACEHOLDER[shape]
    if shape == "boolean":
        return value not in (0, "", "N", "n", "0", "false", None)
    return _PLACEHOLDER.get(shape)


def fit(value: Any, shape: Shape, *, convert: bool = True) -> Any:
    """``value`` made to match ``shape``: documented keys filled in, extra keys kept, and with
    ``convert`` scalars converted as the portal would serialise them. Nothing is dropped: where
    a list or object stands in place of something else, it stays (and :func:`problems` says so)."""
    if isinstance(value, (dict, list)) and not isinstance(shape, type(value)):
        return value
    if isinstance(shape, str):
        return _coerce_scalar(value, shape) if convert else value
    if isinstance(shape, list):
        if not isinstance(value, list):
            return []
        return [fit(item, shape[0], convert=convert) for item in value] if shape else value
    if not isinstance(value, dict):
        return placeholder(shape)
    if MAP_KEY in shape and len(shape) == 1:
        return {k: fit(v, shape[MAP_KEY], convert=convert) for k, v in value.items()}
    out = dict(value)
    for key, sub in shape.items():
        out[key] = fit(value[key], sub, convert=convert) if key in value else _unset(sub)
    return out


def _unset(shape: Shape) -> Any:
    """A documented key the record has no value for: ``null``, or an empty container."""
    if isinstance(shape, str):
        return None
    if isinstance(shape, list) or MAP_KEY in shape:
        return placeholder(shape)
    return {key: _unset(sub) for key, sub in shape.items()}
