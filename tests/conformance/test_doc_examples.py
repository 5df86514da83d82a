"""Every action driven with its doc page's own example request: what reaches the portal is the
example, plus only the additions listed in :data:`ADDITIONS`.

The examples are facts extracted from the REST docs by ``scripts/extract_doc_examples.py`` into
``doc_examples.json`` (so the suite needs no copy of the docs). An action whose wire body is not
the example is an exception and must be listed, with its reason, in ``exceptions.tsv`` (rendered
into docs/operators.md); a listed action that has become verbatim fails too, so the list stays
true. What may be added is listed in ``additions.tsv``. At least :data:`VERBATIM_SHARE` of the actions must be verbatim; the share is reported at
the end of the run.
"""

from __future__ import annotations

import copy
import csv
import io
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_bitrix24.catalogue import Action, get_action
from airflow_provider_bitrix24.catalogue.params import OneOf, Param
from airflow_provider_bitrix24.operators import operator_class

from .reference import ROOT, require_reference

HERE = Path(__file__).resolve().parent
DATA = json.loads((HERE / "doc_examples.json").read_text(encoding="utf-8"))
EXAMPLES: dict[str, dict] = DATA["examples"]
EXCEPTIONS: dict[str, str] = {
    row["action_id"]: row["reason"]
    for row in csv.DictReader(
        io.StringIO((HERE / "exceptions.tsv").read_text(encoding="utf-8")), delimiter="\t"
    )
}
VERBATIM_SHARE = 0.97

# What an operator may add to a doc example, each a documented rule of the API or of the action.
ADDITIONS: dict[str, str] = {
    row["name"]: row["rule"]
    for row in csv.DictReader(
        io.StringIO((HERE / "additions.tsv").read_text(encoding="utf-8")), delimiter="\t"
    )
}

RESULTS: dict[str, str] = {}  # action id -> "" (verbatim) or what differed; read by conftest.py


@dataclass
class Wire:
    params: dict
    as_query: bool  # sent inside a batch command (a PHP query string: every scalar a string)


def _fixed_and_defaults(action: Action) -> tuple[dict[str, Any], dict[str, Any]]:
    """Top-level values the row fixes (required column) and defaults (optional column), plus the
    defaults inside objects as ``"outer.inner"``."""

    def values(terms: tuple, prefix: str = "") -> dict[str, Any]:
        out: dict[str, Any] = {}
        for term in terms:
            for param in term.options if isinstance(term, OneOf) else (term,):
                assert isinstance(param, Param)
                if param.value is not None and not param.is_object and param.source is None:
                    out[prefix + param.name] = param.value
                if param.is_object:
                    out.update(values(param.keys, f"{prefix}{param.name}."))
        return out

    return values(action.required.terms), values(action.optional.terms)


def _find(mapping: dict, name: str) -> str | None:
    return next((k for k in mapping if str(k).casefold() == name.casefold()), None)


def _drop(mapping: dict, dotted: str) -> None:
    outer, _, inner = dotted.partition(".")
    key = _find(mapping, outer)
    if key is None:
        return
    if not inner:
        del mapping[key]
    elif isinstance(mapping[key], dict):
        _drop(mapping[key], inner)


def _has(mapping: dict, dotted: str) -> bool:
    outer, _, inner = dotted.partition(".")
    key = _find(mapping, outer)
    if key is None:
        return False
    return not inner or (isinstance(mapping[key], dict) and _has(mapping[key], inner))


def _as_query(value: Any) -> Any:
    """``value`` as PHP reads it back from a query string: scalars as strings, lists as dicts."""
    if isinstance(value, dict):
        return {str(k): _as_query(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return {str(i): _as_query(v) for i, v in enumerate(value) if v is not None}
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


PAGING_KEYS = ("filter", "order", "select", "start")


def _php(value: Any) -> Any:
    """``value`` as the portal's PHP decodes it: an object keyed 0..n-1 is a list."""
    if isinstance(value, dict):
        if value and [str(k) for k in value] == [str(i) for i in range(len(value))]:
            return [_php(v) for v in value.values()]
        return {k: _php(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_php(v) for v in value]
    return value


def _lower_paging_keys(params: dict) -> dict:
    out: dict = {}
    for key, value in params.items():
        name = key.lower() if str(key).lower() in PAGING_KEYS else key
        if name in out:  # both spellings on the wire: never equal to an example
            out.setdefault("<sent in two spellings>", []).append(key)
        out[name] = value
    return out


def strip_additions(action: Action, example: dict, wire: dict) -> tuple[dict, dict]:
    """``(example, wire)`` with the listed additions taken out of both."""
    example, wire = _lower_paging_keys(_php(example)), _lower_paging_keys(_php(wire))
    fixed, defaults = _fixed_and_defaults(action)
    for name in fixed:  # the action's value stands for the example's
        _drop(example, name)
        _drop(wire, name)
    for name in defaults:
        if not _has(example, name):
            _drop(wire, name)
    if "auth" not in example:
        wire.pop("auth", None)
    if _find(example, "start") is None:
        _drop(wire, "start")
    # The ID cursor: its own filter condition, ID order and ID in select.
    for filter_name in ("filter", "FILTER"):
        key = _find(wire, filter_name)
        if key is not None and isinstance(wire[key], dict):
            given = example.get(_find(example, filter_name) or "", {}) or {}
            for cond in [c for c in wire[key] if str(c).lower() == ">id" and c not in given]:
                del wire[key][cond]
            if not wire[key] and _find(example, filter_name) is None:
                del wire[key]
    order_key = _find(wire, "order")
    if order_key is not None and isinstance(wire[order_key], dict) and wire[order_key]:
        order = wire[order_key]
        given = example.get(_find(example, "order") or "")
        *rest, last = order
        if str(last).lower() == "id" and (
            rest == [] and given is None or rest and given == {k: order[k] for k in rest}
        ):
            if rest:
                wire[order_key] = {k: order[k] for k in rest}
            else:
                del wire[order_key]
    select_key = _find(wire, "select")
    given_select = example.get(_find(example, "select") or "")
    if select_key is not None and isinstance(given_select, list):
        select = wire[select_key]
        if isinstance(select, list) and select[:-1] == given_select and str(select[-1]).lower() == "id":
            wire[select_key] = select[:-1]
    return example, wire


def _wire(emu, method: str) -> Wire | None:
    """The first request body the emulator received for ``method`` (batch commands included)."""
    for record in emu.requests:
        if record.is_batch and method != "batch":
            for sub in record.sub_calls:
                if sub.method == method:
                    return Wire(sub.params, as_query=True)
        elif record.method == method:
            return Wire(record.params, as_query=False)
    return None


def _operator_kwargs(action: Action, example: dict, tmp_path: Path, choice: str | None) -> dict:
    if action.action_id == "direct_api_batch":
        return {"commands": example.get("cmd"), "halt": example.get("halt", False)}
    kwargs: dict[str, Any] = {"parameters": example}
    if choice is not None:
        kwargs[action.selector] = choice
    if action.binary_down:
        kwargs["output_path"] = str(tmp_path / "download")
    return kwargs


def verdict(case_id: str, emu, tmp_path: Path, request: Any) -> str:
    """``""`` when the action sent its example (with listed additions only), else what differed.
    ``case_id`` is an action id, or ``action_id:choice`` for a further alternative of its row."""
    case = EXAMPLES[case_id]
    action_id = case_id.partition(":")[0]
    action = get_action(action_id)
    example = copy.deepcopy(case["params"])
    fixed, _ = _fixed_and_defaults(action)
    driven = copy.deepcopy(example)
    for name in fixed:
        _drop(driven, name)  # the action supplies its own value
    if action.app_only:
        request.getfixturevalue("oauth_conn")
    emu.clear_requests()
    error = None
    try:
        operator_class(action_id)(
            task_id="conformance", **_operator_kwargs(action, driven, tmp_path, case.get("choice"))
        ).execute({})
    except Exception as exc:  # the portal may refuse the example's ids; the request is what counts
        error = exc
    wire = _wire(emu, case["method"])
    if wire is None:
        return f"{case['method']} was not sent ({type(error).__name__}: {error})"
    if action_id == "direct_api_batch":
        return "" if wire.params == example else f"sent {wire.params!r}"
    expected, sent = strip_additions(action, example, wire.params)
    if wire.as_query:
        expected = _php(_as_query(expected))
    if sent == expected:
        return ""
    return f"sent {sent!r}, example {expected!r}"


@pytest.mark.parametrize("case_id", sorted(EXAMPLES))
def test_action_sends_its_doc_example(case_id, emu, webhook_conn, tmp_path, request):
    outcome = verdict(case_id, emu, tmp_path, request)
    RESULTS[case_id] = outcome
    if case_id in EXCEPTIONS:
        assert outcome, f"{case_id} now sends its example verbatim: remove it from exceptions.tsv"
    else:
        assert not outcome, f"{case_id}: {outcome}"


def test_exceptions_are_few_and_explained():
    unknown = set(EXCEPTIONS) - set(EXAMPLES)
    assert not unknown, f"exceptions.tsv names cases without an example: {sorted(unknown)}"
    assert all(reason.strip() for reason in EXCEPTIONS.values())
    share = 1 - len(EXCEPTIONS) / len(EXAMPLES)
    assert share >= VERBATIM_SHARE, f"only {share:.1%} of the doc examples are sent verbatim"


def test_examples_are_what_the_script_extracts_from_the_docs():
    require_reference()
    script = ROOT / "scripts" / "extract_doc_examples.py"
    done = subprocess.run([sys.executable, str(script), "--check"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert len({case_id.partition(":")[0] for case_id in EXAMPLES}) >= 300


def test_only_the_listed_additions_are_taken_out():
    deals = get_action("crm_deal_get_all")
    example = {"FILTER": {"STAGE_ID": "NEW"}, "SELECT": ["TITLE"]}
    cursor = {
        "filter": {"STAGE_ID": "NEW", ">ID": 0},
        "select": ["TITLE", "ID"],
        "order": {"ID": "ASC"},
        "start": -1,
    }
    assert strip_additions(deals, example, cursor)[1] == strip_additions(deals, example, example)[1]
    for wrong in (
        {**cursor, "filter": {"STAGE_ID": "WON", ">ID": 0}},  # a changed value
        {**cursor, "extra": 1},  # a key of our own
        {**cursor, "FILTER": {"STAGE_ID": "NEW"}},  # both spellings side by side
        {**cursor, "order": {"TITLE": "ASC", "ID": "ASC"}},  # an order the example does not ask for
    ):
        expected, sent = strip_additions(deals, example, wrong)
        assert sent != expected, wrong
    invoice = get_action("crm_invoice_get")
    expected, sent = strip_additions(invoice, {"entityTypeId": 1, "id": 5}, {"entityTypeId": 31, "id": 5})
    assert sent == expected  # the action's fixed entityTypeId stands for the example's
