"""Drive operators: one class per catalogue row of the ``Disk`` and ``File`` resources, plus the
file transfer operators :class:`DiskUploadOperator` and :class:`DiskDownloadOperator`.

Transfers stream: an upload above ``inline_limit`` goes through the two-step ``uploadUrl`` flow
and a download is written chunk by chunk, so a task's memory does not grow with the file.
The transfer logic itself lives in :class:`airflow_provider_bitrix24.client.files.Drive`.

Results never carry a usable signed link: ``DOWNLOAD_URL`` and friends embed the caller's
credentials, so the base class masks their query before a result reaches XCom or an
``output_path`` file (use the file ``ID`` with :class:`DiskDownloadOperator` instead). Every ``run`` here also works when the generic
``Bitrix24Operator(action_id=...)`` borrows it, so it only relies on the base class's attributes
and reads the extra arguments with defaults.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_bitrix24.catalogue.params import ParameterError, decode_json, find
from airflow_provider_bitrix24.client.files import (
    CONFLICT_POLICIES,
    DEFAULT_INLINE_LIMIT,
    Drive,
    DriveTarget,
)
from airflow_provider_bitrix24.operators import _files
from airflow_provider_bitrix24.operators.base import Bitrix24ActionOperator, write_json_lines

if TYPE_CHECKING:
    from airflow_provider_bitrix24.hooks.bitrix24 import Bitrix24Hook


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "y", "yes", "true")
    return bool(value)


def _int(action_id: str, label: str, value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ParameterError(
            action_id, f"{label} must be a Drive id (a whole number), got {value!r}"
        ) from None


def _param(params: dict, name: str) -> Any:
    """``params[name]`` matched case-insensitively (Bitrix24 accepts either case)."""
    return params.get(find(params, name) or name)


def _drive(hook: Bitrix24Hook, inline_limit: int = DEFAULT_INLINE_LIMIT) -> Drive:
    return Drive(hook.get_conn(), inline_limit=inline_limit)


def _is_dir(source: Any) -> bool:
    if isinstance(source, (str, os.PathLike)):
        return os.path.isdir(os.fspath(source))
    is_dir = getattr(source, "is_dir", None)
    return bool(callable(is_dir) and is_dir())


# --------------------------------------------------------------------------- transfers


class DiskUploadOperator(Bitrix24ActionOperator):
    """Upload a file (or a whole directory tree) to a Drive folder or the root of a storage.

    :param source: a local path, a URI / ``ObjectStoragePath`` (any fsspec backend), or ``bytes``.
        A directory is uploaded with its sub-directories mirrored as Drive folders. May also be
        given as ``files={"fileContent": ...}``, the catalogue's way. Without either, content
        already inline in ``parameters`` (``fileContent: [name, base64]``, as the method's page
        shows it) is sent as it is.
    :param target_id: the folder id (``target="folder"``, default) or storage id
        (``target="storage"``); ``parameters={"id": ...}`` works too.
    :param file_name: name on Drive (default: the source's base name; ``data.NAME`` works too).
    :param subfolder: a ``a/b/c`` path below the target, created where missing.
    :param conflict: what to do when the name is taken: ``fail`` (raise before sending any
        content), ``unique`` (the portal stores ``name (1).ext``) or ``replace`` (a new version
        of the existing file). ``parameters={"generateUniqueName": true}`` means ``unique``.
    :param inline_limit: files up to this many bytes go inline as base64; larger ones stream
        through the two-step ``uploadUrl`` flow.
    :return: the Drive file record (``ID``, ``NAME``, ``SIZE``, ``UPDATE_TIME``...; the
        ``DOWNLOAD_URL`` query masked); for a directory a list of ``{"path", "file"}``.
    """

    action_id = "disk_upload_file"
    template_fields: Sequence[str] = (
        *Bitrix24ActionOperator.template_fields,
        "source",
        "target_id",
        "file_name",
        "subfolder",
        "conflict",
    )

    def __init__(
        self,
        *,
        source: Any = None,
        target_id: int | str | None = None,
        file_name: str | None = None,
        subfolder: str | None = None,
        conflict: str = "fail",
        inline_limit: int = DEFAULT_INLINE_LIMIT,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.source = source
        self.target_id = target_id
        self.file_name = file_name
        self.subfolder = subfolder
        self.conflict = conflict
        self.inline_limit = inline_limit

    def prepare(self) -> dict:
        """Resolve the arguments; the file itself is read only while it is sent."""
        aid = self.action_id
        params = dict(decode_json(aid, "parameters", self.parameters) or {})
        self._check_options()
        source = self.source
        if source is None and self.files:
            source = self.files.get("fileContent")
        if source is None and _param(params, "fileContent") not in (None, ""):
            return super().prepare()  # the content is already inline, as the method's page sends it
        if source is None or source == "":
            raise ParameterError(aid, "source is required: a local path, a URI / ObjectStoragePath or bytes")
        raw_id = self.target_id if self.target_id not in (None, "") else _param(params, "id")
        data = _param(params, "data") or {}
        conflict = str(self.conflict or "fail")
        if _truthy(_param(params, "generateUniqueName")):
            conflict = "unique"
        if conflict not in CONFLICT_POLICIES:
            raise ParameterError(
                aid, f"conflict must be one of {', '.join(CONFLICT_POLICIES)} (got {conflict!r})"
            )
        return {
            "target": DriveTarget(_int(aid, "target_id", raw_id), self.variant or "folder"),
            "source": _files.as_source(source),
            "name": self.file_name or (data.get("NAME") if isinstance(data, Mapping) else None),
            "conflict": conflict,
            "rights": _param(params, "rights"),
        }

    def run(self, hook: Bitrix24Hook, params: dict) -> Any:
        if "target" not in params:  # borrowed by the generic operator: content already inline
            return hook.call(self.method(), params)
        drive = _drive(hook, getattr(self, "inline_limit", DEFAULT_INLINE_LIMIT))
        target: DriveTarget = params["target"]
        subfolder = getattr(self, "subfolder", None)
        if subfolder:
            target = DriveTarget(int(drive.ensure_folder(target, subfolder)["ID"]))
        source = params["source"]
        if _is_dir(source):
            uploaded = [
                {"path": path, "file": record}
                for path, record in drive.upload_tree(source, target, conflict=params["conflict"])
            ]
            self.log.info("Uploaded %d files to %s %s", len(uploaded), target.kind, target.id)
            return uploaded
        record = drive.upload(
            target, source, name=params["name"], conflict=params["conflict"], rights=params["rights"]
        )
        self.log.info(
            "Uploaded %s (%s bytes) as Drive file %s",
            record.get("NAME"),
            record.get("SIZE"),
            record.get("ID"),
        )
        return record


class DiskDownloadOperator(Bitrix24ActionOperator):
    """Download a Drive file to a local path or an ``ObjectStoragePath``, streaming.

    :param file_id: the Drive file id (``parameters={"id": ...}`` works too).
    :param output_path: where the file goes; a path ending in ``/`` or an existing directory
        receives the file under its Drive name. The size is checked against the file's
        ``SIZE``; a download that breaks off removes the partial file and raises.
    :return: ``{"id", "name", "size", "path", "update_time"}``.
    """

    action_id = "disk_download_file"
    template_fields: Sequence[str] = (*Bitrix24ActionOperator.template_fields, "file_id")

    def __init__(self, *, file_id: int | str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.file_id = file_id

    def prepare(self) -> dict:
        aid = self.action_id
        params = dict(decode_json(aid, "parameters", self.parameters) or {})
        self._check_options()
        raw_id = self.file_id if self.file_id not in (None, "") else _param(params, "id")
        return {"id": _int(aid, "file_id", raw_id)}

    def run(self, hook: Bitrix24Hook, params: dict) -> dict:
        drive = _drive(hook)
        record = drive.get_file(_int(self.action_id, "id", _param(params, "id")))
        dest = _destination(self.output_path, record["NAME"])
        drive.download(int(record["ID"]), dest, record=record)
        self.log.info("Downloaded Drive file %s (%s bytes) to %s", record["ID"], record.get("SIZE"), dest)
        return {
            "id": record["ID"],
            "name": record["NAME"],
            "size": int(record.get("SIZE") or 0),
            "path": str(dest),
            "update_time": record.get("UPDATE_TIME"),
        }


def _destination(output_path: Any, name: str) -> Any:
    """``output_path`` itself, or ``output_path/name`` when it names a directory."""
    text = str(output_path)
    if isinstance(output_path, str) and "://" not in output_path:
        if text.endswith(("/", os.sep)) or os.path.isdir(text):
            return os.path.join(text, name)
        return text
    dest = _files.as_destination(output_path)
    if text.endswith("/") or (callable(getattr(dest, "is_dir", None)) and dest.is_dir()):
        return dest / name
    return dest


# --------------------------------------------------------------------------- catalogue rows


class DiskUploadFileOperator(DiskUploadOperator):
    action_id = "disk_upload_file"


class FileUploadFileOperator(DiskUploadOperator):
    action_id = "file_upload_file"


class DiskDownloadFileOperator(DiskDownloadOperator):
    action_id = "disk_download_file"


class FileDownloadFileOperator(DiskDownloadOperator):
    action_id = "file_download_file"


class DiskDeleteFileOperator(Bitrix24ActionOperator):
    """``mode="delete"`` (default) removes for good; ``mode="trash"`` moves to the recycle bin."""

    action_id = "disk_delete_file"


class FileDeleteFileOperator(Bitrix24ActionOperator):
    """``mode="delete"`` (default) removes for good; ``mode="trash"`` moves to the recycle bin."""

    action_id = "file_delete_file"


class DiskGetFileInfoOperator(Bitrix24ActionOperator):
    action_id = "disk_get_file_info"


class DiskGetFileOperator(Bitrix24ActionOperator):
    action_id = "disk_get_file"


class FileGetFileOperator(Bitrix24ActionOperator):
    action_id = "file_get_file"


class _ListChildrenOperator(Bitrix24ActionOperator):
    """Children of a folder (or storage root, ``target="storage"``), every page.

    :param recursive: also descend into sub-folders; each row then carries ``PATH``, its path
        relative to the listed folder. Rows are produced lazily (``output_path`` streams them).
    """

    def __init__(self, *, recursive: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.recursive = recursive

    def run(self, hook: Bitrix24Hook, params: dict) -> Any:
        wanted = _type_filter(self.action_id)
        if getattr(self, "recursive", False):
            start = DriveTarget(_int(self.action_id, "id", _param(params, "id")), self.variant or "folder")
            rows = _walk_rows(_drive(hook), start, wanted, None if self.limit is None else int(self.limit))
        else:
            key = find(params, "filter") or "filter"
            flt = dict(params.get(key) or {})
            flt.setdefault("TYPE", wanted)
            rows = hook.paginate(
                self.method(), {**params, key: flt}, limit=None if self.limit is None else int(self.limit)
            )
        if self.output_path:
            return write_json_lines(self.output_path, rows)
        return list(rows)


def _type_filter(action_id: str) -> str:
    """``file`` or ``folder`` for the listing rows that return one kind only."""
    return "folder" if action_id == "disk_get_folders" else "file"


def _walk_rows(drive: Drive, start: DriveTarget, wanted: str, limit: int | None) -> Iterator[dict]:
    count = 0
    for path, item in drive.walk(start):
        if item.get("TYPE") != wanted:
            continue
        if limit is not None and count >= limit:
            return
        count += 1
        yield {**item, "PATH": path}


class DiskListFilesOperator(_ListChildrenOperator):
    action_id = "disk_list_files"


class DiskGetFilesOperator(_ListChildrenOperator):
    action_id = "disk_get_files"


class FileGetAllFilesOperator(_ListChildrenOperator):
    action_id = "file_get_all_files"


class DiskGetFoldersOperator(_ListChildrenOperator):
    action_id = "disk_get_folders"


class _CreateFolderOperator(Bitrix24ActionOperator):
    """Create a folder (``target="storage"`` for a storage root).

    :param exist_ok: return the existing folder instead of failing when the name is taken;
        ``data.NAME`` may then be a path ``a/b/c`` whose missing parts are created.
    """

    def __init__(self, *, exist_ok: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.exist_ok = exist_ok

    def run(self, hook: Bitrix24Hook, params: dict) -> Any:
        if not getattr(self, "exist_ok", False):
            return hook.call(self.method(), params)
        data = _param(params, "data") or {}
        start = DriveTarget(_int(self.action_id, "id", _param(params, "id")), self.variant or "folder")
        return _drive(hook).ensure_folder(start, str(data.get("NAME") or ""))


class DiskCreateFolderOperator(_CreateFolderOperator):
    action_id = "disk_create_folder"


class DiskAddFolderOperator(_CreateFolderOperator):
    action_id = "disk_add_folder"


class DiskDeleteFolderOperator(Bitrix24ActionOperator):
    """``mode="delete"`` (default) removes the tree for good; ``mode="trash"`` moves it to the bin."""

    action_id = "disk_delete_folder"


class DiskGetStorageInfoOperator(Bitrix24ActionOperator):
    action_id = "disk_get_storage_info"


class DiskGetStoragesOperator(Bitrix24ActionOperator):
    action_id = "disk_get_storages"


class DiskGetStorageOperator(Bitrix24ActionOperator):
    action_id = "disk_get_storage"


class DiskGetFolderOperator(Bitrix24ActionOperator):
    action_id = "disk_get_folder"


class DiskUpdateFolderOperator(Bitrix24ActionOperator):
    action_id = "disk_update_folder"


class DiskCopyFolderOperator(Bitrix24ActionOperator):
    action_id = "disk_copy_folder"


class DiskMoveFolderOperator(Bitrix24ActionOperator):
    action_id = "disk_move_folder"


class DiskRenameFolderOperator(Bitrix24ActionOperator):
    action_id = "disk_rename_folder"


class DiskCopyFileOperator(Bitrix24ActionOperator):
    action_id = "disk_copy_file"


class DiskMoveFileOperator(Bitrix24ActionOperator):
    action_id = "disk_move_file"


class DiskRenameFileOperator(Bitrix24ActionOperator):
    action_id = "disk_rename_file"


class _TransferThenRenameOperator(Bitrix24ActionOperator):
    """``disk.file.moveto`` / ``copyto``, then ``disk.file.rename`` of the result when
    ``newName`` is given (keep the extension: Drive does not change the content type)."""

    def run(self, hook: Bitrix24Hook, params: dict) -> Any:
        params = dict(params)
        key = find(params, "newName")
        new_name = params.pop(key) if key else None
        record = hook.call(self.method(0), params)
        if new_name:
            record = hook.call(self.method(1), {"id": int(record["ID"]), "newName": new_name})
        return record


class FileMoveFileOperator(_TransferThenRenameOperator):
    action_id = "file_move_file"


class FileCopyFileOperator(_TransferThenRenameOperator):
    action_id = "file_copy_file"


class DiskShareItemOperator(Bitrix24ActionOperator):
    """``share="user"`` (default) grants ``userId`` the level ``taskName`` on folder ``id``;
    ``share="file_link"`` / ``"folder_link"`` return a public link of the file / folder."""

    action_id = "disk_share_item"

    def prepare(self) -> dict:
        if self.variant in (None, "user"):
            return super().prepare()
        params = dict(decode_json(self.action_id, "parameters", self.parameters) or {})
        self._check_options()
        key = find(params, "id")
        return {"id": _int(self.action_id, "id", params.get(key) if key else None)}


class DiskGetSharedItemsOperator(Bitrix24ActionOperator):
    action_id = "disk_get_shared_items"


class DiskGetSharingRightsOperator(Bitrix24ActionOperator):
    action_id = "disk_get_sharing_rights"


class DiskUpdateSharingRightsOperator(Bitrix24ActionOperator):
    action_id = "disk_update_sharing_rights"
