"""The shape notation of documented replies: reading an example, checking a reply, filling one in;
and the committed shapes are those the doc pages show today."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from airflow_provider_bitrix24.emulator import shapes

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT.parent / "shared" / "reference" / "b24restdocs"


def test_an_example_becomes_its_types_and_keys():
    example = {
        "ID": "7",
        "N": 3,
        "OK": True,
        "X": None,
        "TAGS": ["a"],
        "BY_ID": {"1": {"v": 1}, "2": {"v": 2}},
    }
    assert shapes.shape_of(example) == {
        "ID": "string",
        "N": "integer",
        "OK": "boolean",
        "X": "any",
        "TAGS": ["string"],
        "BY_ID": {"*": {"v": "integer"}},
    }
    # elements of a list share only what they all show
    assert shapes.shape_of([{"a": 1, "b": 2}, {"a": 3}]) == [{"a": "integer"}]


def test_problems_name_missing_keys_and_wrong_types():
    shape = {"ID": "string", "items": [{"n": "integer"}]}
    assert shapes.problems({"ID": "1", "items": [{"n": 2}], "extra": 1}, shape) == []
    assert shapes.problems({"items": [{"n": "2"}]}, shape) == [
        "result: no key 'ID'",
        "result.items[0].n: string where the docs show integer",
    ]
    assert shapes.problems(True, shape) == ["result: boolean where the docs show an object"]
    assert shapes.problems({"items": []}, shape, every_key=False) == []


def test_fit_fills_documented_keys_and_converts_scalars_without_dropping_data():
    shape = {"ID": "string", "N": "integer", "SUB": {"k": "boolean"}, "L": ["string"]}
    assert shapes.fit({"ID": 5, "N": "7", "other": 1}, shape) == {
        "ID": "5",
        "N": 7,
        "SUB": {"k": None},
        "L": [],
        "other": 1,
    }
    assert shapes.fit({"ID": 5}, shape, convert=False)["ID"] == 5
    assert shapes.fit({"ID": [1, 2]}, shape)["ID"] == [1, 2]  # a list in place of a scalar stays


def test_every_served_method_with_a_documented_reply_has_its_shape():
    from airflow_provider_bitrix24.catalogue import actions

    catalogue = {m for a in actions() for m in a.methods if m not in ("*", "batch")}
    missing = sorted(catalogue - set(shapes.documented()))
    # the outdated product pages show no reply at all
    assert all(name.startswith("crm.product.") for name in missing), missing


def test_committed_shapes_match_the_doc_pages():
    if not DOCS.is_dir():
        pytest.skip("the reference docs are not beside this clone")
    spec = importlib.util.spec_from_file_location(
        "extract_doc_responses", ROOT / "scripts" / "extract_doc_responses.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    built, _missing = module.build(DOCS)
    assert built == json.loads(
        (ROOT / "airflow_provider_bitrix24" / "emulator" / "response_shapes.json").read_text()
    )
