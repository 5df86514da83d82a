"""Every BINARY row of the catalogue through its operator and the emulator, plus one row per
``upload`` shape (fileData / [name, base64] / bare base64) of the CRM-style file fields."""

from __future__ import annotations

import base64
import os

import pytest

from airflow_provider_bitrix24.client.files import upload_via_url
from airflow_provider_bitrix24.operators import operator_class

DATA = b"%PDF-1.4 fake but binary \x00\x01\x02\xff" * 50


@pytest.fixture
def doc(tmp_path):
    path = tmp_path / "contract.pdf"
    path.write_bytes(DATA)
    return path


def run(action_id, **kwargs):
    return operator_class(action_id)(task_id=action_id, **kwargs).execute({})


def sent(emu, method):
    """Parameters of the last call of ``method`` as the portal received them."""
    return [r for r in emu.requests if r.method == method][-1].params


def decoded(value) -> bytes:
    return base64.b64decode(value)


def test_document_generator_download_document(webhook_conn, emu, tmp_path):
    for fmt in ("docx", "pdf"):
        out = run(
            "document_generator_download_document",
            parameters={"id": 7, "format": fmt},
            output_path=str(tmp_path / f"doc.{fmt}"),
        )
        body = (tmp_path / f"doc.{fmt}").read_bytes()
        assert out["size"] == len(body) > 0 and fmt.encode() in body


def test_document_generator_create_template(webhook_conn, emu, doc):
    run(
        "document_generator_create_template",
        parameters={"fields": {"name": "Contract", "numeratorId": 1, "region": "us"}},
        files={"fields.file": str(doc)},
    )
    value = sent(emu, "documentgenerator.template.add")["fields"]["file"]
    name, content = value if isinstance(value, list) else (None, value)
    assert decoded(content) == DATA and name in (None, "contract.pdf")


@pytest.mark.parametrize("action_id", ["disk_upload_file", "file_upload_file"])
def test_upload_rows_take_the_catalogue_shape(webhook_conn, emu, root_folder, doc, tmp_path, action_id):
    record = run(
        action_id,
        parameters={"id": root_folder, "data": {"NAME": f"{action_id}.pdf"}},
        files={"fileContent": str(doc)},
    )
    assert record["NAME"] == f"{action_id}.pdf"
    pair = sent(emu, "disk.folder.uploadfile")["fileContent"]
    assert pair[0] == f"{action_id}.pdf" and decoded(pair[1]) == DATA


@pytest.mark.parametrize("action_id", ["disk_download_file", "file_download_file"])
def test_download_rows(webhook_conn, emu, root_folder, drive_state, tmp_path, action_id):
    obj = drive_state.add_file(root_folder, "a.bin", DATA)
    out = run(action_id, parameters={"id": obj["ID"]}, output_path=str(tmp_path / "a.bin"))
    assert out["size"] == len(DATA) and (tmp_path / "a.bin").read_bytes() == DATA


def test_timeline_add_comment_files(webhook_conn, emu, doc, tmp_path):
    second = tmp_path / "notes.txt"
    second.write_bytes(b"second file")
    run(
        "timeline_add_comment",
        parameters={"fields": {"ENTITY_ID": 1, "ENTITY_TYPE": "deal", "COMMENT": "see files"}},
        files={"fields.FILES": [str(doc), str(second)]},
    )
    files = sent(emu, "crm.timeline.comment.add")["fields"]["FILES"]
    assert [f[0] for f in files] == ["contract.pdf", "notes.txt"]
    assert decoded(files[0][1]) == DATA and decoded(files[1][1]) == b"second file"


def test_chatbot_update_chat_avatar(webhook_conn, emu, tmp_path):
    png = tmp_path / "avatar.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(64))
    run("chatbot_update_chat_avatar", parameters={"CHAT_ID": 5}, files={"AVATAR": str(png)})
    assert decoded(sent(emu, "imbot.chat.updateavatar")["AVATAR"]) == png.read_bytes()


def test_lists_add_element_file_property(webhook_conn, emu, doc):
    run(
        "lists_add_element",
        parameters={
            "IBLOCK_TYPE_ID": "lists",
            "IBLOCK_ID": 3,
            "ELEMENT_CODE": "el-1",
            "FIELDS": {"NAME": "Row"},
        },
        files={"FIELDS.PROPERTY_12": str(doc)},
    )
    pair = sent(emu, "lists.element.add")["FIELDS"]["PROPERTY_12"]
    assert pair[0] == "contract.pdf" and decoded(pair[1]) == DATA


def test_lists_get_element_file(webhook_conn, emu, tmp_path):
    out = run(
        "lists_get_element_file",
        parameters={"IBLOCK_TYPE_ID": "lists", "IBLOCK_ID": 3, "ELEMENT_ID": 9, "FIELD_ID": 12},
        output_path=f"{tmp_path}/files/",
    )
    assert out["count"] == 1
    path = out["files"][0]["path"]
    assert os.path.getsize(path.replace("file://", "")) == out["files"][0]["size"] > 0


def test_telephony_attach_call_record_inline(webhook_conn, emu, drive_state, tmp_path):
    mp3 = tmp_path / "call.mp3"
    mp3.write_bytes(b"ID3" + os.urandom(2000))
    result = run(
        "telephony_attach_call_record", parameters={"CALL_ID": "ext.1"}, files={"FILE_CONTENT": str(mp3)}
    )
    params = sent(emu, "telephony.externalcall.attachrecord")
    assert params["FILENAME"] == "call.mp3" and decoded(params["FILE_CONTENT"]) == mp3.read_bytes()
    stored = drive_state.objects[int(result["FILE_ID"])]
    with open(drive_state.blob_path(stored["FILE_ID"]), "rb") as fh:
        assert fh.read() == mp3.read_bytes()


def test_telephony_attach_call_record_two_step(webhook_conn, emu, drive_state, tmp_path):
    from airflow_provider_bitrix24.hooks.bitrix24 import Bitrix24Hook

    wav = tmp_path / "long.wav"
    wav.write_bytes(os.urandom(300_000))
    client = Bitrix24Hook().get_conn()
    result = upload_via_url(
        client,
        "telephony.externalcall.attachrecord",
        {"CALL_ID": "ext.2", "FILENAME": "long.wav"},
        str(wav),
        filename="long.wav",
        field_key="fieldName",
    )
    stored = drive_state.objects[int(result["FILE_ID"])]
    assert stored["NAME"] == "long.wav" and stored["SIZE"] == 300_000
    again = upload_via_url(
        client,
        "telephony.externalcall.attachrecord",
        {"CALL_ID": "ext.2", "FILENAME": "long.wav"},
        b"RIFF",
        filename="long.wav",
        field_key="fieldName",
    )
    assert again["FILE_ID"] == result["FILE_ID"]  # a repeat call replaces the record
    assert drive_state.objects[int(result["FILE_ID"])]["SIZE"] == 4


def test_telephony_attach_call_record_rejects_other_extensions(webhook_conn, emu, tmp_path):
    from airflow_provider_bitrix24.client.errors import Bitrix24Error

    txt = tmp_path / "call.txt"
    txt.write_bytes(b"x")
    with pytest.raises(Bitrix24Error, match="Only wav and mp3"):
        run("telephony_attach_call_record", parameters={"CALL_ID": "ext.3"}, files={"FILE_CONTENT": str(txt)})


@pytest.mark.parametrize(
    ("action_id", "parameters", "path", "method", "shape"),
    [
        (
            "crm_deal_create",
            {"fields": {"TITLE": "With file"}},
            "fields.UF_CRM_DOC",
            "crm.deal.add",
            "filedata",
        ),
        (
            "spa_create_item",
            {"entityTypeId": 1038, "fields": {"title": "x"}},
            "fields.ufCrm5Doc",
            "crm.item.add",
            "pair",
        ),
    ],
)
def test_crm_file_fields(webhook_conn, emu, doc, action_id, parameters, path, method, shape):
    run(action_id, parameters=parameters, files={path: str(doc)})
    value = sent(emu, method)["fields"][path.split(".")[1]]
    pair = value["fileData"] if shape == "filedata" else value
    assert pair[0] == "contract.pdf" and decoded(pair[1]) == DATA


def _at(params: dict, dotted: str):
    value = params
    for part in dotted.split("."):
        value = value[part]
    return value


# (action, parameters, file parameter path, method that receives it, shape of the value)
UPLOAD_ROWS = [
    ("crm_contact_create", {"fields": {"NAME": "Ann"}}, "fields.UF_CRM_SCAN", "crm.contact.add", "filedata"),
    ("crm_lead_create", {"fields": {"TITLE": "Lead"}}, "fields.UF_CRM_SCAN", "crm.lead.add", "filedata"),
    ("crm_company_create", {"fields": {"TITLE": "Co"}}, "fields.UF_CRM_LOGO", "crm.company.add", "filedata"),
    ("crm_invoice_create", {"fields": {"title": "Inv"}}, "fields.ufCrmScan", "crm.item.add", "pair"),
    (
        "activity_create",
        {
            "fields": {
                "OWNER_TYPE_ID": 2,
                "OWNER_ID": 1,
                "TYPE_ID": 4,
                "RESPONSIBLE_ID": 1,
                "COMMUNICATIONS": [{"VALUE": "a@b.c", "ENTITY_ID": 1, "ENTITY_TYPE_ID": 3}],
            }
        },
        "fields.FILES",
        "crm.activity.add",
        "filedata",
    ),
    (
        "data_storage_add_entity_section",
        {"ENTITY": "store", "NAME": "Pics"},
        "PICTURE",
        "entity.section.add",
        "pair",
    ),
    (
        "data_storage_add_entity_item",
        {"ENTITY": "store", "NAME": "Row"},
        "PROPERTY_VALUES.SCAN",
        "entity.item.add",
        "pair",
    ),
    ("chat_create_chat", {"TITLE": "Room", "USERS": [1]}, "AVATAR", "im.chat.add", "base64"),
    (
        "product_add_product",
        {"fields": {"NAME": "Widget"}},
        "fields.PREVIEW_PICTURE",
        "crm.product.add",
        "filedata",
    ),
]


@pytest.mark.parametrize(
    ("action_id", "parameters", "path", "method", "shape"), UPLOAD_ROWS, ids=[r[0] for r in UPLOAD_ROWS]
)
def test_file_parameters_of_other_actions(oauth_conn, emu, doc, action_id, parameters, path, method, shape):
    run(action_id, parameters=parameters, files={path: str(doc)})
    value = _at(sent(emu, method), path)
    if shape == "base64":
        assert decoded(value) == DATA
        return
    pair = value["fileData"] if shape == "filedata" else value
    assert pair[0] == "contract.pdf" and decoded(pair[1]) == DATA


def test_chat_update_avatar_step(webhook_conn, emu, tmp_path):
    png = tmp_path / "a.png"
    png.write_bytes(b"\x89PNG" + bytes(range(40)))
    run("chat_update_chat", parameters={"CHAT_ID": 3}, files={"AVATAR": str(png)})
    assert decoded(sent(emu, "im.chat.updateavatar")["AVATAR"]) == png.read_bytes()


def test_a_file_too_large_for_an_inline_field_is_refused_before_sending(webhook_conn, emu, tmp_path):
    from airflow_provider_bitrix24.client.files import DEFAULT_INLINE_LIMIT, Bitrix24FileTooLarge

    big = tmp_path / "big.bin"
    with open(big, "wb") as fh:
        fh.truncate(DEFAULT_INLINE_LIMIT + 1)  # sparse: costs no disk
    with pytest.raises(Bitrix24FileTooLarge, match="above the limit"):
        run(
            "timeline_add_comment",
            parameters={"fields": {"ENTITY_ID": 1, "ENTITY_TYPE": "deal", "COMMENT": "x"}},
            files={"fields.FILES": [str(big)]},
        )
    assert emu.requests == []
