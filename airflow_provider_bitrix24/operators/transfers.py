"""Sync jobs between Bitrix24 and object storage (local disk, S3, GCS, ... via ``ObjectStoragePath``).

* :class:`Bitrix24ToObjectStorageOperator` exports a list method to JSON Lines, streaming, for
  the DAG run's data interval, replacing the target object atomically.
* :class:`ObjectStorageToBitrix24Operator` upserts JSON Lines into a CRM entity in batches,
  matching existing records by a key so that re-runs create nothing twice.
"""

from __future__ import annotations

import gzip
import io
import json
import re
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from typing import TYPE_CHECKING, Any, BinaryIO, cast

from airflow.sdk import BaseOperator, ObjectStoragePath

from airflow_provider_bitrix24.client.errors import Bitrix24Error, scrub
from airflow_provider_bitrix24.hooks.mixin import HookMixin
from airflow_provider_bitrix24.polling.entities import crm_entity
from airflow_provider_bitrix24.polling.timestamps import format_timestamp

if TYPE_CHECKING:
    from airflow.sdk import Context

BATCH_LIMIT = 50
PROGRESS_EVERY_SECONDS = 10.0

# Field holding the last-modified time, per list method; "DATE_MODIFY" when not listed.
MODIFIED_FIELDS: dict[str, str] = {
    "crm.item.list": "updatedTime",
    "tasks.task.list": "CHANGED_DATE",
    "crm.activity.list": "LAST_UPDATED",
    "crm.timeline.comment.list": "CREATED",
    "user.get": "TIMESTAMP_X",
    "disk.folder.getchildren": "UPDATE_TIME",
    "disk.storage.getchildren": "UPDATE_TIME",
}


def modified_field_for(method: str) -> str:
    return MODIFIED_FIELDS.get(method.strip().lower(), "DATE_MODIFY")


def _is_gzip(path: ObjectStoragePath, compression: str | None) -> bool:
    if compression == "infer":
        return path.name.endswith(".gz")
    if compression not in (None, "gzip"):
        raise ValueError(f"compression must be 'gzip', None or 'infer', not {compression!r}")
    return compression == "gzip"


def _as_path(path: str | ObjectStoragePath, conn_id: str | None) -> ObjectStoragePath:
    if isinstance(path, ObjectStoragePath):
        return path
    return ObjectStoragePath(str(path), conn_id=conn_id) if conn_id else ObjectStoragePath(str(path))


def _temporaries_of(target: Any) -> Iterator[Any]:
    """The ``.<name>.<uuid>.tmp`` siblings a write of ``target`` makes (or a killed one left)."""
    pattern = re.compile(rf"\.{re.escape(target.name)}\.[0-9a-f]{{32}}\.tmp")
    if not target.parent.exists():
        return
    for sibling in target.parent.iterdir():
        if pattern.fullmatch(sibling.name):
            yield sibling


@contextmanager
def atomic_jsonl_writer(target: Any, gzip_output: bool) -> Iterator[_LineWriter]:
    """Write lines to a temporary sibling of ``target``; move it over ``target`` only on success.

    Readers see the old object or the complete new one, never a partial file. A run killed
    outright (SIGKILL, a lost worker) cannot remove its temporary; the next write of the same
    target does, before it starts (two runs writing one target at the same time are not
    supported: the last to finish would win anyway). Gzip output is byte-for-byte reproducible
    (no timestamp or file name in the header). ``target`` is an ``ObjectStoragePath`` or a
    ``pathlib.Path``.
    """
    for stale in _temporaries_of(target):
        stale.unlink(missing_ok=True)
    tmp = target.parent / f".{target.name}.{uuid.uuid4().hex}.tmp"
    target.parent.mkdir(parents=True, exist_ok=True)
    committed = False
    try:
        with tmp.open("wb") as raw:
            stream = (
                cast(BinaryIO, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0))
                if gzip_output
                else raw
            )
            try:
                writer = _LineWriter(stream)
                yield writer
            finally:
                if gzip_output:
                    stream.close()
        tmp.rename(target)
        committed = True
    finally:
        if not committed:
            try:
                tmp.unlink()
            except FileNotFoundError:
                pass


class _LineWriter:
    """JSON Lines into a binary stream, buffered, counting rows."""

    def __init__(self, stream: BinaryIO, buffer_rows: int = 500) -> None:
        self.stream = stream
        self.rows = 0
        self._buffer: list[bytes] = []
        self._buffer_rows = buffer_rows

    def write(self, record: Any) -> None:
        line = json.dumps(record, ensure_ascii=False, separators=(",", ":"), default=str)
        self._buffer.append(line.encode() + b"\n")
        self.rows += 1
        if len(self._buffer) >= self._buffer_rows:
            self.flush()

    def flush(self) -> None:
        if self._buffer:
            self.stream.write(b"".join(self._buffer))
            self._buffer.clear()


def read_jsonl(path: ObjectStoragePath, gzip_input: bool) -> Iterator[tuple[int, Any]]:
    """``(line number, record)`` for each non-empty line, streaming."""
    with path.open("rb") as raw:
        binary = cast(BinaryIO, gzip.GzipFile(fileobj=raw, mode="rb")) if gzip_input else raw
        text = io.TextIOWrapper(binary, encoding="utf-8")
        for number, line in enumerate(text, start=1):
            if line.strip():
                yield number, json.loads(line)


class _Progress:
    def __init__(self, log: Any, what: str) -> None:
        self.log = log
        self.what = what
        self.started = self.last = time.monotonic()

    def tick(self, rows: int, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self.last >= PROGRESS_EVERY_SECONDS:
            self.last = now
            elapsed = max(now - self.started, 1e-9)
            self.log.info("%s: %d rows in %.1f s (%.0f rows/s)", self.what, rows, elapsed, rows / elapsed)


class Bitrix24ToObjectStorageOperator(HookMixin, BaseOperator):
    """Export a Bitrix24 list method to JSON Lines in object storage.

    By default only records modified in the run's data interval are exported
    (``>=modified_field`` = ``data_interval_start`` and ``<modified_field`` = ``data_interval_end``);
    ``incremental=False`` exports everything matching ``parameters``.

    The interval must not be empty. Under Airflow 3's defaults a cron/preset/timedelta schedule
    makes runs whose interval starts where it ends; schedule incremental exports with
    ``CronDataIntervalTimetable`` or ``DeltaDataIntervalTimetable`` (``airflow.sdk``). An empty
    interval fails the task with that advice rather than falling back to the previous successful
    run's end: such a window depends on run history (clearing or backfilling a run changes it),
    so a re-run would not reproduce the object named after the interval. Rows are streamed to a
    temporary object in ID order and moved over ``path`` at the end, so a re-run of the same
    interval replaces the object with identical content and a failure leaves the previous object
    untouched.

    Returns ``{"path": str, "rows": int}``.

    :param method: list method, e.g. ``crm.deal.list`` or ``crm.item.list``; or give ``action``.
    :param action: a catalogue action id whose method is a list method (e.g. ``crm_get_all_deals``).
    :param path: target object, e.g. ``s3://bucket/deals/{{ ds }}.jsonl.gz`` (templated).
    :param parameters: method parameters: ``select``, ``filter``, ``entityTypeId``, ... (templated).
        Named ``parameters`` because ``params`` is Airflow's own DAG-params argument.
    :param incremental: export only the data interval (default) or everything.
    :param modified_field: field for the interval filter; defaults per method (``DATE_MODIFY``,
        ``updatedTime`` for crm.item.list, ``CHANGED_DATE`` for tasks.task.list).
    :param compression: ``"gzip"``, ``None``, or ``"infer"`` from a ``.gz`` suffix (default).
    :param storage_conn_id: Airflow connection for the object store (``None``: the path's default).
    :param bitrix24_conn_id: Airflow connection of the portal.
    """

    template_fields: Sequence[str] = ("path", "parameters", "method", "bitrix24_conn_id", "storage_conn_id")
    template_fields_renderers = {"parameters": "json"}

    def __init__(
        self,
        *,
        path: str | ObjectStoragePath,
        method: str | None = None,
        action: str | None = None,
        parameters: dict | None = None,
        incremental: bool = True,
        modified_field: str | None = None,
        compression: str | None = "infer",
        storage_conn_id: str | None = None,
        bitrix24_conn_id: str = "bitrix24_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if bool(method) == bool(action):
            raise ValueError("give exactly one of method= or action=")
        self.method = method or _list_method_of_action(str(action))
        self.path = path
        self.parameters = parameters or {}
        self.incremental = incremental
        self.modified_field = modified_field
        self.compression = compression
        self.storage_conn_id = storage_conn_id
        self.bitrix24_conn_id = bitrix24_conn_id

    def build_params(self, context: Context) -> dict:
        params = dict(self.parameters)
        if not self.incremental:
            return params
        start, end = context.get("data_interval_start"), context.get("data_interval_end")
        if start is None or end is None:
            raise ValueError(
                "incremental export needs a data interval; set incremental=False for a full export"
            )
        if start >= end:
            raise ValueError(
                f"incremental export of {self.method}: the run's data interval is empty ({start.isoformat()} to "
                f"{end.isoformat()}), so it would export nothing. Airflow 3 gives a cron string, a preset such as "
                "'@daily' or a timedelta schedule zero-length intervals by default; schedule the DAG with "
                "CronDataIntervalTimetable('0 0 * * *', timezone='UTC') or DeltaDataIntervalTimetable(timedelta(days=1)) "
                "from airflow.sdk, or set [scheduler] create_cron_data_intervals = True "
                "(create_delta_data_intervals for timedeltas). Use incremental=False for a full export."
            )
        modified = self.modified_field or modified_field_for(self.method)
        params["filter"] = {
            **(params.get("filter") or {}),
            f">={modified}": format_timestamp(start),
            f"<{modified}": format_timestamp(end),
        }
        return params

    def execute(self, context: Context) -> dict:
        target = _as_path(self.path, self.storage_conn_id)
        params = self.build_params(context)
        self.log.info("Exporting %s to %s (filter %s)", self.method, target, params.get("filter"))
        progress = _Progress(self.log, f"export {self.method}")
        with atomic_jsonl_writer(target, _is_gzip(target, self.compression)) as out:
            for record in self.hook.paginate(self.method, params):
                out.write(record)
                if out.rows % 1000 == 0:
                    progress.tick(out.rows)
            out.flush()
        progress.tick(out.rows, force=True)
        self.log.info("Wrote %d rows to %s", out.rows, target)
        return {"path": str(target), "rows": out.rows}


def _list_method_of_action(action_id: str) -> str:
    """The list method behind a paged catalogue action (its single call)."""
    from airflow_provider_bitrix24.catalogue import get_action

    action = get_action(action_id)
    if not action.paged or len(action.steps) != 1:
        raise ValueError(f"action {action_id!r} is not a single paged list call; pass method= instead")
    return action.steps[0][0]


# ------------------------------------------------------------------------------------------
# Import
# ------------------------------------------------------------------------------------------

COMM_TYPES = {"phone": "PHONE", "email": "EMAIL"}
DUPLICATE_ENTITY_TYPES = {"lead": "LEAD", "contact": "CONTACT", "company": "COMPANY"}


class ImportStats:
    """Counters of one import; rejected rows stream to the rejects object, opened on the first one."""

    def __init__(self, rejects_path: ObjectStoragePath, stack: ExitStack) -> None:
        self.created = 0
        self.updated = 0
        self.failed = 0
        self.rejects_path = rejects_path
        self._stack = stack
        self._out: _LineWriter | None = None

    def reject(self, line: int, row: Any, code: str, description: str) -> None:
        if self._out is None:
            self._out = self._stack.enter_context(
                atomic_jsonl_writer(self.rejects_path, _is_gzip(self.rejects_path, "infer"))
            )
        self.failed += 1
        self._out.write(
            {"line": line, "row": row, "error": {"code": code, "description": scrub(description)}}
        )

    def close(self) -> None:
        if self._out is not None:
            self._out.flush()


def _comm_key(kind: str, value: Any) -> str | None:
    """A phone/e-mail (string or Bitrix24 multi-field list) as a match key: e-mails compare
    case-insensitively, phones by their digits, as the portal's duplicate search does."""
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, dict):
        value = value.get("VALUE")
    text = str(value).strip() if value not in (None, "") else ""
    key = re.sub(r"\D", "", text) if kind == "PHONE" else text.casefold()
    return key or None


class ObjectStorageToBitrix24Operator(HookMixin, BaseOperator):
    """Upsert JSON Lines records into a CRM entity (deal, lead, contact, company, or crm.item).

    Each line is the record's fields. Rows go in batches of 50 commands; before writing, each
    batch looks up existing records by the match key, so existing records are updated and
    re-running the same file creates nothing twice.

    Match keys:

    * ``match_by="field"``: ``match_field`` is a Bitrix24 field (an external-id user field such
      as ``UF_CRM_EXT_ID``, or ``ORIGIN_ID``), looked up with one list call per batch.
    * ``match_by="phone"`` / ``"email"``: crm.duplicate.findbycomm (leads, contacts, companies).

    Rows that fail (no key, or an error from Bitrix24) go to ``rejects_path`` as JSON Lines
    ``{"line", "row", "error": {"code", "description"}}``. Returns
    ``{"created", "updated", "failed", "rejects_path"}``.

    :param path: source JSON Lines object (``.gz`` read as gzip) (templated).
    :param entity: ``deal``, ``lead``, ``contact``, ``company`` or ``item``.
    :param entity_type_id: CRM entity type for ``entity="item"`` (smart processes).
    :param match_by: ``"field"``, ``"phone"`` or ``"email"``.
    :param match_field: the Bitrix24 field to match on when ``match_by="field"``.
    :param key_column: the row's key column; defaults to ``match_field`` / ``PHONE`` / ``EMAIL``.
    :param rejects_path: where failed rows go (templated); default ``<path>.rejects.jsonl``.
    :param max_failed: fail the task when more rows than this failed (``None``: never).
    :param batch_size: commands per batch request (at most 50).
    """

    template_fields: Sequence[str] = (
        "path",
        "rejects_path",
        "match_field",
        "bitrix24_conn_id",
        "storage_conn_id",
    )

    def __init__(
        self,
        *,
        path: str | ObjectStoragePath,
        entity: str,
        match_by: str = "field",
        match_field: str | None = None,
        key_column: str | None = None,
        entity_type_id: int | None = None,
        rejects_path: str | ObjectStoragePath | None = None,
        max_failed: int | None = None,
        batch_size: int = BATCH_LIMIT,
        storage_conn_id: str | None = None,
        bitrix24_conn_id: str = "bitrix24_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.spec = crm_entity(entity)
        if self.spec.universal and entity_type_id is None:
            raise ValueError("entity='item' needs entity_type_id")
        if match_by == "field":
            if not match_field:
                raise ValueError("match_by='field' needs match_field (e.g. an external-id user field)")
        elif match_by in COMM_TYPES:
            if entity.lower() not in DUPLICATE_ENTITY_TYPES:
                raise ValueError(
                    f"match_by={match_by!r} works for {sorted(DUPLICATE_ENTITY_TYPES)}, not {entity!r}"
                )
        else:
            raise ValueError("match_by must be 'field', 'phone' or 'email'")
        if not 1 <= batch_size <= BATCH_LIMIT:
            raise ValueError(f"batch_size must be 1..{BATCH_LIMIT}")
        self.path = path
        self.entity = entity.lower()
        self.entity_type_id = entity_type_id
        self.match_by = match_by
        self.match_field = match_field
        self.key_column = key_column or match_field or COMM_TYPES.get(match_by)
        self.rejects_path = rejects_path
        self.max_failed = max_failed
        self.batch_size = batch_size
        self.storage_conn_id = storage_conn_id
        self.bitrix24_conn_id = bitrix24_conn_id

    # -- method names and parameters -------------------------------------------------------
    @property
    def _prefix(self) -> str:
        return self.spec.get_method.rsplit(".", 1)[0]

    def _type_param(self) -> dict:
        return self.spec.type_params(self.entity_type_id)

    def _fields(self, row: dict, updating: bool) -> dict:
        fields = dict(row)
        comm = COMM_TYPES.get(self.match_by)
        if comm and not self.spec.universal:
            if updating:
                # Multi-field values sent on update are appended: resending the matched phone
                # or e-mail would add a duplicate value on every run.
                fields.pop(comm, None)
            elif isinstance(fields.get(comm), str):
                fields[comm] = [{"VALUE": fields[comm], "VALUE_TYPE": "WORK"}]
        return fields

    def _key(self, row: dict) -> str | None:
        value = row.get(self.key_column)
        if self.match_by == "field":
            return None if value in (None, "") else str(value)
        return _comm_key(COMM_TYPES[self.match_by], value)

    # -- lookups -----------------------------------------------------------------------------
    def _find_existing(self, keys: list[str]) -> dict[str, int]:
        if not keys:
            return {}
        if self.match_by == "field":
            return self._find_by_field(keys)
        return self._find_by_comm(keys)

    def _find_by_field(self, keys: list[str]) -> dict[str, int]:
        id_field = self.spec.id_field
        params = {
            **self._type_param(),
            "filter": {f"@{self.match_field}": keys},
            "select": [id_field, self.match_field],
        }
        # One page answers when each key has at most one record; a full page may hide more.
        records = list(self.hook.paginate(self.spec.list_method, params, limit=len(keys)))
        if len(records) >= len(keys):
            records = self.hook.paginate(self.spec.list_method, params)
        found: dict[str, int] = {}
        for record in records:
            key = record.get(self.match_field)
            if key in (None, ""):
                continue
            record_id = int(record[id_field])
            if str(key) in found and found[str(key)] != record_id:
                self.log.warning(
                    "%s=%s matches several records; updating the oldest (%s)",
                    self.match_field,
                    key,
                    found[str(key)],
                )
                continue
            found[str(key)] = record_id
        return found

    def _find_by_comm(self, keys: list[str]) -> dict[str, int]:
        entity_type = DUPLICATE_ENTITY_TYPES[self.entity]
        commands = {
            f"k{i}": (
                "crm.duplicate.findbycomm",
                {"type": COMM_TYPES[self.match_by], "values": [key], "entity_type": entity_type},
            )
            for i, key in enumerate(keys)
        }
        result = self.hook.batch(commands)
        result.raise_for_errors()
        found: dict[str, int] = {}
        for i, key in enumerate(keys):
            hits = result.result.get(f"k{i}") or {}
            ids = hits.get(entity_type) if isinstance(hits, dict) else None
            if ids:
                found[key] = min(int(x) for x in ids)
        return found

    # -- the run -----------------------------------------------------------------------------
    def _chunks(
        self, rows: Iterable[tuple[int, Any]], stats: ImportStats
    ) -> Iterator[list[tuple[int, dict, str]]]:
        """Batches of ``(line, row, key)`` with each key at most once per batch."""
        chunk: list[tuple[int, dict, str]] = []
        keys_in_chunk: set[str] = set()
        for line, row in rows:
            if not isinstance(row, dict):
                stats.reject(line, row, "INVALID_ROW", "a line must be a JSON object of fields")
                continue
            key = self._key(row)
            if key is None:
                stats.reject(line, row, "MISSING_KEY", f"no value in {self.key_column!r}")
                continue
            if key in keys_in_chunk or len(chunk) >= self.batch_size:
                yield chunk
                chunk, keys_in_chunk = [], set()
            chunk.append((line, row, key))
            keys_in_chunk.add(key)
        if chunk:
            yield chunk

    def _write_chunk(
        self, chunk: list[tuple[int, dict, str]], known: dict[str, int], stats: ImportStats
    ) -> None:
        unknown = [key for _, _, key in chunk if key not in known]
        known.update(self._find_existing(unknown))
        commands: dict[str, tuple[str, dict]] = {}
        for i, (_line, row, key) in enumerate(chunk):
            record_id = known.get(key)
            if record_id is None:
                commands[f"r{i}"] = (
                    f"{self._prefix}.add",
                    {**self._type_param(), "fields": self._fields(row, False)},
                )
            else:
                commands[f"r{i}"] = (
                    f"{self._prefix}.update",
                    {**self._type_param(), "id": record_id, "fields": self._fields(row, True)},
                )
        result = self.hook.batch(commands)
        for i, (line, row, key) in enumerate(chunk):
            name = f"r{i}"
            error = result.errors.get(name)
            if error is not None:
                stats.reject(line, row, error.code or type(error).__name__, error.description or str(error))
            elif key in known:
                stats.updated += 1
            else:
                stats.created += 1
                new_id = _created_id(result.result.get(name))
                if new_id is not None:
                    known[key] = new_id

    def execute(self, context: Context) -> dict:
        source = _as_path(self.path, self.storage_conn_id)
        rejects = _as_path(self.rejects_path or f"{source}.rejects.jsonl", self.storage_conn_id)
        known: dict[str, int] = {}
        progress = _Progress(self.log, f"import into {self.entity}")
        done = 0
        self.log.info(
            "Upserting %s into %s, matching by %s %s",
            source,
            self.entity,
            self.match_by,
            self.match_field or "",
        )
        with ExitStack() as stack:
            stats = ImportStats(rejects, stack)
            for chunk in self._chunks(read_jsonl(source, _is_gzip(source, "infer")), stats):
                self._write_chunk(chunk, known, stats)
                done += len(chunk)
                progress.tick(done)
            stats.close()
        progress.tick(done, force=True)
        if stats.failed:
            self.log.warning("%d row(s) rejected; see %s", stats.failed, rejects)
        elif rejects.exists():
            rejects.unlink()  # a previous run's rejects no longer apply
        self.log.info("Created %d, updated %d, failed %d", stats.created, stats.updated, stats.failed)
        if self.max_failed is not None and stats.failed > self.max_failed:
            raise Bitrix24Error(
                "IMPORT_REJECTS", f"{stats.failed} rows failed (more than {self.max_failed}); see {rejects}"
            )
        return {
            "created": stats.created,
            "updated": stats.updated,
            "failed": stats.failed,
            "rejects_path": str(rejects) if stats.failed else None,
        }


def _created_id(result: Any) -> int | None:
    """The new record's ID from an ``.add`` reply (a bare ID, or ``{"item": {"id": ..}}``)."""
    value: Any
    if isinstance(result, dict):
        item = result.get("item", result)
        value = item.get("id", item.get("ID")) if isinstance(item, dict) else None
    else:
        value = result
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
