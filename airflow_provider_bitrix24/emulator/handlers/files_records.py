"""``telephony.externalcall.attachrecord`` with real bytes: inline base64 (``FILE_CONTENT``),
the two-step ``uploadUrl`` + ``fieldName`` flow, or a ``RECORD_URL`` the portal would fetch.

Records are stored as Drive files in a "Call records" folder of the common storage, so tests
can read them back; a repeat call for the same ``CALL_ID`` replaces the record (a new version).
The emulator never fetches ``RECORD_URL`` (it sends no traffic anywhere): it only remembers it.
"""

from __future__ import annotations

import posixpath
from typing import Any

from airflow_provider_bitrix24.emulator.registry import ApiError, CallContext, method

from .disk import UPLOAD_COMMITS, DriveState, _decode_content, drive

RECORD_FOLDER = "Call records"
RECORD_EXTENSIONS = (".mp3", ".wav")


def _records_folder(state: DriveState) -> dict:
    common = next(s for s in state.storages.values() if s["ENTITY_TYPE"] == "common")
    root = state.folder(common["ROOT_OBJECT_ID"])
    for child in state.children(root["ID"]):
        if child["TYPE"] == "folder" and child["NAME"] == RECORD_FOLDER:
            return child
    return state._insert("folder", RECORD_FOLDER, root["STORAGE_ID"], root["ID"], user_id=1)


def _core_error(text: str) -> ApiError:
    return ApiError(400, "ERROR_CORE", text)


def _store(state: DriveState, call_id: str, name: str, blob_id: int, size: int, user_id: int) -> dict:
    records = state.call_records
    with state.lock:
        existing = state.objects.get(records.get(call_id, -1))
        if existing is not None and not existing["DELETED_TYPE"]:
            existing["NAME"] = state.free_name(_records_folder(state), name, True, ignore=existing["ID"])
            obj = state.replace_blob(existing, blob_id, size, user_id=user_id)
        else:
            obj = state.adopt_blob(_records_folder(state), name, blob_id, size, user_id=user_id, unique=True)
        records[call_id] = obj["ID"]
    return {"FILE_ID": obj["ID"]}


def _commit_record(state: DriveState, payload: dict, filename: str | None, blob_id: int, size: int) -> dict:
    return _store(state, payload["call"], payload["name"], blob_id, size, int(payload.get("user") or 1))


UPLOAD_COMMITS["call_record"] = _commit_record


@method("telephony.externalcall.attachrecord")
def attach_record(ctx: CallContext, params: dict) -> Any:
    call_id = str(params.get("CALL_ID") or "")
    if not call_id:
        raise _core_error("Call is not found in the statistic table. It looks like it is not finished yet.")
    filename = params.get("FILENAME")
    record_url = params.get("RECORD_URL")
    content = params.get("FILE_CONTENT")
    if not filename and not record_url:
        raise _core_error(
            "Required parameters are not set. Request should contain either URL or FILENAME parameter"
        )
    state = drive(ctx.portal)
    if record_url and content in (None, ""):
        name = str(filename or posixpath.basename(str(record_url).split("?", 1)[0]) or "record.mp3")
        state.record_urls[call_id] = str(record_url)
        return {"FILE_ID": None, "RECORD_URL": str(record_url), "FILENAME": name}
    if filename in ("", None):
        raise _core_error("File name is empty")
    if not str(filename).lower().endswith(RECORD_EXTENSIONS):
        raise _core_error("Wrong file extension. Only wav and mp3 are allowed")
    if content is None:
        payload = {
            "target": "call_record",
            "call": call_id,
            "name": str(filename),
            "user": ctx.user_id,
            "field": "file",
        }
        return {"uploadUrl": state.link("upload", payload), "fieldName": "file"}
    if content == "":
        raise _core_error("File content is empty.")
    try:
        _, data = _decode_content(content)
    except ApiError:
        raise _core_error("File content is not properly encoded. Base64 encoding is expected.") from None
    blob_id, size = state.write_blob(lambda fh: fh.write(data))
    return _store(state, call_id, str(filename), blob_id, size, ctx.user_id)
