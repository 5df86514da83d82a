"""The parameter notation of the catalogue and the checks built on it (pure, no portal)."""

from __future__ import annotations

import pytest

from airflow_provider_bitrix24.catalogue.params import OneOf, ParameterError, check, parse


def test_notation_parses_into_terms():
    spec = parse(
        "IBLOCK_TYPE_ID,IBLOCK_ID|IBLOCK_CODE,FIELDS{NAME,PROPERTY_<n>...},values[],status(Y|N|Q),LIMIT(<=50)"
    )
    names = [t.name for t in spec.terms]
    assert names == ["IBLOCK_TYPE_ID", "IBLOCK_ID|IBLOCK_CODE", "FIELDS", "values", "status", "LIMIT"]
    assert isinstance(spec.terms[1], OneOf)
    fields = spec.terms[2]
    assert fields.is_object and fields.open and [k.name for k in fields.keys] == ["NAME", "PROPERTY_*"]
    assert spec.terms[3].is_array and spec.terms[4].choices == ("Y", "N", "Q") and spec.terms[5].maximum == 50


def test_fixed_and_templated_values():
    spec = parse("entityTypeId=31,DIALOG_ID=chat<CHAT_ID>,MESSAGE")
    checked = check("demo", {"CHAT_ID": 5, "MESSAGE": "hi"}, spec, parse(""))
    assert checked.params == {"entityTypeId": 31, "DIALOG_ID": "chat5", "MESSAGE": "hi"}


def test_inner_defaults_fill_the_object():
    checked = check("demo", {"id": 1}, parse("id"), parse("filter{TYPE:'file',NAME...},order"))
    assert checked.params["filter"] == {"TYPE": "file"}


def test_names_match_regardless_of_case_and_documented_prefixes():
    checked = check("demo", {"ID": 1, "UF_CRM_X": 2}, parse("id"), parse(""), documented=("UF_",))
    assert checked.params == {"ID": 1, "UF_CRM_X": 2} and checked.warnings == []


def test_open_top_level_warns_instead_of_failing():
    checked = check("demo", {"EMAIL": "a@b.c", "HOBBY": "x"}, parse("EMAIL"), parse("NAME,PERSONAL_*..."))
    assert checked.warnings and "HOBBY" in checked.warnings[0]
    with pytest.raises(ParameterError, match="unknown parameter"):
        check("demo", {"EMAIL": "a@b.c", "HOBBY": "x"}, parse("EMAIL"), parse("NAME"))


def test_one_of_inside_an_object():
    spec = parse("CODE,PROPERTIES{NAME|LAST_NAME}")
    check("demo", {"CODE": "bot", "PROPERTIES": {"LAST_NAME": "Bot"}}, spec, parse(""))
    with pytest.raises(ParameterError, match="'PROPERTIES.NAME' or 'PROPERTIES.LAST_NAME'"):
        check("demo", {"CODE": "bot", "PROPERTIES": {"COLOR": "RED"}}, spec, parse(""))
