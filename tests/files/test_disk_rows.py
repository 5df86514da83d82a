"""The Disk and File catalogue rows through their operators (and the generic operator) against
the emulator: alternatives picked by their selector, chained calls, listings, masking."""

from __future__ import annotations

import json

import pytest

from airflow_provider_bitrix24.catalogue import actions
from airflow_provider_bitrix24.catalogue.params import ParameterError
from airflow_provider_bitrix24.client.errors import Bitrix24Error, Bitrix24NotFound
from airflow_provider_bitrix24.operators import disk as disk_ops
from airflow_provider_bitrix24.operators import operator_class
from airflow_provider_bitrix24.operators.base import Bitrix24Operator


def run(action_id, **kwargs):
    return operator_class(action_id)(task_id=action_id, **kwargs).execute({})


def last(emu, method=None):
    calls = [
        r for r in emu.requests if r.method.startswith("disk.") and (method is None or r.method == method)
    ]
    return calls[-1]


@pytest.fixture
def tree(drive_state, root_folder):
    """root/{a.txt, docs/{b.txt, deep/{c.txt}}}"""
    root = drive_state.folder(root_folder)
    docs = drive_state._insert("folder", "docs", root["STORAGE_ID"], root_folder, user_id=1)
    deep = drive_state._insert("folder", "deep", root["STORAGE_ID"], docs["ID"], user_id=1)
    return {
        "a": drive_state.add_file(root_folder, "a.txt", b"a")["ID"],
        "b": drive_state.add_file(docs["ID"], "b.txt", b"bb")["ID"],
        "c": drive_state.add_file(deep["ID"], "c.txt", b"ccc")["ID"],
        "docs": docs["ID"],
        "deep": deep["ID"],
    }


def test_every_disk_and_file_row_has_its_class():
    rows = [a for a in actions() if a.resource in ("Disk", "File")]
    assert len(rows) == 33
    for row in rows:
        assert getattr(disk_ops, row.operator_name).action_id == row.action_id


def test_file_reads_and_links_are_masked(webhook_conn, emu, tree):
    for action_id in ("disk_get_file", "disk_get_file_info", "file_get_file"):
        record = run(action_id, parameters={"id": tree["a"]})
        assert record["NAME"] == "a.txt" and record["DOWNLOAD_URL"].endswith("?***")
        assert emu.webhook_code not in json.dumps(record)


@pytest.mark.parametrize("action_id", ["disk_list_files", "disk_get_files", "file_get_all_files"])
def test_file_listings(webhook_conn, emu, tree, root_folder, action_id):
    rows = run(action_id, parameters={"id": tree["docs"]})
    assert [r["NAME"] for r in rows] == ["b.txt"]  # folders left out
    assert last(emu).params["filter"] == {"TYPE": "file"}
    deep = run(action_id, parameters={"id": root_folder}, recursive=True)
    assert sorted(r["PATH"] for r in deep) == ["a.txt", "docs/b.txt", "docs/deep/c.txt"]
    assert all(r["DOWNLOAD_URL"].endswith("?***") for r in deep)


def test_folder_listing_of_a_storage_root(webhook_conn, emu, tree, storage_id, tmp_path):
    rows = run("disk_get_folders", parameters={"id": storage_id}, target="storage")
    assert [r["NAME"] for r in rows] == ["docs"] and last(emu).method == "disk.storage.getchildren"
    out = run(
        "disk_get_folders",
        parameters={"id": storage_id},
        target="storage",
        recursive=True,
        output_path=str(tmp_path / "f.jsonl"),
    )
    assert out["count"] == 2
    assert [json.loads(line)["PATH"] for line in (tmp_path / "f.jsonl").read_text().splitlines()] == [
        "docs",
        "docs/deep",
    ]


def test_file_get_all_files_on_a_storage(webhook_conn, emu, tree, storage_id):
    rows = run("file_get_all_files", parameters={"id": storage_id}, target="storage")
    assert [r["NAME"] for r in rows] == ["a.txt"]


@pytest.mark.parametrize("action_id", ["disk_delete_file", "file_delete_file"])
def test_delete_file_modes(webhook_conn, emu, tree, drive_state, action_id):
    run(action_id, parameters={"id": tree["b"]}, mode="trash")
    assert last(emu).method == "disk.file.markdeleted" and drive_state.objects[tree["b"]]["DELETED_TYPE"] == 3
    run(action_id, parameters={"id": tree["a"]})
    assert last(emu).method == "disk.file.delete" and tree["a"] not in drive_state.objects
    with pytest.raises(Bitrix24NotFound):
        run("disk_get_file", parameters={"id": tree["a"]})


def test_delete_folder_modes(webhook_conn, emu, tree, drive_state):
    run("disk_delete_folder", parameters={"id": tree["deep"]}, mode="trash")
    assert drive_state.objects[tree["c"]]["DELETED_TYPE"] == 4  # deleted with its parent
    run("disk_delete_folder", parameters={"id": tree["docs"]})
    assert tree["b"] not in drive_state.objects and tree["c"] not in drive_state.objects


def test_delete_folder_refuses_a_bad_mode_before_sending(webhook_conn, emu, tree):
    with pytest.raises(ParameterError, match="mode must be one of"):
        run("disk_delete_folder", parameters={"id": tree["deep"]}, mode="shred")
    assert emu.requests == []


@pytest.mark.parametrize("action_id", ["disk_create_folder", "disk_add_folder"])
def test_create_folder(webhook_conn, emu, root_folder, storage_id, action_id):
    made = run(action_id, parameters={"id": root_folder, "data": {"NAME": "New"}})
    assert made["NAME"] == "New" and last(emu).method == "disk.folder.addsubfolder"
    with pytest.raises(Bitrix24Error, match="DISK_OBJ_22000"):
        run(action_id, parameters={"id": root_folder, "data": {"NAME": "New"}})
    again = run(action_id, parameters={"id": root_folder, "data": {"NAME": "New"}}, exist_ok=True)
    assert again["ID"] == made["ID"]
    nested = run(
        action_id, parameters={"id": storage_id, "data": {"NAME": "New/x/y"}}, target="storage", exist_ok=True
    )
    assert nested["NAME"] == "y"
    top = run(action_id, parameters={"id": storage_id, "data": {"NAME": "Top"}}, target="storage")
    assert last(emu).method == "disk.storage.addfolder" and top["PARENT_ID"] == str(root_folder)


def test_storages_and_rights(webhook_conn, emu, storage_id):
    storages = run("disk_get_storages")
    assert {s["ENTITY_TYPE"] for s in storages} == {"user", "common"}
    assert run("disk_get_storage", parameters={"id": storage_id})["ID"] == str(storage_id)
    assert run("disk_get_storage_info", parameters={"id": storage_id})["ROOT_OBJECT_ID"]
    shared = run("disk_get_shared_items", parameters={"filter": {"ENTITY_TYPE": "common"}})
    assert [s["ENTITY_TYPE"] for s in shared] == ["common"]
    assert "disk_access_read" in {t["NAME"] for t in run("disk_get_sharing_rights")}


def test_folder_get_rename_copy_move(webhook_conn, emu, tree, root_folder, drive_state):
    assert run("disk_get_folder", parameters={"id": tree["docs"]})["NAME"] == "docs"
    assert run("disk_rename_folder", parameters={"id": tree["deep"], "newName": "deeper"})["NAME"] == "deeper"
    assert (
        run("disk_update_folder", parameters={"id": tree["deep"], "newName": "deepest"})["NAME"] == "deepest"
    )
    copy = run("disk_copy_folder", parameters={"id": tree["deep"], "targetFolderId": root_folder})
    assert copy["NAME"] == "deepest" and copy["ID"] != str(tree["deep"])
    assert [o["NAME"] for o in drive_state.children(int(copy["ID"]))] == ["c.txt"]  # contents copied
    with pytest.raises(Bitrix24Error, match="DISK_OBJ_22000"):
        run("disk_move_folder", parameters={"id": tree["deep"], "targetFolderId": root_folder})
    moved = run("disk_move_folder", parameters={"id": tree["docs"], "targetFolderId": int(copy["ID"])})
    assert moved["PARENT_ID"] == copy["ID"]


def test_file_copy_move_rename(webhook_conn, emu, tree, root_folder):
    assert run("disk_rename_file", parameters={"id": tree["a"], "newName": "a2.txt"})["NAME"] == "a2.txt"
    copied = run("disk_copy_file", parameters={"id": tree["a"], "targetFolderId": tree["docs"]})
    assert copied["PARENT_ID"] == str(tree["docs"]) and copied["NAME"] == "a2.txt"
    moved = run("disk_move_file", parameters={"id": tree["c"], "targetFolderId": root_folder})
    assert moved["PARENT_ID"] == str(root_folder)


def test_file_move_and_copy_with_a_new_name(webhook_conn, emu, tree, root_folder):
    moved = run(
        "file_move_file",
        parameters={"id": tree["b"], "targetFolderId": root_folder, "newName": "b-moved.txt"},
    )
    assert (moved["NAME"], moved["PARENT_ID"]) == ("b-moved.txt", str(root_folder))
    assert [r.method for r in emu.requests][-2:] == ["disk.file.moveto", "disk.file.rename"]
    copied = run(
        "file_copy_file",
        parameters={"id": tree["a"], "targetFolderId": tree["docs"], "newName": "a-copy.txt"},
    )
    assert copied["NAME"] == "a-copy.txt" and copied["ID"] != str(tree["a"])
    assert [r.method for r in emu.requests][-2:] == ["disk.file.copyto", "disk.file.rename"]
    plain = run("file_move_file", parameters={"id": tree["c"], "targetFolderId": tree["docs"]})
    assert plain["NAME"] == "c.txt" and [r.method for r in emu.requests][-1] == "disk.file.moveto"


def test_share_item_variants(webhook_conn, emu, tree):
    assert (
        run("disk_share_item", parameters={"id": tree["docs"], "userId": 1, "taskName": "disk_access_read"})
        is True
    )
    assert last(emu).method == "disk.folder.sharetouser"
    link = run("disk_share_item", parameters={"id": tree["a"]}, share="file_link")
    assert last(emu).method == "disk.file.getexternallink" and link.startswith(emu.url)
    run("disk_share_item", parameters={"id": tree["docs"]}, share="folder_link")
    assert last(emu).method == "disk.folder.getexternallink"
    with pytest.raises(ParameterError):
        run("disk_share_item", parameters={"id": tree["docs"]})  # sharing with a user needs userId, taskName
    assert (
        run(
            "disk_update_sharing_rights",
            parameters={"id": tree["docs"], "userId": 1, "taskName": "disk_access_edit"},
        )
        is True
    )


def test_generic_operator_runs_the_drive_rows(webhook_conn, emu, tree, root_folder, tmp_path):
    def generic(action_id, **kwargs):
        return Bitrix24Operator(task_id="g", action_id=action_id, **kwargs).execute({})

    out = generic("disk_download_file", parameters={"id": tree["b"]}, output_path=str(tmp_path / "b.txt"))
    assert out["size"] == 2 and (tmp_path / "b.txt").read_bytes() == b"bb"
    assert [r["NAME"] for r in generic("disk_list_files", parameters={"id": tree["docs"]})] == ["b.txt"]
    moved = generic(
        "file_move_file", parameters={"id": tree["c"], "targetFolderId": root_folder, "newName": "c2.txt"}
    )
    assert moved["NAME"] == "c2.txt" and moved["DOWNLOAD_URL"].endswith("?***")
    up = generic(
        "disk_upload_file",
        parameters={"id": root_folder, "data": {"NAME": "g.txt"}},
        files={"fileContent": b"g"},
    )
    assert up["NAME"] == "g.txt"


def test_listings_read_every_page(webhook_conn, emu, drive_state, root_folder):
    root = drive_state.folder(root_folder)
    sub = drive_state._insert("folder", "many", root["STORAGE_ID"], root_folder, user_id=1)
    for n in range(120):
        drive_state.add_file(sub["ID"], f"f{n:03}.txt", b"x")
    rows = run("disk_list_files", parameters={"id": sub["ID"]})
    assert len(rows) == 120 and len({r["ID"] for r in rows}) == 120
    assert len([r for r in emu.requests if r.method == "disk.folder.getchildren"]) == 3  # 50 + 50 + 20
    deep = run("disk_get_files", parameters={"id": root_folder}, recursive=True, limit=70)
    assert len(deep) == 70 and deep[0]["PATH"] == "many/f000.txt"
