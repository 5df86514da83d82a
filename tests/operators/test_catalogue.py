"""The catalogue data and its mapping onto operator classes."""

from __future__ import annotations

import ast
import csv
import importlib
import inspect
import io
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conformance.reference import ROOT, require_reference

import airflow_provider_bitrix24
import airflow_provider_bitrix24.operators as operators_pkg
from airflow_provider_bitrix24.catalogue import (
    UnknownActionError,
    actions,
    get_action,
    is_documented,
    methods,
)
from airflow_provider_bitrix24.catalogue.params import parse
from airflow_provider_bitrix24.operators import operator_class
from airflow_provider_bitrix24.operators.base import Bitrix24ActionOperator

PACKAGE = Path(airflow_provider_bitrix24.__file__).parent


def test_catalogue_has_every_action_once():
    ids = [a.action_id for a in actions()]
    assert len(ids) == 332
    assert len(set(ids)) == len(ids)
    assert len({a.resource for a in actions()}) == 27


def test_entries_carry_the_documented_facts():
    action = get_action("open_lines_close_session")
    assert action.resource == "Open Lines"
    assert action.methods[0] == "imopenlines.dialog.get"
    assert "imopenlines.operator.another.finish" in action.methods
    assert action.selector == "closed_by" and action.choices[:2] == ("operator", "another_operator")
    assert action.operator == "airflow_provider_bitrix24.operators.openlines.OpenLinesCloseSessionOperator"
    deal = get_action("crm_deal_create")
    assert deal.deprecated and deal.successor.startswith("crm.item.add")
    assert get_action("message_service_send_message").not_offered
    assert get_action("events_register_handler").app_only
    assert get_action("crm_deal_get_all").paged


def test_unknown_action_id_suggests_close_matches():
    with pytest.raises(UnknownActionError, match="did you mean crm_deal_create"):
        get_action("crm_deal_creat")


def _operator_classes() -> dict[str, list[type]]:
    """action_id -> distinct classes defined in the operator modules that declare it."""
    found: dict[str, list[type]] = {}
    for info in pkgutil.iter_modules(operators_pkg.__path__):
        module = importlib.import_module(f"{operators_pkg.__name__}.{info.name}")
        for _name, cls in inspect.getmembers(module, inspect.isclass):
            aid = cls.__dict__.get("action_id")
            if issubclass(cls, Bitrix24ActionOperator) and aid and cls.__module__ == module.__name__:
                if cls not in found.setdefault(aid, []):
                    found[aid].append(cls)
    return found


def test_every_row_has_exactly_one_operator_class_and_vice_versa():
    classes = _operator_classes()
    catalogue_ids = {a.action_id for a in actions()}
    assert set(classes) == catalogue_ids, set(classes) ^ catalogue_ids
    for action in actions():
        cls = operator_class(action.action_id)
        assert f"{cls.__module__}.{cls.__name__}" == action.operator
        # Any other class naming the same action must be a base the row's class builds on
        # (e.g. a transfer operator with more arguments), never a second, parallel class.
        others = [c for c in classes[action.action_id] if c is not cls]
        assert cls in classes[action.action_id]
        assert all(issubclass(cls, other) for other in others), others


def test_operators_are_importable_by_name_from_the_package():
    from airflow_provider_bitrix24.operators import (
        CloseOpenLineSessionOperator,
        CrmDealCreateOperator,
        DiskDownloadOperator,
        DiskUploadOperator,
        TaskCreateOperator,
    )

    # The streaming Drive operators the docs point to are bases of catalogue rows, not rows.
    assert (
        DiskUploadOperator.__module__
        == DiskDownloadOperator.__module__
        == "airflow_provider_bitrix24.operators.disk"
    )
    assert CrmDealCreateOperator.action_id == "crm_deal_create"
    assert TaskCreateOperator.action_id == "task_create"
    assert CloseOpenLineSessionOperator.action_id == "open_lines_close_session"


def test_every_parameter_cell_parses():
    for action in actions():
        parse(action.required_text), parse(action.optional_text)


def test_committed_catalogue_is_what_the_build_script_makes():
    require_reference()
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts/build_catalogue.py"), "--check"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


# Files that name methods only to classify them (retry safety, paging), never to call them;
# the emulator answers methods rather than sending them.
CLASSIFICATION_ONLY = {"client/methods.py"}
METHOD_LITERAL = re.compile(r"^[a-z][a-z0-9]*(\.[a-z0-9]+)+$")
# Dotted strings in the source that are not REST methods (modules, files, hosts).
NOT_METHODS = re.compile(
    r"^(airflow|airflow_provider_bitrix24|os|json|http|apidocs|oauth|emulator|urllib3|requests|httpx|httpcore)\.|\.(py|md|tsv|json|html|com|local|txt)$"
)


def _sendable_literals() -> set[str]:
    names: set[str] = set()
    for path in PACKAGE.rglob("*.py"):
        if "emulator" in path.parts or path.relative_to(PACKAGE).as_posix() in CLASSIFICATION_ONLY:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and METHOD_LITERAL.match(node.value)
            ):
                if not NOT_METHODS.search(node.value):
                    names.add(node.value)
    return names


def test_every_method_the_package_can_send_is_documented():
    sendable = {m for a in actions() for m in a.methods if m != "*"} | _sendable_literals()
    undocumented = sorted(m for m in sendable if not is_documented(m))
    assert not undocumented
    assert len(sendable) > 300  # the scan did find the catalogue


def _tsv(path: Path) -> list[dict]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8")), delimiter="\t"))


def test_methods_index_is_the_reference_copy_with_listed_corrections():
    """Every reference method is packaged; a value differs only where corrections.tsv says the
    doc page wins, and says what the reference had."""
    reference = {r["method"]: r for r in _tsv(require_reference() / "methods.tsv")}
    packaged = {r["method"]: r for r in _tsv(PACKAGE / "catalogue" / "methods.tsv")}
    assert set(packaged) == set(reference)
    fixes = {
        (r["name"], r["column"]): r
        for r in _tsv(PACKAGE / "catalogue" / "corrections.tsv")
        if r["table"] == "methods.tsv"
    }
    for name, row in reference.items():
        for column in ("doc", "required", "optional"):
            fix = fixes.get((name, column))
            if fix:
                assert (fix["reference"], fix["package"]) == (row[column], packaged[name][column])
            else:
                assert packaged[name][column] == row[column], (name, column)
    assert "crm.deal.add" in methods()


def test_list_methods_page_by_what_their_pages_say():
    """A one-call action pages exactly when its method's page documents paging."""
    assert methods()["crm.status.list"].pages and methods()["disk.storage.getlist"].pages
    assert not methods()["crm.deal.get"].pages
    for action in actions():
        if len(action.steps) == 1 and not action.is_generic:
            assert action.paged == all(methods()[m].pages for m in action.steps[0]), action.action_id
    for action_id in ("disk_get_shared_items", "document_generator_get_providers", "status_get_all"):
        assert get_action(action_id).paged


def test_operator_docs_are_generated_from_the_catalogue():
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts/gen_operator_docs.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    text = (ROOT / "docs/operators.md").read_text(encoding="utf-8")
    assert all(f"`{a.action_id}`" in text for a in actions())
    assert "(docs/operators.md)" in (ROOT / "README.md").read_text(encoding="utf-8")


def test_single_call_rows_require_what_the_method_pages_require():
    """The row's required column may add to the index (pages the index misread) but never drops
    a name the method page marks required; rows whose operator has its own ``run`` (chains,
    repeats) compute those values themselves."""
    for action in actions():
        if (
            len(action.methods) != 1
            or action.is_generic
            or operator_class(action.action_id).run is not Bitrix24ActionOperator.run
        ):
            continue
        required = {p.name.casefold() for p in action.required.params()}
        required |= {p.source.casefold() for p in action.required.params() if p.source}
        page = methods()[action.methods[0]]
        assert {r.casefold() for r in page.required} <= required, action.action_id
