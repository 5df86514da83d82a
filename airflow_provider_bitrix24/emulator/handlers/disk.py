"""Drive in the emulator: storages, folders and files whose bytes live in a temporary directory.

REST methods ``disk.storage.*``, ``disk.folder.*``, ``disk.file.*`` and ``disk.rights.gettasks``
are registered on the method registry; the two plain-HTTP legs of file transfer are served by
:func:`serve_upload` (``POST /rest/upload.json?token=...``, the two-step upload) and
:func:`serve_download` (``GET /rest/download.json?token=...``, every ``DOWNLOAD_URL``). Tokens
in those links are HMAC-signed per portal, so a link that was tampered with or belongs to
another portal is refused.

Test controls live on :class:`DriveState` (``drive(portal)``): a storage size limit that
triggers the documented ``DISK_FILE_22006`` error, and a download fault that drops the
connection after N bytes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import posixpath
import re
import secrets
import shutil
import tempfile
import threading
import time
import weakref
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, BinaryIO, cast
from urllib.parse import quote

from airflow_provider_bitrix24.emulator.params import as_bool, as_int
from airflow_provider_bitrix24.emulator.registry import ApiError, CallContext, Reply, method
from airflow_provider_bitrix24.emulator.table import (
    FilterError,
    Table,
    default_timezone,
    filter_and_order,
    format_datetime,
)

PAGE = 50
SAMPLE_FOLDER = "Company documents"
COPY_CHUNK = 1 << 20
_TIME_COLUMNS = ("CREATE_TIME", "UPDATE_TIME", "DELETE_TIME")
ACCESS_TASKS = (
    ("79", "disk_access_full", "Full Access"),
    ("75", "disk_access_edit", "Editing"),
    ("73", "disk_access_add", "Adding"),
    ("71", "disk_access_read", "Read"),
)
_NOT_DELETED = 0
_IN_TRASH = 3
_WITH_PARENT = 4


@dataclass
class DownloadFault:
    after_bytes: int
    count: int
    file_id: int | None = None


@dataclass
class DriveState:
    """Drive of one emulated portal. Object metadata is in memory; file bytes are on disk."""

    base_url: str = ""
    root_dir: str = field(default_factory=lambda: tempfile.mkdtemp(prefix="b24-emu-drive-"))
    secret: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    storage_limit: int | None = None  # bytes per file; above it uploads fail with DISK_FILE_22006
    storages: dict[int, dict] = field(default_factory=dict)
    objects: dict[int, dict] = field(default_factory=dict)
    faults: list[DownloadFault] = field(default_factory=list)
    call_records: dict[str, int] = field(default_factory=dict)  # CALL_ID -> Drive file id
    record_urls: dict[str, str] = field(default_factory=dict)  # CALL_ID -> RECORD_URL given
    lock: threading.RLock = field(default_factory=threading.RLock)
    next_id: int = 1
    next_blob: int = 1

    def __post_init__(self) -> None:
        # Bytes go when the state does (portal.reset() drops it), not at interpreter exit.
        weakref.finalize(self, shutil.rmtree, self.root_dir, True)
        self.add_storage("user", 1, "Admin's drive")
        shared = self.add_storage("common", "shared_files_s1", "Shared drive")
        self._seed_shared_drive(shared["ROOT_OBJECT_ID"])

    def _seed_shared_drive(self, root_id: int) -> None:
        """A few small files on the shared drive, like a real portal has (the user drive stays
        empty for tests). They count as changed at reset time."""
        root = self.folder(root_id)
        docs = self._insert("folder", SAMPLE_FOLDER, root["STORAGE_ID"], root_id, user_id=1)
        for parent, name, text in (
            (root_id, "Read me.txt", "Shared drive of the emulated portal.\n"),
            (docs["ID"], "Price list.csv", "product,price\nWidget,10.00\nGadget,25.50\n"),
            (docs["ID"], "Welcome.txt", "Welcome to the team.\n"),
        ):
            self.add_file(parent, name, text.encode())

    # -- test controls -------------------------------------------------------------------
    def drop_downloads(self, after_bytes: int, count: int = 1, file_id: int | None = None) -> None:
        """The next ``count`` downloads send ``after_bytes`` bytes, then the connection drops."""
        with self.lock:
            self.faults.append(DownloadFault(after_bytes, count, file_id))

    # -- ids, blobs ------------------------------------------------------------------------
    def _new_id(self) -> int:
        with self.lock:
            value, self.next_id = self.next_id, self.next_id + 1
            return value

    def blob_path(self, blob_id: int) -> str:
        return os.path.join(self.root_dir, f"{blob_id}.bin")

    def new_blob(self) -> tuple[int, str]:
        with self.lock:
            blob_id, self.next_blob = self.next_blob, self.next_blob + 1
        return blob_id, self.blob_path(blob_id)

    # -- objects ---------------------------------------------------------------------------
    def add_storage(self, entity_type: str, entity_id: Any, name: str) -> dict:
        storage_id = self._new_id()
        root = self._insert("folder", name, storage_id, None, user_id=1)
        storage = {
            "ID": storage_id,
            "NAME": name,
            "CODE": None,
            "MODULE_ID": "disk",
            "ENTITY_TYPE": entity_type,
            "ENTITY_ID": str(entity_id),
            "ROOT_OBJECT_ID": root["ID"],
        }
        self.storages[storage_id] = storage
        return storage

    def _insert(
        self, type_: str, name: str, storage_id: int, parent_id: int | None, *, user_id: int, **extra: Any
    ) -> dict:
        now = time.time()
        obj_id = self._new_id()
        obj = {
            "ID": obj_id,
            "NAME": name,
            "CODE": None,
            "STORAGE_ID": storage_id,
            "TYPE": type_,
            "REAL_OBJECT_ID": obj_id,
            "PARENT_ID": parent_id,
            "DELETED_TYPE": _NOT_DELETED,
            "CREATE_TIME": now,
            "UPDATE_TIME": now,
            "DELETE_TIME": None,
            "CREATED_BY": user_id,
            "UPDATED_BY": user_id,
            "DELETED_BY": 0,
            **extra,
        }
        self.objects[obj_id] = obj
        return obj

    def write_blob(self, fill: Callable[[BinaryIO], int]) -> tuple[int, int]:
        """A new blob filled by ``fill`` (which returns the byte count): (blob id, size).
        Enforces the size limit; nothing is left behind on failure."""
        blob_id, path = self.new_blob()
        try:
            with open(path, "wb") as fh:
                size = fill(fh)
            self._check_size(size, "DISK_FILE_22006")
        except BaseException:
            _unlink(path)
            raise
        return blob_id, size

    def adopt_blob(
        self, parent: dict, name: str, blob_id: int, size: int, *, user_id: int, unique: bool
    ) -> dict:
        """A new file in ``parent`` holding blob ``blob_id``; the blob is dropped on a name clash."""
        try:
            with self.lock:
                name = self.free_name(parent, _check_name(name), unique)
                return self._insert(
                    "file",
                    name,
                    parent["STORAGE_ID"],
                    parent["ID"],
                    user_id=user_id,
                    FILE_ID=blob_id,
                    SIZE=size,
                    GLOBAL_CONTENT_VERSION=1,
                )
        except BaseException:
            _unlink(self.blob_path(blob_id))
            raise

    def replace_blob(self, obj: dict, blob_id: int, size: int, *, user_id: int) -> dict:
        """Make blob ``blob_id`` the current version of file ``obj``."""
        with self.lock:
            old = obj["FILE_ID"]
            obj.update(FILE_ID=blob_id, SIZE=size, UPDATE_TIME=time.time(), UPDATED_BY=user_id)
            obj["GLOBAL_CONTENT_VERSION"] = int(obj.get("GLOBAL_CONTENT_VERSION") or 1) + 1
        _unlink(self.blob_path(old))
        return obj

    def add_file(self, parent_id: int, name: str, data: bytes, *, update_time: float | None = None) -> dict:
        """Test helper: put ``data`` into folder ``parent_id`` (optionally back-dated)."""
        blob_id, size = self.write_blob(lambda fh: fh.write(data))
        obj = self.adopt_blob(self.folder(parent_id), name, blob_id, size, user_id=1, unique=False)
        if update_time is not None:
            obj["UPDATE_TIME"] = obj["CREATE_TIME"] = update_time
        return obj

    def _check_size(self, size: int, code: str) -> None:
        if self.storage_limit is not None and size > self.storage_limit:
            raise ApiError(400, code, "Size restriction")

    def get(self, obj_id: Any, type_: str | None = None, *, include_deleted: bool = False) -> dict:
        oid = as_int(obj_id)
        if oid is None:
            raise ApiError(400, "ERROR_ARGUMENT", "Invalid value of parameter {Parameter #0}")
        obj = self.objects.get(oid)
        if obj is None or (type_ and obj["TYPE"] != type_) or (obj["DELETED_TYPE"] and not include_deleted):
            raise ApiError(404, "ERROR_NOT_FOUND", f"Could not find entity with id '{oid}'")
        return obj

    def folder(self, obj_id: Any) -> dict:
        return self.get(obj_id, "folder")

    def file(self, obj_id: Any) -> dict:
        return self.get(obj_id, "file")

    def storage(self, storage_id: Any) -> dict:
        sid = as_int(storage_id)
        if sid is None:
            raise ApiError(400, "ERROR_ARGUMENT", "Invalid value of parameter {Parameter #0}")
        if sid not in self.storages:
            raise ApiError(404, "ERROR_NOT_FOUND", f"Could not find entity with id '{sid}'")
        return self.storages[sid]

    def children(self, parent_id: int) -> list[dict]:
        return [o for o in self.objects.values() if o["PARENT_ID"] == parent_id and not o["DELETED_TYPE"]]

    def descendants(self, obj: dict) -> list[dict]:
        out = []
        for child in [o for o in self.objects.values() if o["PARENT_ID"] == obj["ID"]]:
            out.append(child)
            if child["TYPE"] == "folder":
                out.extend(self.descendants(child))
        return out

    def free_name(self, parent: dict, name: str, unique: bool, *, ignore: int | None = None) -> str:
        """``name`` if free in ``parent``; with ``unique`` the first free ``name (n).ext``."""
        taken = {o["NAME"].casefold() for o in self.children(parent["ID"]) if o["ID"] != ignore}
        if name.casefold() not in taken:
            return name
        if not unique:
            raise ApiError(400, "DISK_OBJ_22000", "A file with that name already exists")
        stem, ext = _split_ext(name)
        n = 1
        while f"{stem} ({n}){ext}".casefold() in taken:
            n += 1
        return f"{stem} ({n}){ext}"

    def remove(self, obj: dict) -> None:
        for item in [obj, *self.descendants(obj)]:
            self.objects.pop(item["ID"], None)
            if item["TYPE"] == "file":
                _unlink(self.blob_path(item["FILE_ID"]))

    def copy(self, obj: dict, target: dict, *, user_id: int) -> dict:
        name = self.free_name(target, obj["NAME"], False)
        if obj["TYPE"] == "file":
            blob_id, path = self.new_blob()
            shutil.copyfile(self.blob_path(obj["FILE_ID"]), path)
            return self._insert(
                "file",
                name,
                target["STORAGE_ID"],
                target["ID"],
                user_id=user_id,
                FILE_ID=blob_id,
                SIZE=obj["SIZE"],
                GLOBAL_CONTENT_VERSION=1,
            )
        new = self._insert("folder", name, target["STORAGE_ID"], target["ID"], user_id=user_id)
        for child in self.children(obj["ID"]):
            self.copy(child, new, user_id=user_id)
        return new

    # -- signed links ------------------------------------------------------------------------
    def sign(self, payload: dict) -> str:
        raw = base64.urlsafe_b64encode(json.dumps(payload, sort_keys=True).encode()).decode()
        mac = hmac.new(self.secret, raw.encode(), hashlib.sha256).hexdigest()
        return f"disk|{raw}|{mac}"

    def verify(self, token: str | None, kind: str) -> dict:
        try:
            prefix, raw, mac = str(token).split("|")
            good = hmac.new(self.secret, raw.encode(), hashlib.sha256).hexdigest()
            if prefix != "disk" or not hmac.compare_digest(mac, good):
                raise ValueError("bad signature")
            payload = json.loads(base64.urlsafe_b64decode(raw.encode()))
        except (ValueError, binascii.Error, TypeError) as exc:
            raise ApiError(401, "INVALID_TOKEN", "The link signature is not valid") from exc
        if payload.get("kind") != kind:
            raise ApiError(401, "INVALID_TOKEN", "The link signature is not valid")
        return payload

    def link(self, kind: str, payload: dict) -> str:
        token = quote(self.sign({**payload, "kind": kind}), safe="")
        auth = hmac.new(self.secret, token.encode(), hashlib.sha1).hexdigest()
        return f"{self.base_url}/rest/{kind}.json?auth={auth}&token={token}"

    # -- views -----------------------------------------------------------------------------
    def view(self, obj: dict) -> dict:
        """The object as the portal returns it: string ids, ISO times, links."""
        tz = default_timezone()
        out: dict[str, Any] = {}
        for key, value in obj.items():
            if key in _TIME_COLUMNS:
                out[key] = format_datetime(value, tz)
            elif value is None or isinstance(value, str):
                out[key] = value
            else:
                out[key] = str(value)
        if obj["TYPE"] == "file":
            out["DOWNLOAD_URL"] = self.link("download", {"id": obj["ID"]})
        out["DETAIL_URL"] = f"{self.base_url}/disk/{obj['TYPE']}/{obj['ID']}/"
        return out


def drive(portal: Any) -> DriveState:
    """The Drive of ``portal`` (created on first use, dropped by ``portal.reset()``).

    Tests reach it as ``drive(emu.portal)``.
    """
    with portal.lock:
        state = portal.state.get("disk")
        if state is None:
            state = portal.state["disk"] = DriveState()
        state.base_url = str(getattr(portal, "base_url", "") or state.base_url).rstrip("/")
    return state


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _split_ext(name: str) -> tuple[str, str]:
    stem, ext = posixpath.splitext(name)
    return (stem, ext) if stem else (name, "")


# --------------------------------------------------------------------------- helpers


def _state(ctx: CallContext) -> DriveState:
    return drive(ctx.portal)


def _require(params: dict, *names: str) -> None:
    for i, name in enumerate(names):
        if params.get(name) in (None, ""):
            raise ApiError(400, "ERROR_ARGUMENT", f"Invalid value of parameter {{Parameter #{i}}}")


def _data_name(params: dict, code: str = "DISK_BASE_SERVICE_22001") -> str:
    data = params.get("data") or {}
    name = data.get("NAME") if isinstance(data, dict) else None
    if not name:
        raise ApiError(400, code, f"Error: required parameter NAME ({code})")
    return _check_name(str(name))


def _check_name(name: str) -> str:
    if not name or re.search(r'[\\/:*?"<>|]', name) or name in (".", ".."):
        raise ApiError(400, "ERROR_ARGUMENT", "Invalid object name")
    return name


def _decode_content(value: Any) -> tuple[str | None, bytes]:
    """``fileContent``: ``[name, base64]`` (or a bare base64 string)."""
    if isinstance(value, dict):
        value = [value.get("0"), value.get("1")]
    if isinstance(value, (list, tuple)) and len(value) == 2:
        name, b64 = value
    else:
        name, b64 = None, value
    if not isinstance(b64, str) or not b64:
        raise ApiError(400, "ERROR_ARGUMENT", "Invalid value of parameter fileContent")
    try:
        return (str(name) if name else None), base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ApiError(400, "ERROR_COULD_NOT_SAVE_FILE", "Could not save file") from exc


def _page(ctx: CallContext, items: list[dict], params: dict, state: DriveState) -> Reply:
    table = Table("disk", datetime_columns=_TIME_COLUMNS)
    for item in items:
        table.insert(dict(item))
    start = as_int(params.get("start"), 0) or 0
    count = start != -1
    try:
        flt, order = filter_and_order(params)
        rows, total, _ = table.query(flt, order, max(start, 0), PAGE, count)
    except FilterError as exc:
        raise ApiError(400, "ERROR_ARGUMENT", str(exc)) from None
    result = [state.view(state.objects[int(r["ID"])]) if "TYPE" in r else r for r in rows]
    nxt = start + PAGE if count and total is not None and start + PAGE < total else None
    return Reply(result, next=nxt, total=total)


# --------------------------------------------------------------------------- storages


@method("disk.storage.getlist")
def storage_getlist(ctx: CallContext, params: dict) -> Reply:
    state = _state(ctx)
    table = Table("storages")
    for storage in state.storages.values():
        table.insert(dict(storage))
    start = as_int(params.get("start"), 0) or 0
    try:
        flt, order = filter_and_order(params)
        rows, total, _ = table.query(flt, order, max(start, 0), PAGE, True)
    except FilterError as exc:
        raise ApiError(400, "ERROR_ARGUMENT", str(exc)) from None
    nxt = start + PAGE if total is not None and start + PAGE < total else None
    return Reply(
        [{k: (v if v is None or isinstance(v, str) else str(v)) for k, v in r.items()} for r in rows],
        next=nxt,
        total=total,
    )


@method("disk.storage.get")
def storage_get(ctx: CallContext, params: dict) -> dict:
    _require(params, "id")
    storage = _state(ctx).storage(params["id"])
    return {k: (v if v is None or isinstance(v, str) else str(v)) for k, v in storage.items()}


@method("disk.storage.gettypes")
def storage_gettypes(ctx: CallContext, params: dict) -> list:
    return ["user", "common", "group"]


@method("disk.storage.rename")
def storage_rename(ctx: CallContext, params: dict) -> dict:
    _require(params, "id", "newName")
    storage = _state(ctx).storage(params["id"])
    storage["NAME"] = str(params["newName"])
    return storage_get(ctx, {"id": storage["ID"]})


@method("disk.storage.getchildren")
def storage_getchildren(ctx: CallContext, params: dict) -> Reply:
    _require(params, "id")
    state = _state(ctx)
    root = state.storage(params["id"])["ROOT_OBJECT_ID"]
    return _page(ctx, state.children(root), params, state)


@method("disk.storage.addfolder")
def storage_addfolder(ctx: CallContext, params: dict) -> dict:
    _require(params, "id")
    state = _state(ctx)
    root = state.folder(state.storage(params["id"])["ROOT_OBJECT_ID"])
    return _add_folder(ctx, state, root, params)


@method("disk.storage.uploadfile")
def storage_uploadfile(ctx: CallContext, params: dict) -> dict:
    _require(params, "id")
    state = _state(ctx)
    root = state.folder(state.storage(params["id"])["ROOT_OBJECT_ID"])
    if params.get("fileContent") in (None, ""):
        raise ApiError(400, "ERROR_ARGUMENT", "Invalid value of parameter {Parameter #2}")
    return _upload(ctx, state, root, params)


# --------------------------------------------------------------------------- folders


def _add_folder(ctx: CallContext, state: DriveState, parent: dict, params: dict) -> dict:
    name = _data_name(params, "ERROR_ARGUMENT")
    with state.lock:
        taken = {o["NAME"].casefold() for o in state.children(parent["ID"])}
        if name.casefold() in taken:
            raise ApiError(400, "DISK_OBJ_22000", "A folder with this name already exists")
        folder = state._insert("folder", name, parent["STORAGE_ID"], parent["ID"], user_id=ctx.user_id)
    return state.view(folder)


def _upload(ctx: CallContext, state: DriveState, parent: dict, params: dict) -> dict:
    name = _data_name(params)
    content_name, data = _decode_content(params.get("fileContent"))
    unique = as_bool(params.get("generateUniqueName", False))
    blob_id, size = state.write_blob(lambda fh: fh.write(data))
    return state.view(
        state.adopt_blob(
            parent, name or content_name or "file", blob_id, size, user_id=ctx.user_id, unique=unique
        )
    )


@method("disk.folder.getchildren")
def folder_getchildren(ctx: CallContext, params: dict) -> Reply:
    _require(params, "id")
    state = _state(ctx)
    folder = state.folder(params["id"])
    return _page(ctx, state.children(folder["ID"]), params, state)


@method("disk.folder.addsubfolder")
def folder_addsubfolder(ctx: CallContext, params: dict) -> dict:
    _require(params, "id")
    state = _state(ctx)
    return _add_folder(ctx, state, state.folder(params["id"]), params)


@method("disk.folder.uploadfile")
def folder_uploadfile(ctx: CallContext, params: dict) -> dict:
    _require(params, "id")
    state = _state(ctx)
    folder = state.folder(params["id"])
    if params.get("fileContent") in (None, ""):
        # Two-step flow: hand out a signed URL; the name comes from data.NAME or the multipart part.
        raw_data = params.get("data")
        data = raw_data if isinstance(raw_data, dict) else {}
        payload = {
            "target": "disk",
            "folder": folder["ID"],
            "user": ctx.user_id,
            "name": data.get("NAME"),
            "unique": as_bool(params.get("generateUniqueName", False)),
        }
        return {"field": "file", "uploadUrl": state.link("upload", payload)}
    return _upload(ctx, state, folder, params)


def _rename(ctx: CallContext, type_: str, params: dict) -> dict:
    _require(params, "id", "newName")
    state = _state(ctx)
    obj = state.get(params["id"], type_)
    new_name = _check_name(str(params["newName"]))
    with state.lock:
        parent = state.objects.get(obj["PARENT_ID"]) if obj["PARENT_ID"] else None
        if parent is not None:
            state.free_name(parent, new_name, False, ignore=obj["ID"])
        obj.update(NAME=new_name, UPDATE_TIME=time.time(), UPDATED_BY=ctx.user_id)
    return state.view(obj)


def _source_and_target(
    ctx: CallContext, type_: str, params: dict, verb: str
) -> tuple[DriveState, dict, dict]:
    """The object ``id`` and the folder ``targetFolderId`` of a move or copy, checked."""
    _require(params, "id", "targetFolderId")
    state = _state(ctx)
    obj = state.get(params["id"], type_)
    target = state.folder(params["targetFolderId"])
    if type_ == "folder" and (target["ID"] == obj["ID"] or target in state.descendants(obj)):
        raise ApiError(400, "ERROR_ARGUMENT", f"Cannot {verb} a folder into itself")
    return state, obj, target


def _move(ctx: CallContext, type_: str, params: dict) -> dict:
    state, obj, target = _source_and_target(ctx, type_, params, "move")
    with state.lock:
        state.free_name(target, obj["NAME"], False, ignore=obj["ID"])
        for item in [obj, *state.descendants(obj)]:
            item["STORAGE_ID"] = target["STORAGE_ID"]
        obj.update(PARENT_ID=target["ID"], UPDATE_TIME=time.time(), UPDATED_BY=ctx.user_id)
    return state.view(obj)


def _copy(ctx: CallContext, type_: str, params: dict) -> dict:
    state, obj, target = _source_and_target(ctx, type_, params, "copy")
    with state.lock:
        return state.view(state.copy(obj, target, user_id=ctx.user_id))


def _is_root(state: DriveState, obj: dict) -> bool:
    return any(s["ROOT_OBJECT_ID"] == obj["ID"] for s in state.storages.values())


def _mark_deleted(ctx: CallContext, type_: str, params: dict) -> dict:
    _require(params, "id")
    state = _state(ctx)
    obj = state.get(params["id"], type_)
    if _is_root(state, obj):
        raise ApiError(400, "DISK_OBJ_22000", "Could not delete root folder")
    now = time.time()
    with state.lock:
        obj.update(DELETED_TYPE=_IN_TRASH, DELETE_TIME=now, DELETED_BY=ctx.user_id)
        for item in state.descendants(obj):
            if not item["DELETED_TYPE"]:
                item.update(DELETED_TYPE=_WITH_PARENT, DELETE_TIME=now, DELETED_BY=ctx.user_id)
    return state.view(obj)


def _restore(ctx: CallContext, type_: str, params: dict) -> dict:
    _require(params, "id")
    state = _state(ctx)
    obj = state.get(params["id"], type_, include_deleted=True)
    with state.lock:
        for item in [obj, *state.descendants(obj)]:
            if item["DELETED_TYPE"] in (_IN_TRASH, _WITH_PARENT) and (
                item is obj or item["DELETED_TYPE"] == _WITH_PARENT
            ):
                item.update(DELETED_TYPE=_NOT_DELETED, DELETE_TIME=None, DELETED_BY=0)
    return state.view(obj)


def _external_link(ctx: CallContext, type_: str, params: dict) -> str:
    _require(params, "id")
    state = _state(ctx)
    obj = state.get(params["id"], type_)
    return f"{state.base_url}/~{hashlib.sha1(state.secret + str(obj['ID']).encode()).hexdigest()[:10]}"


@method("disk.folder.deletetree")
def folder_deletetree(ctx: CallContext, params: dict) -> bool:
    _require(params, "id")
    state = _state(ctx)
    folder = state.get(params["id"], "folder", include_deleted=True)
    if _is_root(state, folder):
        raise ApiError(400, "DISK_OBJ_22000", "Could not delete root folder")
    with state.lock:
        state.remove(folder)
    return True


@method("disk.folder.sharetouser")
def folder_sharetouser(ctx: CallContext, params: dict) -> bool:
    _require(params, "id", "userId", "taskName")
    state = _state(ctx)
    state.folder(params["id"])
    if str(params["taskName"]) not in {name for _, name, _ in ACCESS_TASKS}:
        raise ApiError(403, "ACCESS_DENIED", "Access denied")
    return True


@method("disk.rights.gettasks")
def rights_gettasks(ctx: CallContext, params: dict) -> list:
    return [{"ID": i, "NAME": n, "TITLE": t} for i, n, t in ACCESS_TASKS]


# --------------------------------------------------------------------------- files


@method("disk.file.delete")
def file_delete(ctx: CallContext, params: dict) -> bool:
    _require(params, "id")
    state = _state(ctx)
    obj = state.get(params["id"], "file", include_deleted=True)
    with state.lock:
        state.remove(obj)
    return True


@method("disk.file.uploadversion")
def file_uploadversion(ctx: CallContext, params: dict) -> dict:
    _require(params, "id", "fileContent")
    state = _state(ctx)
    obj = state.file(params["id"])
    _, data = _decode_content(params["fileContent"])
    blob_id, size = state.write_blob(lambda fh: fh.write(data))
    return state.view(state.replace_blob(obj, blob_id, size, user_id=ctx.user_id))


def _get(ctx: CallContext, type_: str, params: dict) -> dict:
    _require(params, "id")
    state = _state(ctx)
    return state.view(state.get(params["id"], type_))


# The verbs folders and files share: one implementation each, registered for both types.
_SHARED_VERBS: dict[str, Callable[[CallContext, str, dict], Any]] = {
    "get": _get,
    "rename": _rename,
    "moveto": _move,
    "copyto": _copy,
    "markdeleted": _mark_deleted,
    "restore": _restore,
    "getexternallink": _external_link,
}


def _for_type(
    impl: Callable[[CallContext, str, dict], Any], type_: str
) -> Callable[[CallContext, dict], Any]:
    def handler(ctx: CallContext, params: dict) -> Any:
        return impl(ctx, type_, params)

    handler.__name__ = f"{type_}_{impl.__name__.lstrip('_')}"
    return handler


for _type in ("folder", "file"):
    for _verb, _impl in _SHARED_VERBS.items():
        method(f"disk.{_type}.{_verb}")(_for_type(_impl, _type))


# --------------------------------------------------------------------------- plain HTTP legs


def _copy_exact(src: BinaryIO, dst: BinaryIO, count: int) -> int:
    left = count
    while left > 0:
        chunk = src.read(min(COPY_CHUNK, left))
        if not chunk:
            raise ApiError(
                400, "ERROR_COULD_NOT_SAVE_FILE", "Could not save file: the request body ended early"
            )
        dst.write(chunk)
        left -= len(chunk)
    return count


class _MultipartFile:
    """Reads one file part of a multipart/form-data body from a socket, without buffering it.

    Parses part headers; for the part named ``field`` it copies the bytes up to the closing
    boundary into a writer, holding back only a boundary's length of data at a time.
    """

    def __init__(self, rfile: BinaryIO, length: int, boundary: bytes) -> None:
        self.rfile = rfile
        self.left = length
        self.delim = b"\r\n--" + boundary
        self.buf = b""

    def _fill(self, want: int) -> bool:
        while len(self.buf) < want and self.left > 0:
            chunk = self.rfile.read(min(COPY_CHUNK, self.left))
            if not chunk:
                self.left = 0
                break
            self.left -= len(chunk)
            self.buf += chunk
        return len(self.buf) >= want

    def read_file(
        self, field: str, sink: Callable[[], AbstractContextManager[BinaryIO]]
    ) -> tuple[str | None, int] | None:
        # The body starts with "--boundary"; prepend CRLF so every delimiter looks the same.
        self._fill(len(self.delim))
        self.buf = b"\r\n" + self.buf
        while True:
            if not self._fill(len(self.delim) + 2):
                return None
            pos = self.buf.find(self.delim)
            if pos < 0:
                return None
            self.buf = self.buf[pos + len(self.delim) :]
            self._fill(2)
            if self.buf.startswith(b"--"):
                return None  # closing delimiter: no matching part
            while b"\r\n\r\n" not in self.buf:
                if not self._fill(len(self.buf) + 1) or len(self.buf) > 16384:
                    return None
            head, self.buf = self.buf.split(b"\r\n\r\n", 1)
            headers = head.decode("utf-8", "replace")
            name = re.search(r'name="([^"]*)"', headers)
            filename = re.search(r'filename="([^"]*)"', headers)
            if name and name.group(1) == field:
                with sink() as out:
                    size = self._stream_until_delim(out)
                return (filename.group(1) if filename else None), size
            self._stream_until_delim(None)

    def _stream_until_delim(self, out: BinaryIO | None) -> int:
        size = 0
        keep = len(self.delim)
        while True:
            pos = self.buf.find(self.delim)
            if pos >= 0:
                if out is not None:
                    out.write(self.buf[:pos])
                size += pos
                self.buf = self.buf[pos:]
                return size
            if self.left <= 0:
                raise ApiError(
                    400, "ERROR_COULD_NOT_SAVE_FILE", "Could not save file: the multipart body is truncated"
                )
            safe = len(self.buf) - keep
            if safe > 0:
                if out is not None:
                    out.write(self.buf[:safe])
                size += safe
                self.buf = self.buf[safe:]
            chunk = self.rfile.read(min(COPY_CHUNK, self.left))
            if not chunk:
                self.left = 0
                continue
            self.left -= len(chunk)
            self.buf += chunk


# Where a finished two-step upload goes, by the ``target`` of its signed token: a function of
# (state, token payload, file name from the form, blob id, size) returning the reply's result.
UploadCommit = Callable[[DriveState, dict, "str | None", int, int], Any]
UPLOAD_COMMITS: dict[str, UploadCommit] = {}


def _commit_to_folder(
    state: DriveState, payload: dict, filename: str | None, blob_id: int, size: int
) -> dict:
    folder = state.folder(payload["folder"])
    obj = state.adopt_blob(
        folder,
        payload.get("name") or filename or "file",
        blob_id,
        size,
        user_id=int(payload.get("user") or 1),
        unique=bool(payload.get("unique")),
    )
    return state.view(obj)


UPLOAD_COMMITS["disk"] = _commit_to_folder


def serve_upload(portal: Any, query: dict, headers: Any, rfile: BinaryIO) -> dict:
    """Handle ``POST /rest/upload.json``: stream the multipart file part to a blob and hand it
    to the token's target (a Drive folder, a call record...); returns the envelope.

    Raises :class:`ApiError` for a bad token, a missing part or the size limit.
    """
    state = drive(portal)
    payload = state.verify(query.get("token"), "upload")
    commit = UPLOAD_COMMITS.get(payload.get("target", "disk"))
    if commit is None:
        raise ApiError(400, "ERROR_ARGUMENT", "Unknown upload target")
    if payload.get("folder"):
        state.folder(payload["folder"])  # fail fast, before reading the body
    ctype = headers.get("Content-Type", "")
    match = re.search(r"boundary=\"?([^\";]+)\"?", ctype)
    length = as_int(headers.get("Content-Length"))
    if not ctype.lower().startswith("multipart/form-data") or not match or length is None:
        raise ApiError(400, "ERROR_ARGUMENT", "Expected a multipart/form-data body with Content-Length")
    reader = _MultipartFile(rfile, length, match.group(1).encode())
    field_name = str(payload.get("field") or "file")
    names: list[str | None] = []

    def fill(fh: BinaryIO) -> int:
        found = reader.read_file(field_name, lambda: _Borrowed(fh))
        if reader.left > 0:  # drain the rest (closing boundary) so the connection stays usable
            _copy_exact(rfile, cast(BinaryIO, _Null()), reader.left)
        if found is None:
            raise ApiError(400, "ERROR_ARGUMENT", f"The form has no field '{field_name}'")
        names.append(found[0])
        return found[1]

    blob_id, size = state.write_blob(fill)
    try:
        return {"result": commit(state, payload, names[0], blob_id, size)}
    except BaseException:
        _unlink(state.blob_path(blob_id))
        raise


class _Borrowed:
    """A context manager over an open file that leaves it open."""

    def __init__(self, fh: BinaryIO) -> None:
        self.fh = fh

    def __enter__(self) -> BinaryIO:
        return self.fh

    def __exit__(self, *exc: object) -> None:
        return None


class _Null:
    def write(self, data: bytes) -> int:
        return len(data)


@dataclass
class Download:
    """What :func:`serve_download` hands to the server: headers and a body to stream."""

    size: int
    filename: str
    path: str
    drop_after: int | None  # fault injection: close the connection after this many bytes

    def chunks(self) -> Any:
        sent = 0
        with open(self.path, "rb") as fh:
            while True:
                limit = COPY_CHUNK if self.drop_after is None else min(COPY_CHUNK, self.drop_after - sent)
                if limit <= 0:
                    raise ConnectionAbortedError("download fault injected by the emulator")
                chunk = fh.read(limit)
                if not chunk:
                    return
                sent += len(chunk)
                yield chunk

    def headers(self) -> dict[str, str]:
        return {
            "Content-Type": "application/octet-stream",
            "Content-Length": str(self.size),
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(self.filename)}",
        }


def serve_download(portal: Any, query: dict, headers: Any) -> Download:
    """Handle ``GET /rest/download.json``: check the signed token, pick the file, apply faults."""
    state = drive(portal)
    payload = state.verify(query.get("token"), "download")
    if not headers.get("User-Agent"):
        raise ApiError(403, "ACCESS_DENIED", "A User-Agent header is required for file links")
    obj = state.file(payload["id"])
    drop = None
    with state.lock:
        for fault in state.faults:
            if fault.count > 0 and fault.file_id in (None, obj["ID"]):
                fault.count -= 1
                drop = fault.after_bytes
                break
    path = state.blob_path(obj["FILE_ID"])
    return Download(os.path.getsize(path), obj["NAME"], path, drop)
