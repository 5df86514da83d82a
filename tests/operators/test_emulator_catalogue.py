"""The emulator answers every catalogue method, with the generic handlers filling the gaps."""

from __future__ import annotations

import requests

from airflow_provider_bitrix24.catalogue import actions, methods
from airflow_provider_bitrix24.emulator.handlers import catalogue as generic
from airflow_provider_bitrix24.emulator.registry import HANDLERS


def _post(emu, method, body=None):
    return requests.post(emu.webhook_url + method, json=body or {}, timeout=10)


def test_every_catalogue_method_has_a_handler(emu):
    wanted = {m for a in actions() for m in a.methods if m != "*"}
    assert wanted <= set(HANDLERS)
    # the generic handler never shadows a module that models a method for real
    assert HANDLERS["crm.deal.add"] is not generic.answer
    assert HANDLERS["crm.activity.add"] is generic.answer


def test_registration_is_idempotent_and_only_fills_gaps(emu):
    assert generic.register_unserved() == []


def test_generic_family_round_trip(emu):
    new_id = _post(emu, "crm.activity.add", {"fields": {"SUBJECT": "call"}}).json()["result"]
    assert isinstance(new_id, int)
    record = _post(emu, "crm.activity.get", {"id": new_id}).json()["result"]
    # ids come back as strings, as crm-activity-get.md shows
    assert record["SUBJECT"] == "call" and record["ID"] == str(new_id)
    listed = _post(emu, "crm.activity.list").json()
    assert listed["total"] == 1 and listed["result"][0]["ID"] == str(new_id)
    assert _post(emu, "crm.activity.delete", {"id": new_id}).json()["result"] is True
    fields = _post(emu, "crm.activity.fields").json()["result"]
    assert fields["ID"]["type"] == "integer"


def test_wrapped_shapes_follow_the_docs(emu):
    created = _post(emu, "crm.type.add", {"fields": {"title": "Orders"}}).json()["result"]
    assert created["type"]["title"] == "Orders" and "id" in created["type"]
    assert _post(emu, "crm.type.list").json()["result"]["types"][0]["title"] == "Orders"
    document = _post(emu, "documentgenerator.document.get", {"id": 3}).json()["result"]["document"]
    assert document["downloadUrlMachine"].startswith(emu.url) and document["pdfUrlMachine"].endswith(
        "format=pdf"
    )
    assert (
        _post(emu, "event.bind", {"event": "ONCRMDEALADD", "handler": "https://x.test"}).json()["result"]
        is True
    )


def test_generic_lists_page_by_fifty(emu):
    for i in range(55):
        _post(emu, "crm.quote.add", {"fields": {"TITLE": f"q{i}"}})
    first = _post(emu, "crm.quote.list").json()
    assert len(first["result"]) == 50 and first["next"] == 50 and first["total"] == 55
    second = _post(emu, "crm.quote.list", {"start": 50}).json()
    assert len(second["result"]) == 5 and "next" not in second


def test_undocumented_names_are_rejected(emu):
    reply = _post(emu, "crm.deal.merge")
    assert reply.status_code == 404 and reply.json()["error"] == "ERROR_METHOD_NOT_FOUND"
    assert "crm.deal.merge" not in methods()


def test_document_links_serve_bytes(emu):
    document = _post(emu, "documentgenerator.document.get", {"id": 8}).json()["result"]["document"]
    assert requests.get(document["downloadUrlMachine"], timeout=10).content == b"emulated docx document 8"


def test_documented_shapes_of_a_few_special_methods(emu):
    assert _post(emu, "im.dialog.get", {"DIALOG_ID": "chat12"}).json()["result"]["id"] == 12
    assert (
        _post(emu, "telephony.externalcall.register", {"USER_ID": 1, "PHONE_NUMBER": "+1", "TYPE": 2}).json()[
            "result"
        ]["CALL_ID"]
        == "1"  # a string, as telephony-external-call-register.md shows
    )
    updated = _post(emu, "crm.type.update", {"id": 4, "fields": {"title": "Renamed"}}).json()["result"]
    assert updated["type"]["title"] == "Renamed" and updated["type"]["id"] == 4
    assert (
        "PROPERTY_1"
        in _post(emu, "lists.field.get", {"IBLOCK_TYPE_ID": "lists", "IBLOCK_ID": 1}).json()["result"]
    )
