"""Upload and download through the operators against the emulator: both upload routes, the
conflict policies, missing objects, size limits and downloads that break off."""

from __future__ import annotations

import hashlib
import os

import pytest

from airflow_provider_bitrix24.client.errors import Bitrix24AuthError, Bitrix24Error, Bitrix24NotFound
from airflow_provider_bitrix24.client.files import Bitrix24DownloadError, Bitrix24FileExists
from airflow_provider_bitrix24.operators.disk import DiskDownloadOperator, DiskUploadOperator

SMALL_LIMIT = 64 * 1024  # tests force the two-step route with files above this


def upload(source, target_id, **kwargs):
    return DiskUploadOperator(task_id="up", source=source, target_id=target_id, **kwargs).execute({})


def download(file_id, output_path, **kwargs):
    return DiskDownloadOperator(
        task_id="down", file_id=file_id, output_path=str(output_path), **kwargs
    ).execute({})


def methods(emu):
    return [r.method for r in emu.requests]


def test_small_file_goes_inline_as_base64(webhook_conn, emu, root_folder, tmp_path):
    src = tmp_path / "note.txt"
    src.write_bytes(b"hello drive")
    record = upload(str(src), root_folder)
    assert record["NAME"] == "note.txt" and int(record["SIZE"]) == 11
    assert "upload" not in methods(emu)  # no second HTTP leg
    sent = next(r for r in emu.requests if r.method == "disk.folder.uploadfile").params
    assert sent["fileContent"][0] == "note.txt" and sent["data"] == {"NAME": "note.txt"}
    out = download(record["ID"], f"{tmp_path}/out/")
    assert out["path"].endswith("note.txt")
    with open(out["path"], "rb") as fh:
        assert fh.read() == b"hello drive"


def test_large_file_uses_the_two_step_upload(webhook_conn, emu, root_folder, tmp_path):
    data = os.urandom(3 * SMALL_LIMIT + 5)
    record = upload(data, root_folder, file_name="blob.bin", inline_limit=SMALL_LIMIT)
    calls = [r for r in emu.requests if r.method in ("disk.folder.uploadfile", "upload")]
    assert [r.method for r in calls] == ["disk.folder.uploadfile", "upload"]
    assert "fileContent" not in calls[0].params
    out = download(record["ID"], tmp_path / "blob.bin")
    assert out["size"] == len(data) and (tmp_path / "blob.bin").read_bytes() == data


def test_storage_root_target_small_and_large(webhook_conn, emu, storage_id, tmp_path):
    small = upload(b"abc", storage_id, target="storage", file_name="s.txt")
    assert "disk.storage.uploadfile" in methods(emu)
    big = upload(
        os.urandom(SMALL_LIMIT + 1), storage_id, target="storage", file_name="b.bin", inline_limit=SMALL_LIMIT
    )
    # storage.uploadfile has no uploadUrl variant: the root folder's two-step flow is used
    assert small["PARENT_ID"] == big["PARENT_ID"]
    assert methods(emu)[-2:] == ["disk.folder.uploadfile", "upload"]


@pytest.mark.parametrize("inline_limit", [SMALL_LIMIT * 4, SMALL_LIMIT], ids=["inline", "two-step"])
def test_conflict_policies(webhook_conn, emu, root_folder, tmp_path, inline_limit):
    first = upload(os.urandom(SMALL_LIMIT + 10), root_folder, file_name="r.bin", inline_limit=inline_limit)
    emu.clear_requests()
    with pytest.raises(Bitrix24FileExists, match="already exists"):
        upload(os.urandom(SMALL_LIMIT + 10), root_folder, file_name="r.bin", inline_limit=inline_limit)
    assert "upload" not in methods(emu) and "disk.folder.uploadfile" not in methods(
        emu
    )  # refused before sending

    unique = upload(
        os.urandom(SMALL_LIMIT + 10),
        root_folder,
        file_name="r.bin",
        conflict="unique",
        inline_limit=inline_limit,
    )
    assert unique["NAME"] == "r (1).bin" and unique["ID"] != first["ID"]
    via_param = upload(b"x", root_folder, file_name="r.bin", parameters={"generateUniqueName": True})
    assert via_param["NAME"] == "r (2).bin"

    new_content = os.urandom(SMALL_LIMIT * 2)
    replaced = upload(
        new_content, root_folder, file_name="r.bin", conflict="replace", inline_limit=inline_limit
    )
    assert replaced["ID"] == first["ID"] and replaced["GLOBAL_CONTENT_VERSION"] == "2"
    download(first["ID"], tmp_path / "r.bin")
    assert (tmp_path / "r.bin").read_bytes() == new_content


def test_bad_conflict_policy_is_refused_before_any_request(webhook_conn, emu, root_folder):
    with pytest.raises(Bitrix24Error, match="conflict must be one of"):
        upload(b"x", root_folder, conflict="overwrite")
    assert emu.requests == []


def test_missing_folder(webhook_conn, emu, tmp_path):
    with pytest.raises(Bitrix24NotFound, match="ERROR_NOT_FOUND"):
        upload(b"x", 987654, file_name="x.txt")
    with pytest.raises(Bitrix24NotFound):
        upload(b"x", 987654, file_name="x.txt", conflict="unique")


def test_subfolder_is_created_when_missing(webhook_conn, emu, root_folder, drive_state):
    record = upload(b"x", root_folder, file_name="x.txt", subfolder="a/b")
    again = upload(b"y", root_folder, file_name="y.txt", subfolder="a/b")
    assert record["PARENT_ID"] == again["PARENT_ID"]
    parent = drive_state.objects[int(record["PARENT_ID"])]
    assert parent["NAME"] == "b" and drive_state.objects[parent["PARENT_ID"]]["NAME"] == "a"


def test_file_id_that_does_not_exist(webhook_conn, emu, tmp_path):
    with pytest.raises(Bitrix24NotFound, match="ERROR_NOT_FOUND"):
        download(424242, tmp_path / "nothing.bin")
    assert not (tmp_path / "nothing.bin").exists()


def test_download_that_breaks_off_removes_the_partial_file(
    webhook_conn, emu, root_folder, drive_state, tmp_path
):
    record = upload(os.urandom(3 << 20), root_folder, file_name="big.bin")
    drive_state.drop_downloads(after_bytes=1 << 20)
    dest = tmp_path / "big.bin"
    with pytest.raises(Bitrix24DownloadError, match="broke off after .* bytes; the partial file was removed"):
        download(record["ID"], dest)
    assert not dest.exists()
    download(record["ID"], dest)  # the fault was one-shot: the next try succeeds
    assert dest.stat().st_size == 3 << 20


def test_size_mismatch_is_an_error(webhook_conn, emu, root_folder, drive_state, tmp_path):
    record = upload(b"0123456789", root_folder, file_name="ten.bin")
    drive_state.objects[int(record["ID"])]["SIZE"] = 11  # metadata disagrees with the bytes
    with pytest.raises(Bitrix24DownloadError, match="received 10 bytes"):
        download(record["ID"], tmp_path / "ten.bin")
    assert not (tmp_path / "ten.bin").exists()


def test_size_limit_error(webhook_conn, emu, root_folder, drive_state):
    drive_state.storage_limit = 1000
    with pytest.raises(Bitrix24Error, match="DISK_FILE_22006"):
        upload(os.urandom(1001), root_folder, file_name="a.bin")
    with pytest.raises(Bitrix24Error, match="DISK_FILE_22006"):
        upload(os.urandom(1001), root_folder, file_name="b.bin", inline_limit=100)
    assert not [o for o in drive_state.objects.values() if o["NAME"] in ("a.bin", "b.bin")]


def test_download_links_are_signed(webhook_conn, emu, root_folder, tmp_path):
    import requests

    record = upload(b"secret", root_folder, file_name="s.txt")
    assert record["DOWNLOAD_URL"].endswith("/rest/download.json?***")  # results carry no usable link
    from airflow_provider_bitrix24.hooks.bitrix24 import Bitrix24Hook

    url = Bitrix24Hook().get_conn().call("disk.file.get", {"id": record["ID"]})["DOWNLOAD_URL"]
    tampered = url.replace("token=disk%7C", "token=disk%7CX")
    reply = requests.get(tampered, headers={"User-Agent": "t"}, timeout=5)
    assert reply.status_code == 401 and reply.json()["error"] == "INVALID_TOKEN"
    from airflow_provider_bitrix24.client.files import download_to

    with pytest.raises(Bitrix24AuthError):
        download_to(Bitrix24Hook().get_conn(), tampered, tmp_path / "s.txt")
    assert not (tmp_path / "s.txt").exists()


def test_object_storage_path_source_and_destination(webhook_conn, emu, root_folder, tmp_path):
    from airflow.sdk import ObjectStoragePath

    (tmp_path / "in.csv").write_bytes(b"a,b\n1,2\n")
    record = upload(f"file://{tmp_path}/in.csv", root_folder)
    assert record["NAME"] == "in.csv"
    out = download(record["ID"], f"file://{tmp_path}/exports/")  # a URI ending in / is a directory
    assert out["path"].endswith("exports/in.csv")
    assert (tmp_path / "exports" / "in.csv").read_bytes() == b"a,b\n1,2\n"
    dest = ObjectStoragePath(f"file://{tmp_path}/exports")  # an existing directory
    out = DiskDownloadOperator(task_id="d", file_id=record["ID"], output_path=dest / "copy.csv").execute({})
    assert (tmp_path / "exports" / "copy.csv").read_bytes() == b"a,b\n1,2\n"
    out = DiskDownloadOperator(task_id="d", file_id=record["ID"], output_path=dest).execute({})
    assert out["path"].endswith("exports/in.csv")


def test_directory_tree_upload(webhook_conn, emu, root_folder, drive_state, tmp_path):
    tree = tmp_path / "tree"
    (tree / "sub" / "deeper").mkdir(parents=True)
    (tree / "top.txt").write_bytes(b"1")
    (tree / "sub" / "mid.txt").write_bytes(b"22")
    (tree / "sub" / "deeper" / "low.txt").write_bytes(b"333")
    result = upload(str(tree), root_folder)
    assert sorted(r["path"] for r in result) == ["sub/deeper/low.txt", "sub/mid.txt", "top.txt"]
    low = next(r["file"] for r in result if r["path"].endswith("low.txt"))
    parent = drive_state.objects[int(low["PARENT_ID"])]
    assert parent["NAME"] == "deeper" and drive_state.objects[parent["PARENT_ID"]]["NAME"] == "sub"


def test_oauth_connection_uploads_and_downloads(oauth_conn, emu, root_folder, tmp_path):
    data = os.urandom(SMALL_LIMIT * 2)
    record = upload(data, root_folder, file_name="o.bin", inline_limit=SMALL_LIMIT)
    replaced = upload(
        data[::-1], root_folder, file_name="o.bin", inline_limit=SMALL_LIMIT, conflict="replace"
    )
    assert replaced["ID"] == record["ID"]
    download(record["ID"], tmp_path / "o.bin")
    assert hashlib.sha256((tmp_path / "o.bin").read_bytes()).digest() == hashlib.sha256(data[::-1]).digest()


@pytest.fixture
def memory_fs():
    """An fsspec backend that is not the local disk, registered with ObjectStoragePath."""
    from airflow.sdk.io import attach
    from fsspec.implementations.memory import MemoryFileSystem

    fs = MemoryFileSystem()
    attach("memory", fs=fs)
    yield fs
    fs.store.clear()
    fs.pseudo_dirs.clear()


@pytest.mark.parametrize("size", [100, 3 * SMALL_LIMIT], ids=["inline", "two-step"])
def test_any_fsspec_backend_as_source_and_destination(
    webhook_conn, emu, root_folder, drive_state, memory_fs, size
):
    from airflow.sdk import ObjectStoragePath

    data = os.urandom(size)
    src = ObjectStoragePath("memory://bucket/in/data.bin")
    src.parent.mkdir(parents=True, exist_ok=True)
    with src.open("wb") as fh:
        fh.write(data)
    record = upload("memory://bucket/in/data.bin", root_folder, inline_limit=SMALL_LIMIT)
    assert record["NAME"] == "data.bin" and int(record["SIZE"]) == size
    out = download(record["ID"], "memory://bucket/out/")
    assert out["path"] == "memory://bucket/out/data.bin"
    with ObjectStoragePath(out["path"]).open("rb") as fh:
        assert fh.read() == data

    drive_state.drop_downloads(after_bytes=10)
    with pytest.raises(Bitrix24DownloadError):
        download(record["ID"], "memory://bucket/broken.bin")
    assert not ObjectStoragePath("memory://bucket/broken.bin").exists()


def test_unicode_names_survive_both_routes(webhook_conn, emu, root_folder, tmp_path):
    for limit in (SMALL_LIMIT * 4, SMALL_LIMIT):
        name = f"отчёт {limit} (итог).pdf"
        record = upload(os.urandom(SMALL_LIMIT * 2), root_folder, file_name=name, inline_limit=limit)
        assert record["NAME"] == name


def test_transfer_errors_carry_no_link_credentials(webhook_conn, emu, root_folder, drive_state, tmp_path):
    record = upload(os.urandom(1 << 20), root_folder, file_name="c.bin")
    drive_state.drop_downloads(after_bytes=1000)
    with pytest.raises(Bitrix24DownloadError) as caught:
        download(record["ID"], tmp_path / "c.bin")
    text = str(caught.value)
    assert "token=" not in text and "auth=" not in text and caught.value.__cause__ is None


def test_streamed_new_version_renews_an_expired_oauth_token(oauth_conn, emu, root_folder, tmp_path):
    from airflow_provider_bitrix24.client.files import Drive
    from airflow_provider_bitrix24.hooks.bitrix24 import Bitrix24Hook

    record = upload(b"v1", root_folder, file_name="v.bin")
    drive = Drive(Bitrix24Hook().get_conn(), inline_limit=10)
    emu.expire_access_tokens()
    src = tmp_path / "v2.bin"
    src.write_bytes(os.urandom(5000))
    new = drive.upload_version(int(record["ID"]), src)
    assert new["GLOBAL_CONTENT_VERSION"] == "2" and emu.refresh_count == 1
    uploads = [r for r in emu.requests if r.method == "disk.file.uploadversion"]
    assert [r.error for r in uploads] == ["expired_token", None]  # refused once, then applied once


def test_name_conflicts_ignore_case_like_drive(webhook_conn, emu, root_folder):
    first = upload(b"1", root_folder, file_name="Report.PDF")
    emu.clear_requests()
    with pytest.raises(Bitrix24FileExists):
        upload(os.urandom(SMALL_LIMIT * 2), root_folder, file_name="report.pdf", inline_limit=SMALL_LIMIT)
    assert "upload" not in methods(emu)
    replaced = upload(b"22", root_folder, file_name="report.pdf", conflict="replace")
    assert replaced["ID"] == first["ID"] and replaced["SIZE"] == "2"


def test_directory_tree_from_object_storage(webhook_conn, emu, root_folder, memory_fs):
    from airflow.sdk import ObjectStoragePath

    for rel, data in (("top.txt", b"1"), ("sub/mid.txt", b"22"), ("sub/deeper/low.txt", b"333")):
        path = ObjectStoragePath(f"memory://tree/{rel}")
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as fh:
            fh.write(data)
    result = upload("memory://tree", root_folder)
    assert sorted(r["path"] for r in result) == ["sub/deeper/low.txt", "sub/mid.txt", "top.txt"]
    assert {r["path"]: int(r["file"]["SIZE"]) for r in result}["sub/deeper/low.txt"] == 3
