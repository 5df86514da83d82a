"""File transfer for Bitrix24: base64 encoding with a size guard, streaming uploads and downloads,
and the Drive operations built on them (:class:`Drive`).

Pure Python (no Airflow). A *source* is anything a file can be read from: ``bytes``, a local
path (``str`` / ``os.PathLike``), an object with ``open("rb")`` such as Airflow's
``ObjectStoragePath`` (any fsspec backend), or an open binary file object. A *destination* is
a local path or an object with ``open("wb")``. Nothing here holds a whole file in memory except
:func:`base64_pair`, which is meant for small files and refuses anything above its limit.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import pathlib
import posixpath
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import IO, Any, Literal
from urllib.parse import urljoin

import requests

from .errors import (
    Bitrix24BadRequest,
    Bitrix24Error,
    Bitrix24NotFound,
    Bitrix24TransportError,
    scrub,
)
from .policy import mask_query_values
from .transport import USER_AGENT

CHUNK_SIZE = 1 << 20  # bytes read or written per step of a streamed transfer
# Read size for base64 streaming: a multiple of 3 so each chunk encodes without padding.
_B64_READ = 3 * (1 << 18)
# Above this size an upload goes through the two-step uploadUrl flow (or a streamed body).
DEFAULT_INLINE_LIMIT = 8 << 20
# Cloud portals reject POST bodies above 2 GB; base64 grows a file by a third.
MAX_POST_BYTES = 2 << 30

ConflictPolicy = Literal["fail", "unique", "replace"]
CONFLICT_POLICIES: tuple[str, ...] = ("fail", "unique", "replace")


class Bitrix24FileTooLarge(Bitrix24BadRequest):
    """The file is larger than the route chosen for it allows (raised before anything is sent)."""


class Bitrix24FileExists(Bitrix24BadRequest):
    """The target folder already holds an object of that name and the policy is ``fail``."""


class Bitrix24DownloadError(Bitrix24TransportError):
    """A download failed or came back incomplete; the partial file has been removed."""


# --------------------------------------------------------------------------- sources


def source_name(source: Any, default: str = "file") -> str:
    """The base name a source would have on Drive (``default`` for bytes and anonymous streams)."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return default
    if isinstance(source, (str, os.PathLike)):
        return os.path.basename(os.fspath(source)) or default
    name = getattr(source, "name", None)
    if isinstance(name, str) and name:
        return posixpath.basename(name.replace("\\", "/").rstrip("/")) or default
    return default


def source_size(source: Any) -> int | None:
    """Size in bytes without reading the content, or ``None`` when it cannot be known."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return len(source)
    if isinstance(source, (str, os.PathLike)):
        return os.path.getsize(os.fspath(source))
    if hasattr(source, "read"):
        try:
            here = source.tell()
            end = source.seek(0, io.SEEK_END)
            source.seek(here)
            return end - here
        except (OSError, AttributeError, ValueError):
            return None
    stat = getattr(source, "stat", None)
    if callable(stat):
        info = stat()
        size = info.get("size") if isinstance(info, dict) else getattr(info, "st_size", None)
        return int(size) if size is not None else None
    return None


@contextlib.contextmanager
def open_source(source: Any) -> Iterator[IO[bytes]]:
    """Open ``source`` for binary reading; an already open stream is used as is and left open."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        yield io.BytesIO(source)
    elif isinstance(source, (str, os.PathLike)):
        with open(os.fspath(source), "rb") as fh:
            yield fh
    elif hasattr(source, "read"):
        yield source
    elif callable(getattr(source, "open", None)):
        with source.open("rb") as fh:
            yield fh
    else:
        raise TypeError(f"cannot read a file from {type(source).__name__}")


def _check_size(size: int | None, limit: int | None, what: str) -> None:
    if limit is not None and size is not None and size > limit:
        raise Bitrix24FileTooLarge(
            "FILE_TOO_LARGE", f"{what} is {size} bytes, above the limit of {limit} bytes"
        )


def base64_string(source: Any, *, max_bytes: int | None = DEFAULT_INLINE_LIMIT) -> str:
    """The whole content of ``source`` as one base64 string (for small files only)."""
    _check_size(source_size(source), max_bytes, "the file")
    with open_source(source) as fh:
        data = fh.read() if max_bytes is None else fh.read(max_bytes + 1)
    _check_size(len(data), max_bytes, "the file")
    return base64.b64encode(data).decode("ascii")


def base64_pair(
    source: Any, name: str | None = None, *, max_bytes: int | None = DEFAULT_INLINE_LIMIT
) -> list[str]:
    """``[name, base64]``: the shape of ``fileContent``, crm.item/lists/entity file fields and
    timeline ``FILES`` entries."""
    return [name or source_name(source), base64_string(source, max_bytes=max_bytes)]


def file_data(source: Any, name: str | None = None, *, max_bytes: int | None = DEFAULT_INLINE_LIMIT) -> dict:
    """``{"fileData": [name, base64]}``: the shape of legacy CRM file fields (crm.deal.add ...)."""
    return {"fileData": base64_pair(source, name, max_bytes=max_bytes)}


# --------------------------------------------------------------------------- streamed bodies


class _StreamedBody:
    """A request body assembled from byte strings and streams, read piece by piece.

    It offers exactly what ``requests`` needs to stream with a Content-Length: ``read``,
    ``__iter__`` and ``__len__`` (and deliberately no ``tell``/``fileno``). Streams are pulled
    in ``CHUNK_SIZE`` steps, so memory stays flat whatever the size.
    """

    def __init__(self, parts: list[bytes | Iterator[bytes]], length: int) -> None:
        self._parts = [iter([p]) if isinstance(p, bytes) else p for p in parts]
        self._length = length
        self._piece = memoryview(b"")  # the piece being handed out, and how far into it we are
        self._offset = 0
        self.sent = 0

    def __len__(self) -> int:
        return self._length

    def _next_piece(self) -> bool:
        while self._parts:
            piece = next(self._parts[0], None)
            if piece is None:
                self._parts.pop(0)
            elif piece:
                self._piece, self._offset = memoryview(piece), 0
                return True
        return False

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            size = CHUNK_SIZE
        out: list[bytes] = []
        want = size
        while want > 0:
            if self._offset >= len(self._piece) and not self._next_piece():
                break
            take = self._piece[self._offset : self._offset + want]
            self._offset += len(take)
            want -= len(take)
            out.append(bytes(take))
        data = b"".join(out)
        self.sent += len(data)
        return data

    def __iter__(self) -> Iterator[bytes]:
        while chunk := self.read(CHUNK_SIZE):
            yield chunk


def _raw_chunks(fh: IO[bytes], expected: int, chunk: int = CHUNK_SIZE) -> Iterator[bytes]:
    """Exactly ``expected`` bytes of ``fh`` in chunks; a source that changes size is an error."""
    left = expected
    while left > 0:
        data = fh.read(min(chunk, left))
        if not data:
            raise Bitrix24Error("SOURCE_CHANGED", f"the file ended {left} bytes early while being sent")
        left -= len(data)
        yield data


def _b64_chunks(fh: IO[bytes], expected: int) -> Iterator[bytes]:
    for data in _raw_chunks(fh, expected, _B64_READ):
        yield base64.b64encode(data)


def b64_length(size: int) -> int:
    return 4 * ((size + 2) // 3)


def multipart_body(field: str, filename: str, fh: IO[bytes], size: int) -> tuple[_StreamedBody, str]:
    """A streamed ``multipart/form-data`` body with one file part; returns (body, content type)."""
    boundary = f"b24-{uuid.uuid4().hex}"
    safe_name = filename.replace("\\", "\\\\").replace('"', "%22").replace("\r", " ").replace("\n", " ")
    head = (
        f"--{boundary}\r\n"
        f'Content-Disposition: form-data; name="{field}"; filename="{safe_name}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode("ascii")
    body = _StreamedBody([head, _raw_chunks(fh, size), tail], len(head) + size + len(tail))
    return body, f"multipart/form-data; boundary={boundary}"


_PLACEHOLDER = "\x00b24-file-content\x00"


def json_body_with_file(params: dict, path: tuple[str | int, ...], fh: IO[bytes], size: int) -> _StreamedBody:
    """A streamed JSON body equal to ``params`` with the base64 of ``fh`` placed at ``path``.

    ``path`` addresses the string slot inside ``params`` (e.g. ``("fileContent", 1)``), which
    must hold ``None``. Used where a method takes base64 only but the file is too large to
    encode in memory (disk.file.uploadversion for a new version of a big file).
    """
    doc = json.loads(json.dumps(params))
    slot: Any = doc
    for key in path[:-1]:
        slot = slot[key]
    slot[path[-1]] = _PLACEHOLDER
    text = json.dumps(doc, ensure_ascii=True)
    marker = json.dumps(_PLACEHOLDER)
    before, after = text.split(marker)
    head, tail = (before + '"').encode("ascii"), ('"' + after).encode("ascii")
    return _StreamedBody([head, _b64_chunks(fh, size), tail], len(head) + b64_length(size) + len(tail))


# --------------------------------------------------------------------------- HTTP transfers


def download_headers(portal_url: str | None = None) -> dict[str, str]:
    """Headers for GET on a signed file link, as the REST docs ask (a real User-Agent, Referer)."""
    headers = {"User-Agent": USER_AGENT, "Accept": "*/*", "Accept-Language": "en-US,en;q=0.9"}
    if portal_url:
        headers["Referer"] = portal_url.rstrip("/") + "/"
    return headers


def _describe(exc: BaseException) -> str:
    """An exception as text without URL query values: a signed link's query is a credential."""
    return mask_query_values(scrub(f"{type(exc).__name__}: {exc}"))


def _result(envelope: Any) -> Any:
    return envelope.get("result") if isinstance(envelope, dict) else envelope


def _attempts_of(source: Any) -> Callable[[], tuple[IO[bytes], Callable[[], None]] | None]:
    """Opens ``source`` afresh for each attempt of a request: paths, bytes and objects with
    ``open`` are opened again; a stream is rewound to where it stood, and if it cannot seek it
    is sent once only (``None`` for a second attempt)."""
    if hasattr(source, "read"):
        try:
            start: int | None = source.tell()
        except (OSError, AttributeError, ValueError):
            start = None
        used = [False]

        def rewind() -> tuple[IO[bytes], Callable[[], None]] | None:
            if used[0]:
                if start is None:
                    return None
                try:
                    source.seek(start)
                except (OSError, AttributeError, ValueError):
                    return None
            used[0] = True
            return source, lambda: None

        return rewind

    def reopen() -> tuple[IO[bytes], Callable[[], None]] | None:
        opened = open_source(source)

        def close() -> None:
            opened.__exit__(None, None, None)

        return opened.__enter__(), close

    return reopen


def _known_size(source: Any) -> int:
    size = source_size(source)
    if size is None:
        raise Bitrix24FileTooLarge("SIZE_UNKNOWN", "the upload source must have a known size")
    return size


def post_multipart(
    client: Any,
    url: str,
    *,
    field: str,
    source: Any,
    filename: str | None = None,
    timeout: tuple[float, float] | None = (10.0, 300.0),
    what: str = "upload",
) -> Any:
    """POST ``source`` to an ``uploadUrl`` as multipart/form-data, streaming it, through the
    client's transport; returns ``result``.

    Sent again only when the portal certainly did not take it (refused with 503, connection
    never made) and the source can be read again; after a lost reply it raises
    :class:`~.errors.Bitrix24WriteMayHaveSucceeded`: the portal may have stored the file.
    """
    size = _known_size(source)
    name = filename or source_name(source)
    attempt = _attempts_of(source)

    def make_body() -> tuple[Any, str, Callable[[], None]] | None:
        opened = attempt()
        if opened is None:
            return None
        fh, close = opened
        body, content_type = multipart_body(field, name, fh, size)
        return body, content_type, close

    return _result(client.transport.post(url, make_body, what, timeout=timeout))


def post_json_with_file(
    client: Any,
    method: str,
    params: dict,
    path: tuple[str | int, ...],
    source: Any,
    *,
    timeout: tuple[float, float] | None = (10.0, 300.0),
) -> Any:
    """Call ``method`` with the base64 of ``source`` streamed into ``params`` at ``path`` (see
    :func:`json_body_with_file`), through the client's transport; returns ``result``. Resent
    only where it certainly was not applied (503, an expired token) and the source can be read again."""
    size = _known_size(source)
    _check_size(b64_length(size), MAX_POST_BYTES, "the base64 request body")
    attempt = _attempts_of(source)

    def make_body(prepared: dict) -> tuple[Any, str, Callable[[], None]] | None:
        opened = attempt()
        if opened is None:
            return None
        fh, close = opened
        return json_body_with_file(prepared, path, fh, size), "application/json", close

    return _result(client.transport.call_with_body(method, params, make_body, timeout=timeout))


def upload_via_url(
    client: Any,
    method: str,
    params: dict,
    source: Any,
    *,
    filename: str | None = None,
    url_key: str = "uploadUrl",
    field_key: str = "field",
) -> Any:
    """The documented two-step upload: call ``method`` without the file content to get an
    upload URL and a form field name, then stream ``source`` there as multipart/form-data.

    Drive (``disk.folder.uploadfile``: ``uploadUrl`` + ``field``) and call records
    (``telephony.externalcall.attachrecord``: ``uploadUrl`` + ``fieldName``) work this way.
    Returns the ``result`` of the second request.
    """
    step = client.call(method, params)
    url = step.get(url_key) if isinstance(step, dict) else None
    if not url:
        raise Bitrix24Error("NO_UPLOAD_URL", f"the reply has no {url_key}", method)
    field = step.get(field_key) or "file"
    return post_multipart(client, url, field=field, source=source, filename=filename, what=method)


def _remove(dest: Any) -> None:
    with contextlib.suppress(Exception):
        if isinstance(dest, (str, os.PathLike)):
            os.unlink(os.fspath(dest))
        elif callable(getattr(dest, "unlink", None)):
            dest.unlink()


@contextlib.contextmanager
def _open_dest(dest: Any) -> Iterator[IO[bytes]]:
    if isinstance(dest, (str, os.PathLike)):
        path = os.fspath(dest)
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "wb") as fh:
            yield fh
    elif callable(getattr(dest, "open", None)):
        parent = getattr(dest, "parent", None)
        if parent is not None and callable(getattr(parent, "mkdir", None)):
            with contextlib.suppress(Exception):
                parent.mkdir(parents=True, exist_ok=True)
        with dest.open("wb") as fh:
            yield fh
    else:
        raise TypeError(f"cannot write a file to {type(dest).__name__}")


def absolute_url(portal_url: str, url: str) -> str:
    """``url`` made absolute against the portal (list file links come back as paths)."""
    return urljoin(portal_url.rstrip("/") + "/", url)


def download_to(
    client: Any,
    url: str,
    dest: Any,
    *,
    expected_size: int | None = None,
    timeout: tuple[float, float] | None = (10.0, 120.0),
    chunk_size: int = CHUNK_SIZE,
    what: str = "download",
) -> int:
    """Stream ``url`` (absolute, or a path on the portal) into ``dest`` through the client's
    transport and return the byte count.

    The size is checked against ``expected_size`` (e.g. the Drive ``SIZE``) and the reply's
    Content-Length. A refused request (503) is sent again after a backoff; on any failure the
    partial file is removed and :class:`Bitrix24DownloadError` is raised; a reply that is an
    error raises the portal's error.
    """
    portal = str(client.portal_url)

    def consume(response: requests.Response) -> int:
        written = 0
        try:
            declared = response.headers.get("Content-Length")
            with _open_dest(dest) as out:
                for chunk in response.iter_content(chunk_size):
                    out.write(chunk)
                    written += len(chunk)
            for label, size in (("Content-Length", declared), ("expected size", expected_size)):
                if size is not None and int(size) != written:
                    raise Bitrix24DownloadError(
                        "SIZE_MISMATCH", f"received {written} bytes but the {label} is {int(size)}", what
                    )
        except Bitrix24DownloadError:
            _remove(dest)
            raise
        except (requests.RequestException, OSError) as exc:
            _remove(dest)
            raise Bitrix24DownloadError(
                "",
                f"download broke off after {written} bytes; the partial file was removed ({_describe(exc)})",
                what,
            ) from None
        return written

    try:
        return int(
            client.transport.download(
                absolute_url(portal, url), consume, what, headers=download_headers(portal), timeout=timeout
            )
        )
    except Bitrix24DownloadError:
        raise
    except Bitrix24TransportError as exc:  # no reply at all: nothing was written
        raise Bitrix24DownloadError(exc.code, exc.description, what, exc.http_status, hint=exc.hint) from None


# Reply keys holding signed links. Such a link carries the caller's credentials (its ``auth``
# and ``token`` query encode the access token), so it must not reach XCom or logs. Keys ending in
# ``Machine`` (imageUrlMachine, printUrlMachine, downloadMachine ...) are signed too, and so is any
# link whose query names a credential, whatever its key (file_url, fileUrl ...).
SIGNED_LINK_KEYS = frozenset(
    {
        "DOWNLOAD_URL",
        "uploadUrl",
        "downloadUrl",
        "downloadUrlMachine",
        "pdfUrl",
        "pdfUrlMachine",
        "urlMachine",
    }
)
_CREDENTIAL_QUERY = re.compile(r"[?&](auth|access_token|token)=", re.IGNORECASE)


def mask_links(value: Any) -> Any:
    """``value`` with the query of every signed link replaced by ``***`` (recursively)."""
    if isinstance(value, dict):
        return {
            k: (_mask_query(v) if isinstance(v, str) and _is_signed_key(k) else mask_links(v))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [mask_links(v) for v in value]
    if isinstance(value, str) and _CREDENTIAL_QUERY.search(value):
        return _mask_query(value)
    return value


def _is_signed_key(key: Any) -> bool:
    return key in SIGNED_LINK_KEYS or (isinstance(key, str) and key.endswith("Machine"))


def _mask_query(url: str) -> str:
    head, sep, _query = url.partition("?")
    return f"{head}?***" if sep else url


# --------------------------------------------------------------------------- Drive


def parse_drive_time(value: Any) -> datetime | None:
    """A Drive timestamp (ISO 8601 with offset, e.g. ``2026-02-16T12:52:05+02:00``) as an aware
    datetime; ``None`` for empty or unreadable values."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


@dataclass(frozen=True)
class DriveTarget:
    """Where an upload goes: a folder id, or the root of a storage (``kind="storage"``)."""

    id: int
    kind: Literal["folder", "storage"] = "folder"

    def method(self, verb: str) -> str:
        return f"disk.{self.kind}.{verb}"


class Drive:
    """Drive operations over a :class:`~airflow_provider_bitrix24.client.client.Bitrix24Client`:
    its ``call``/``paginate`` for REST methods and its transport for the streamed legs (uploadUrl
    POST, streamed base64 call, DOWNLOAD_URL GET), so every request follows one policy.
    """

    def __init__(self, client: Any, *, inline_limit: int = DEFAULT_INLINE_LIMIT) -> None:
        self.client = client
        self.inline_limit = inline_limit

    # -- reads
    def get_file(self, file_id: int) -> dict:
        return self.client.call("disk.file.get", {"id": int(file_id)})

    def children(self, target: DriveTarget, filter: dict | None = None) -> Iterator[dict]:
        params: dict[str, Any] = {"id": target.id}
        if filter:
            params["filter"] = filter
        yield from self.client.paginate(target.method("getchildren"), params)

    def find_child(self, target: DriveTarget, name: str, type_: str | None = None) -> dict | None:
        """The object called ``name`` in ``target`` (Drive names ignore case), or ``None``."""
        flt: dict[str, Any] = {"NAME": name}
        if type_:
            flt["TYPE"] = type_
        wanted = name.casefold()
        for item in self.children(target, flt):
            if str(item.get("NAME", "")).casefold() == wanted and (
                type_ is None or item.get("TYPE") == type_
            ):
                return item
        return None

    def walk(
        self, folder: DriveTarget | int, *, recursive: bool = True, prefix: str = ""
    ) -> Iterator[tuple[str, dict]]:
        """Yield ``(relative path, item)`` for every file and folder below ``folder``, lazily."""
        target = folder if isinstance(folder, DriveTarget) else DriveTarget(int(folder))
        for item in self.children(target):
            rel = posixpath.join(prefix, item["NAME"]) if prefix else item["NAME"]
            yield rel, item
            if recursive and item.get("TYPE") == "folder":
                yield from self.walk(DriveTarget(int(item["ID"])), prefix=rel)

    def modified_files(
        self, folder: DriveTarget | int, since: datetime | None, until: datetime | None
    ) -> Iterator[tuple[str, dict]]:
        """Files below ``folder`` (recursively) whose ``UPDATE_TIME`` is in ``[since, until)``;
        ``None`` leaves that side open. Yields ``(relative path, record)`` lazily."""
        for path, item in self.walk(folder):
            if item.get("TYPE") != "file":
                continue
            changed = parse_drive_time(item.get("UPDATE_TIME"))
            if changed is None:
                continue
            if (since is None or changed >= since) and (until is None or changed < until):
                yield path, item

    # -- folders
    def ensure_folder(self, parent: DriveTarget, path: str) -> dict:
        """Return the folder at ``path`` (``a/b/c``) below ``parent``, creating what is missing."""
        current = parent
        folder: dict = {}
        for part in [p for p in path.replace("\\", "/").split("/") if p]:
            found = self.find_child(current, part, "folder")
            if found is None:
                verb = "addsubfolder" if current.kind == "folder" else "addfolder"
                found = self.client.call(current.method(verb), {"id": current.id, "data": {"NAME": part}})
            folder = found
            current = DriveTarget(int(found["ID"]))
        if not folder:
            folder = self.folder_of(parent)
        return folder

    def folder_of(self, target: DriveTarget) -> dict:
        if target.kind == "folder":
            return self.client.call("disk.folder.get", {"id": target.id})
        storage = self.client.call("disk.storage.get", {"id": target.id})
        return self.client.call("disk.folder.get", {"id": int(storage["ROOT_OBJECT_ID"])})

    # -- upload
    def upload(
        self,
        target: DriveTarget,
        source: Any,
        *,
        name: str | None = None,
        conflict: ConflictPolicy = "fail",
        rights: list[dict] | None = None,
    ) -> dict:
        """Upload ``source`` into ``target``; returns the Drive file record.

        Small files go inline as base64; larger ones through the two-step uploadUrl flow, streamed.
        ``conflict``: ``fail`` raises :class:`Bitrix24FileExists` before sending any content,
        ``unique`` lets the portal pick ``name (1).ext``, ``replace`` stores the content as a new
        version of the existing file (disk.file.uploadversion).
        """
        if conflict not in CONFLICT_POLICIES:
            raise ValueError(f"conflict must be one of {CONFLICT_POLICIES}, not {conflict!r}")
        name = name or source_name(source)
        size = source_size(source)
        if conflict != "unique":
            existing = self.find_child(target, name)
            if existing is not None:
                if conflict == "fail" or existing.get("TYPE") != "file":
                    raise Bitrix24FileExists(
                        "DISK_OBJ_22000",
                        f"{name!r} already exists in {target.kind} {target.id}",
                        target.method("uploadfile"),
                    )
                return self.upload_version(int(existing["ID"]), source, name=name)
        extra: dict[str, Any] = {}
        if conflict == "unique":
            extra["generateUniqueName"] = True
        if rights:
            extra["rights"] = rights
        if size is not None and size <= self.inline_limit:
            params = {
                "id": target.id,
                "data": {"NAME": name},
                "fileContent": base64_pair(source, name, max_bytes=self.inline_limit),
                **extra,
            }
            return self.client.call(target.method("uploadfile"), params)
        # Two-step flow; only folders offer it, so a storage root goes through its root folder.
        folder_id = (
            target.id
            if target.kind == "folder"
            else int(self.client.call("disk.storage.get", {"id": target.id})["ROOT_OBJECT_ID"])
        )
        return upload_via_url(
            self.client,
            "disk.folder.uploadfile",
            {"id": folder_id, "data": {"NAME": name}, **extra},
            source,
            filename=name,
        )

    def upload_version(self, file_id: int, source: Any, *, name: str | None = None) -> dict:
        """Store ``source`` as a new version of file ``file_id`` (base64; streamed when large)."""
        name = name or source_name(source)
        size = source_size(source)
        if size is not None and size <= self.inline_limit:
            return self.client.call(
                "disk.file.uploadversion",
                {"id": int(file_id), "fileContent": base64_pair(source, name, max_bytes=self.inline_limit)},
            )
        params = {"id": int(file_id), "fileContent": [name, None]}
        return post_json_with_file(self.client, "disk.file.uploadversion", params, ("fileContent", 1), source)

    def upload_tree(
        self, directory: Any, target: DriveTarget, *, conflict: ConflictPolicy = "fail", prefix: str = ""
    ) -> Iterator[tuple[str, dict]]:
        """Upload every file below ``directory`` (a local path, or a directory ``ObjectStoragePath``
        / any object with ``iterdir()``), mirroring its sub-directories as Drive folders (created
        where missing). Yields ``(relative path, file record)``, files before sub-directories."""
        root = pathlib.Path(os.fspath(directory)) if isinstance(directory, (str, os.PathLike)) else directory
        entries = sorted(root.iterdir(), key=lambda entry: entry.name)
        for entry in (e for e in entries if not e.is_dir()):
            record = self.upload(target, entry, conflict=conflict)
            yield posixpath.join(prefix, entry.name), record
        for entry in (e for e in entries if e.is_dir()):
            folder = self.ensure_folder(target, entry.name)
            yield from self.upload_tree(
                entry,
                DriveTarget(int(folder["ID"])),
                conflict=conflict,
                prefix=posixpath.join(prefix, entry.name),
            )

    # -- download
    def download(self, file_id: int, dest: Any, *, record: dict | None = None) -> dict:
        """Stream file ``file_id`` into ``dest``; returns its record. Size is verified.

        ``record``: the file's ``disk.file.get`` reply when the caller already has it.
        """
        record = record if record is not None else self.get_file(file_id)
        if record is None:
            raise Bitrix24NotFound("ERROR_NOT_FOUND", f"file {file_id} not found", "disk.file.get")
        url = record.get("DOWNLOAD_URL")
        if not url:
            raise Bitrix24Error("NO_DOWNLOAD_URL", f"file {file_id} has no DOWNLOAD_URL", "disk.file.get")
        size = record.get("SIZE")
        download_to(
            self.client,
            url,
            dest,
            expected_size=int(size) if size not in (None, "") else None,
            what="disk.file.get DOWNLOAD_URL",
        )
        return record
