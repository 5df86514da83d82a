"""Parameter contracts of catalogue actions: the notation of the ``required``/``optional``
columns parsed into terms, and the check that a call's parameters honour them.

Notation (see the catalogue's reference): terms are separated by commas; ``X|Y`` means one of
them; ``name{A,B}`` names keys inside an object; ``name[]`` is an array; ``name(A|B)`` lists the
allowed values and ``name(<=50)`` a maximum; ``name=value`` is a value the action sends itself
(``<OTHER>`` inside the value is filled from the input ``OTHER``); ``*`` and ``<n>`` in a name are
wildcards; ``...`` means more keys than the ones named are accepted. A top-level key may carry
a filter prefix (``>=DATE_REGISTER``): methods such as ``user.get`` take filter keys there.

Pure Python: no Airflow import (the emulator and scripts use it too).
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from airflow_provider_bitrix24.client.errors import Bitrix24ConfigError

DOCS_BASE_URL = "https://apidocs.bitrix24.com/"

# Parameter names that carry objects or arrays whatever the row's notation says: a JSON string
# given for one of them is decoded (users paste filters copied from the docs or the UI).
STRUCTURED_NAMES = frozenset(
    n.casefold()
    for n in (
        "filter",
        "order",
        "sort",
        "select",
        "fields",
        "params",
        "field",
        "data",
        "options",
        "rights",
        "access",
        "property_values",
        "values",
        "users",
        "lang",
        "layout",
        "document_id",
        "document_type",
        "parameters",
        "properties",
        "extras",
        "attach",
        "keyboard",
        "menu",
        "communications",
        "messages",
        "element_order",
        "iblock_order",
        "section",
        "cmd",
    )
)


# Names whose value has one shape in every Bitrix24 method (a record id is a scalar, a list
# filter an object, a select a list): a wrong shape is refused before anything is sent.
# A row's own notation (``select{...}`` for userfieldconfig.list) overrides these.
SHAPED_NAMES = {"id": "scalar", "filter": "object", "select": "list"}
# Characters of the filter prefixes (">=", "!@", "%"...) a filter key may start with.
FILTER_PREFIX_CHARS = "!@<>=%"
_SHAPES: dict[str, tuple[type | tuple[type, ...], str]] = {
    "scalar": ((int, float, str), "a number or a string"),
    "object": (dict, "an object"),
    "list": ((list, tuple), "a list"),
}


class ParameterError(Bitrix24ConfigError):
    """The parameters do not fit the action's documented contract; nothing was sent."""

    def __init__(self, action_id: str, message: str, doc: str | None = None) -> None:
        hint = f"see {doc_url(doc)}" if doc else None
        super().__init__("INVALID_PARAMETERS", f"{action_id}: {message}", None, hint=hint)


def doc_url(doc: str) -> str:
    """Public address of a page of the REST docs from its path in methods.tsv."""
    return DOCS_BASE_URL + re.sub(r"\.md$", ".html", doc)


@dataclass(frozen=True)
class Param:
    """One named parameter (or key inside an object parameter)."""

    name: str
    keys: tuple[Term, ...] = ()
    is_object: bool = False
    is_array: bool = False
    choices: tuple[str, ...] = ()
    maximum: int | None = None
    value: str | None = None  # fixed (required column) or default (optional column)
    open: bool = False  # the object accepts keys beyond ``keys``

    @property
    def is_pattern(self) -> bool:
        return "*" in self.name

    @property
    def source(self) -> str | None:
        """For a templated value such as ``chat<CHAT_ID>``, the input it is built from."""
        found = re.search(r"<(\w+)>", self.value or "")
        return found.group(1) if found else None

    def matches(self, key: str) -> bool:
        if self.is_pattern:
            return fnmatch.fnmatchcase(key.casefold(), self.name.casefold())
        return key.casefold() == self.name.casefold()


@dataclass(frozen=True)
class OneOf:
    """At least one of ``options`` must be given."""

    options: tuple[Param, ...]

    @property
    def name(self) -> str:
        return "|".join(p.name for p in self.options)


Term = Param | OneOf


@dataclass(frozen=True)
class Spec:
    """A parsed parameter column: its terms and whether other keys are accepted."""

    terms: tuple[Term, ...] = ()
    open: bool = False

    def params(self) -> tuple[Param, ...]:
        out: list[Param] = []
        for term in self.terms:
            out.extend(term.options if isinstance(term, OneOf) else (term,))
        return tuple(out)


def _split(text: str, sep: str) -> list[str]:
    """Split at ``sep`` outside brackets."""
    parts: list[str] = []
    current: list[str] = []
    depth = 0
    for ch in text:
        if ch in "{[(":
            depth += 1
        elif ch in "}])":
            depth -= 1
        if ch == sep and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return [p.strip() for p in parts if p.strip()]


_SINGLE = re.compile(
    r"^(?P<name>[^{}\[\]()=:]+?)"
    r"(?:\{(?P<keys>.*)\})?"
    r"(?P<array>\[[^\]]*\])?"
    r"(?:\((?P<paren>[^)]*)\))?"
    r"(?:[=:](?P<value>.+))?$"
)


def _single(text: str) -> Param:
    found = _SINGLE.match(text)
    if not found:
        raise ValueError(f"cannot parse parameter notation {text!r}")
    name = found["name"].strip()
    name = re.sub(r"\s+flags$", "", name)  # "is*Enabled flags"
    name = re.sub(r"<\w+>", "*", name)  # PROPERTY_<n>
    keys = parse(found["keys"]) if found["keys"] is not None else Spec()
    paren = found["paren"] or ""
    maximum = int(paren[2:]) if paren.startswith("<=") else None
    choices = tuple(paren.split("|")) if paren and maximum is None else ()
    value = found["value"].strip().strip("'\"") if found["value"] else None
    return Param(
        name=name,
        keys=keys.terms,
        is_object=found["keys"] is not None,
        is_array=found["array"] is not None,
        choices=choices,
        maximum=maximum,
        value=value,
        open=keys.open,
    )


def parse(text: str) -> Spec:
    """Parse one ``required``/``optional`` cell into a :class:`Spec`."""
    terms: list[Term] = []
    is_open = False
    for piece in _split(text or "", ","):
        if piece.endswith("..."):
            is_open = True
            piece = piece[:-3].strip()
            if not piece:
                continue
        options = [_single(p) for p in _split(piece, "|")]
        terms.append(options[0] if len(options) == 1 else OneOf(tuple(options)))
    return Spec(tuple(terms), is_open)


def merge(*specs: Spec) -> tuple[Param, ...]:
    """All params named in ``specs``, one per name, with object keys merged."""
    merged: dict[str, Param] = {}
    for spec in specs:
        for param in spec.params():
            key = param.name.casefold()
            if key in merged:
                old = merged[key]
                param = Param(
                    name=old.name,
                    keys=old.keys + param.keys,
                    is_object=old.is_object or param.is_object,
                    is_array=old.is_array or param.is_array,
                    choices=old.choices or param.choices,
                    maximum=old.maximum if old.maximum is not None else param.maximum,
                    value=old.value if old.value is not None else param.value,
                    open=old.open or param.open or not (old.keys and param.keys),
                )
            merged[key] = param
    return tuple(merged.values())


def find(params: Mapping[str, Any], name: str) -> str | None:
    """The key of ``params`` that is ``name`` (Bitrix24 parameter names ignore case)."""
    if name in params:
        return name
    folded = name.casefold()
    return next((k for k in params if isinstance(k, str) and k.casefold() == folded), None)


def decode_json(action_id: str, label: str, value: Any) -> Any:
    """``value`` itself, or the object/array a JSON string in it stands for."""
    if not isinstance(value, str) or value.strip()[:1] not in ("{", "["):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError as exc:
        raise ParameterError(
            action_id, f"parameter {label!r} is not valid JSON ({exc.msg} at position {exc.pos})"
        ) from exc


@dataclass
class Checked:
    """Outcome of :func:`check`: the parameters to send and what deserves a warning."""

    params: dict
    warnings: list[str]


def check(
    action_id: str,
    params: dict,
    required: Spec,
    optional: Spec,
    documented: tuple[str, ...] = (),
    doc: str | None = None,
) -> Checked:
    """Validate ``params`` against the row's columns plus the names ``documented`` by its
    methods' pages; fill fixed and default values. Raises :class:`ParameterError`."""
    params = dict(params)
    warnings: list[str] = []
    _refuse_two_spellings(action_id, params, doc)
    known = merge(required, optional)
    structured = {p.name.casefold() for p in known if p.is_object or p.is_array} | STRUCTURED_NAMES
    for key, value in list(params.items()):
        if isinstance(key, str) and key.casefold() in structured:
            params[key] = decode_json(action_id, key, value)

    _apply_values(action_id, params, required.params(), fixed=True, doc=doc)
    _apply_values(action_id, params, optional.params(), fixed=False, doc=doc)
    sources = {p.source.casefold() for p in known if p.source}

    def is_known(key: str) -> bool:
        folded = key.casefold()
        # A filter key sent at the top level (user.get) may carry a filter prefix: ">=ID".
        bare = key.lstrip(FILTER_PREFIX_CHARS) or key
        if folded in sources or any(p.matches(key) or p.matches(bare) for p in known):
            return True
        return any(
            folded == d.casefold() or (d.endswith("_") and folded.startswith(d.casefold()))
            for d in documented
        )

    unknown = [k for k in params if not is_known(str(k))]
    if unknown:
        message = (
            f"unknown parameter(s) {', '.join(map(repr, unknown))}; accepted: {_accepted(known, documented)}"
        )
        if required.open or optional.open:
            warnings.append(message)
        else:
            raise ParameterError(action_id, message, doc)

    for term in required.terms:
        _require(action_id, params, term, "", doc)
    declared = {p.name.casefold(): p for p in known if not p.is_pattern}
    for key, value in params.items():
        shape = _shape(declared.get(str(key).casefold())) or SHAPED_NAMES.get(str(key).casefold())
        if (
            shape
            and value is not None
            and (isinstance(value, bool) or not isinstance(value, _SHAPES[shape][0]))
        ):
            raise ParameterError(
                action_id, f"parameter {key!r} must be {_SHAPES[shape][1]} (got {type(value).__name__})", doc
            )
    for param in known:
        key = find(params, param.name) if not param.is_pattern else None
        if key is not None:
            _check_value(action_id, params[key], param, key, doc, warnings)
    return Checked(params, warnings)


def _refuse_two_spellings(action_id: str, params: Mapping[str, Any], doc: str | None) -> None:
    """The portal reads parameter names in any case, so ``FILTER`` and ``filter`` are one
    parameter given twice: refuse rather than send both and let one silently win."""
    seen: dict[str, str] = {}
    for key in params:
        folded = str(key).casefold()
        if folded in seen:
            raise ParameterError(
                action_id,
                f"{seen[folded]!r} and {key!r} are one parameter given twice (Bitrix24 reads names in any case)",
                doc,
            )
        seen[folded] = str(key)


def _shape(param: Param | None) -> str | None:
    """The shape the row's notation gives a parameter (it overrides :data:`SHAPED_NAMES`)."""
    if param is None:
        return None
    if param.is_object:
        return "object"
    return "list" if param.is_array else None


def _accepted(known: tuple[Param, ...], documented: tuple[str, ...]) -> str:
    names = {p.name for p in known if p.source is None} | {p.source for p in known if p.source}
    names |= {d + "*" if d.endswith("_") else d for d in documented}
    return ", ".join(sorted(names, key=str.casefold))


def _apply_values(
    action_id: str, params: dict, spec: tuple[Param, ...], *, fixed: bool, doc: str | None
) -> None:
    for param in spec:
        key = find(params, param.name)
        if param.value is not None and not param.is_object:
            value: Any = param.value
            if param.source:
                source_key = find(params, param.source)
                if key is not None or source_key is None:
                    continue  # given directly, or the required check reports it
                value = param.value.replace(f"<{param.source}>", str(params.pop(source_key)))
            if key is None:
                params[param.name] = _typed(value)
            elif fixed and str(params[key]) != str(value):
                raise ParameterError(
                    action_id,
                    f"parameter {param.name!r} is fixed to {value!r} by this action (got {params[key]!r})",
                    doc,
                )
        inner_defaults = [k for k in param.keys if isinstance(k, Param) and k.value is not None]
        if param.is_object and inner_defaults:
            container = params.get(key) if key is not None else None
            if container is None:
                container = params[param.name] = {}
            if isinstance(container, dict):
                _apply_values(action_id, container, tuple(inner_defaults), fixed=fixed, doc=doc)


def _typed(value: str) -> Any:
    return int(value) if value.isdigit() else value


def _present(params: dict, param: Param) -> bool:
    if param.is_pattern:
        return any(param.matches(str(k)) for k in params)
    key = find(params, param.name)
    return key is not None and params[key] not in (None, "", [], {})


def _require(action_id: str, params: dict, term: Term, prefix: str, doc: str | None) -> None:
    options = term.options if isinstance(term, OneOf) else (term,)
    present = [p for p in options if _present(params, p) or (p.source and find(params, p.source))]
    if not present:
        names = " or ".join(
            repr(prefix + p.name) + (f" (or {p.source!r}, from which it is built)" if p.source else "")
            for p in options
        )
        raise ParameterError(action_id, f"missing required parameter {names}", doc)
    for param in present:
        key = find(params, param.name)
        if key is None or not param.is_object:
            continue
        value = params[key]
        if not isinstance(value, dict):
            raise ParameterError(action_id, f"parameter {prefix + param.name!r} must be an object", doc)
        for inner in param.keys:
            _require(action_id, value, inner, f"{prefix}{param.name}.", doc)


def _check_value(
    action_id: str, value: Any, param: Param, label: str, doc: str | None, warnings: list[str]
) -> None:
    if param.choices and not isinstance(value, (dict, list)) and str(value) not in param.choices:
        raise ParameterError(
            action_id, f"parameter {label!r} must be one of {', '.join(param.choices)} (got {value!r})", doc
        )
    if (
        param.maximum is not None
        and isinstance(value, (int, str))
        and str(value).isdigit()
        and int(value) > param.maximum
    ):
        raise ParameterError(
            action_id, f"parameter {label!r} may be at most {param.maximum} (got {value})", doc
        )
    if param.is_object and value is not None and not isinstance(value, dict):
        raise ParameterError(action_id, f"parameter {label!r} must be an object", doc)
    if param.is_array and value is not None and not isinstance(value, (list, tuple)):
        raise ParameterError(action_id, f"parameter {label!r} must be a list", doc)
    if param.keys and isinstance(value, dict) and not param.open:
        named = merge(Spec(param.keys))
        extra = [k for k in value if not any(p.matches(str(k)) for p in named)]
        if extra:
            warnings.append(
                f"{label}: key(s) {', '.join(map(repr, extra))} are not among the documented ones"
            )
