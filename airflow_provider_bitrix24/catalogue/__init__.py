"""The action catalogue: every Bitrix24 action the provider offers, as package data.

``actions.tsv`` (built by ``scripts/build_catalogue.py`` from the reference index) holds one row
per action: its REST method(s), parameter contract, flags and operator class. ``methods.tsv``
lists every documented REST method with its doc page, parameter names and whether it returns
one page of a longer list (``pages``: the evidence on its page). A one-call action is ``PAGED``
exactly when its method pages. Both are read once per process with :mod:`importlib.resources`.

Where the reference index and a method's doc page disagree, the page wins: ``corrections.tsv``
lists each value taken from the page instead of the index, with the reason.

Pure Python: no Airflow import.
"""

from __future__ import annotations

import csv
import difflib
import io
from dataclasses import dataclass
from functools import cache, cached_property
from importlib import resources

from airflow_provider_bitrix24.catalogue.params import Spec, parse

OPERATORS_PACKAGE = "airflow_provider_bitrix24.operators"

FLAG_PAGED = "PAGED"
FLAG_BINARY_DOWN = "BINARY-DOWN"
FLAG_APP_ONLY = "APP-ONLY"
FLAG_DEPRECATED = "DEPRECATED"
FLAG_NO_DOCUMENTED_METHOD = "NO-DOCUMENTED-METHOD"
FLAG_NOT_OFFERED = "NOT-OFFERED"
FLAG_WEBHOOK_CLIENT_ID = "WEBHOOK-CLIENT-ID"


class UnknownActionError(LookupError):
    """No catalogue action has this id."""


@dataclass(frozen=True)
class MethodInfo:
    """One documented REST method (a row of ``methods.tsv``)."""

    name: str
    doc: str
    required: tuple[str, ...]
    optional: tuple[str, ...]
    pages: str = ""  # why the method returns one page of a list ("start", "next", "total"), or ""


@dataclass(frozen=True)
class Action:
    """One catalogue row.

    ``steps`` is the call plan: one tuple per call made in order, holding the alternatives for
    that call (``a,b|c`` -> ``(("a",), ("b", "c"))``); ``methods`` is every method the action
    may send. ``selector``/``choices`` name the operator argument that picks an alternative.
    """

    action_id: str
    resource: str
    action: str
    module: str
    operator_name: str
    steps: tuple[tuple[str, ...], ...]
    required_text: str
    optional_text: str
    flags: frozenset[str]
    successor: str = ""
    upload: str = ""
    selector: str = ""
    choices: tuple[str, ...] = ()

    @property
    def methods(self) -> tuple[str, ...]:
        return tuple(m for step in self.steps for m in step)

    @property
    def operator(self) -> str:
        """Dotted path of the operator class for this action."""
        return f"{OPERATORS_PACKAGE}.{self.module}.{self.operator_name}"

    @cached_property
    def required(self) -> Spec:
        return parse(self.required_text)

    @cached_property
    def optional(self) -> Spec:
        return parse(self.optional_text)

    @property
    def paged(self) -> bool:
        return FLAG_PAGED in self.flags

    @property
    def app_only(self) -> bool:
        return FLAG_APP_ONLY in self.flags

    @property
    def deprecated(self) -> bool:
        return FLAG_DEPRECATED in self.flags

    @property
    def not_offered(self) -> bool:
        return FLAG_NOT_OFFERED in self.flags

    @property
    def webhook_client_id(self) -> bool:
        """Over an incoming webhook the method needs ``CLIENT_ID`` (the bot's registration key)."""
        return FLAG_WEBHOOK_CLIENT_ID in self.flags

    @property
    def binary_down(self) -> bool:
        return FLAG_BINARY_DOWN in self.flags

    @property
    def is_generic(self) -> bool:
        """The caller names the method (Direct API Call)."""
        return self.steps == (("*",),)

    def method_for(self, choice: str | None = None, step: int = -1) -> str:
        """The method of ``step`` for ``choice`` (the first alternative when ``choice`` is None)."""
        options = self.steps[step]
        if len(options) == 1 or choice is None:
            return options[0]
        if choice not in self.choices:
            raise ValueError(
                f"{self.action_id}: {self.selector} must be one of {', '.join(self.choices)} (got {choice!r})"
            )
        return options[self.choices.index(choice)]

    def documented_params(self) -> tuple[str, ...]:
        """Every parameter name the pages of this action's methods document."""
        names: list[str] = []
        for name in self.methods:
            info = methods().get(name)
            if info:
                names.extend(info.required + info.optional)
        return tuple(dict.fromkeys(names))

    def doc(self) -> str | None:
        """Doc page (path in the REST docs) of the action's main method."""
        for step in self.steps:
            info = methods().get(step[0])
            if info:
                return info.doc
        return None


def _read(name: str) -> list[dict]:
    text = resources.files(__name__).joinpath(name).read_text(encoding="utf-8")
    return list(csv.DictReader(io.StringIO(text), delimiter="\t"))


def _names(cell: str) -> tuple[str, ...]:
    return tuple(n for n in cell.split(",") if n)


@cache
def methods() -> dict[str, MethodInfo]:
    """Every documented REST method, by lower-case name."""
    return {
        r["method"]: MethodInfo(
            r["method"], r["doc"], _names(r["required"]), _names(r["optional"]), r.get("pages") or ""
        )
        for r in _read("methods.tsv")
    }


def is_documented(method: str) -> bool:
    return method.lower() in methods()


def _steps(cell: str) -> tuple[tuple[str, ...], ...]:
    return tuple(tuple(step.split("|")) for step in cell.split(",")) if cell else ()


@cache
def _actions() -> tuple[Action, ...]:
    return tuple(
        Action(
            action_id=r["action_id"],
            resource=r["resource"],
            action=r["action"],
            module=r["module"],
            operator_name=r["operator"],
            steps=_steps(r["methods"]),
            required_text=r["required"],
            optional_text=r["optional"],
            flags=frozenset(_names(r["flags"])),
            successor=r["successor"],
            upload=r["upload"],
            selector=r["selector"],
            choices=_names(r["choices"]),
        )
        for r in _read("actions.tsv")
    )


@cache
def _by_id() -> dict[str, Action]:
    return {a.action_id: a for a in _actions()}


def actions() -> tuple[Action, ...]:
    """Every catalogue action, in catalogue order."""
    return _actions()


def get_action(action_id: str) -> Action:
    """The action with this id; raises :class:`UnknownActionError` naming close matches."""
    try:
        return _by_id()[action_id]
    except (KeyError, TypeError):
        close = difflib.get_close_matches(str(action_id), list(_by_id()), n=3, cutoff=0.6)
        hint = (
            f"; did you mean {', '.join(close)}?"
            if close
            else "; see airflow_provider_bitrix24.catalogue.actions()"
        )
        raise UnknownActionError(f"unknown Bitrix24 action id {action_id!r}{hint}") from None


def resource_names() -> tuple[str, ...]:
    """Resource names in catalogue order."""
    return tuple(dict.fromkeys(a.resource for a in _actions()))


__all__ = [
    "Action",
    "MethodInfo",
    "UnknownActionError",
    "actions",
    "get_action",
    "is_documented",
    "methods",
    "resource_names",
]
