"""Polling logic shared by sensors (poke / reschedule) and triggers (deferrable, event-driven).

A *probe* is one condition to look for on a portal ("deal 42 reached WON", "tasks changed since
T"). ``probe.plan()`` states one look as the REST calls it makes (:mod:`.calls`);
``probe.check(hook)`` runs it with the hook's synchronous client and :func:`check_once_async`
with the triggerer's async client, both returning an :class:`Outcome`. Probes are plain dataclasses of JSON-able fields, so a trigger can serialize
one, a triggerer can rebuild it after a restart, and the same instance works in a worker.

A probe fires once; following a stream of changes for good is the event triggers' job, with
the cursor of :mod:`airflow_provider_bitrix24.polling.changes`. Nothing here imports Airflow.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, ClassVar

from airflow_provider_bitrix24.client.errors import (
    Bitrix24Error,
    Bitrix24OperationLimit,
    Bitrix24RateLimited,
    Bitrix24ServerError,
    Bitrix24TransportError,
    Bitrix24WriteMayHaveSucceeded,
)
from airflow_provider_bitrix24.polling.calls import Call, Steps, every_row, run, run_async
from airflow_provider_bitrix24.polling.changes import ChangeReader, Cursor, change_source, now_second
from airflow_provider_bitrix24.polling.entities import crm_entity
from airflow_provider_bitrix24.polling.offline import LIST_PAGE, OfflineQueue
from airflow_provider_bitrix24.polling.timestamps import epoch_second, format_timestamp, parse_timestamp

log = logging.getLogger(__name__)

# Errors after which the next poll may well succeed: the client already retried them, so a poller
# waits for its next turn instead of failing the task.
TRANSIENT_ERRORS: tuple[type[Bitrix24Error], ...] = (
    Bitrix24RateLimited,
    Bitrix24OperationLimit,
    Bitrix24ServerError,
    Bitrix24TransportError,
)


# --------------------------------------------------------------------------------------------
# Probes
# --------------------------------------------------------------------------------------------


@dataclass
class Outcome:
    """Result of one look: ``done`` and the value to hand downstream."""

    done: bool
    value: Any = None


# A probe's look as the calls it makes: the sync poller sends them with the hook, the triggerer
# with the async client, so both run one logic.
Plan = Steps[Outcome]

PROBES: dict[str, type[Probe]] = {}


@dataclass
class Probe:
    """One condition to poll for. Subclasses set ``kind`` and implement :meth:`plan`."""

    kind: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.kind:
            PROBES[cls.kind] = cls

    def plan(self) -> Plan:  # pragma: no cover - abstract
        """The look as a generator of :class:`~.calls.Call` s returning the :class:`Outcome`."""
        raise NotImplementedError

    def check(self, hook: Any) -> Outcome:
        """One look with the hook's synchronous client."""
        return run(self.plan(), hook)

    def describe(self) -> str:
        return self.kind

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, **dataclasses.asdict(self)}

    @staticmethod
    def from_dict(data: dict[str, Any]) -> Probe:
        data = dict(data)
        kind = data.pop("kind")
        try:
            cls = PROBES[kind]
        except KeyError:
            raise ValueError(f"unknown probe kind {kind!r}") from None
        return cls(**data)


def check_once(probe: Probe, hook: Any) -> Outcome:
    """One look, treating errors the client already retried as "not yet" instead of a failure.

    Every poller (sensor poke, trigger loop) goes through here so they treat errors alike.
    """
    try:
        return probe.check(hook)
    except Bitrix24WriteMayHaveSucceeded:
        raise  # probes only read; a write error here is a bug worth surfacing
    except TRANSIENT_ERRORS as err:
        return _not_yet(probe, err)


async def check_once_async(probe: Probe, client: Any) -> Outcome:
    """:func:`check_once` with the calls sent by an async client on the event loop."""
    try:
        return await run_async(probe.plan(), client)
    except Bitrix24WriteMayHaveSucceeded:
        raise
    except TRANSIENT_ERRORS as err:
        return _not_yet(probe, err)


def _not_yet(probe: Probe, err: Exception) -> Outcome:
    log.warning("Bitrix24 poll of %s hit a transient error, will look again: %s", probe.describe(), err)
    return Outcome(done=False)


@dataclass
class CrmStageProbe(Probe):
    """A CRM record (deal, lead, quote or crm.item) sits in one of ``stages``."""

    kind: ClassVar[str] = "crm_stage"

    entity: str
    record_id: int
    stages: list[str]
    entity_type_id: int | None = None

    def describe(self) -> str:
        return f"{self.entity} {self.record_id} in stages {self.stages}"

    def plan(self) -> Plan:
        entity = crm_entity(self.entity)
        if not entity.stage_field:
            raise ValueError(f"CRM entity {self.entity!r} has no stages")
        params = {**entity.type_params(self.entity_type_id), "id": int(self.record_id)}
        record = yield Call(entity.get_method, params)
        if entity.universal:
            record = (record or {}).get("item") or {}
        stage = record.get(entity.stage_field)
        log.info("%s %s is in stage %s (waiting for %s)", self.entity, self.record_id, stage, self.stages)
        if stage in self.stages:
            return Outcome(True, {"id": int(self.record_id), "stage": stage, "record": record})
        return Outcome(False)


@dataclass
class CrmChangesProbe(Probe):
    """CRM records matching ``filter`` created or modified at or after ``since``.

    Read by the one change detector (:class:`~airflow_provider_bitrix24.polling.changes.ChangeReader`)
    up to the portal's current second: the value is the IDs of at most ``max_ids`` changes in
    (change time, ID) order, so a cut keeps the oldest changes and the rest come after them.
    """

    kind: ClassVar[str] = "crm_changes"

    entity: str
    since: str
    filter: dict = field(default_factory=dict)
    entity_type_id: int | None = None
    max_ids: int = 10000

    def describe(self) -> str:
        return f"{self.entity} changes since {self.since}"

    def plan(self) -> Plan:
        since = epoch_second(self.since)
        if since is None:
            raise ValueError(f"since must be a time value, not {self.since!r}")
        reader = ChangeReader(
            None, change_source(self.entity), self.filter, entity_type_id=self.entity_type_id
        )
        upper = (yield from now_second()) + 1  # the current second too: this look keeps no cursor
        changes, after = yield from reader.read(Cursor(since), upper, int(self.max_ids))
        if not changes:
            return Outcome(False)
        if after.second < upper:
            log.warning(
                "More than %s changed %s records; reporting the %s oldest changes",
                self.max_ids,
                self.entity,
                len(changes),
            )
        log.info("%s %s record(s) changed since %s", len(changes), self.entity, format_timestamp(self.since))
        return Outcome(True, [change.id for change in changes])


# tasks.task.* status codes by the names users think in.
TASK_STATUSES: dict[str, int] = {
    "pending": 2,
    "in_progress": 3,
    "awaiting_control": 4,
    "completed": 5,
    "deferred": 6,
}


def task_status_code(value: int | str) -> int:
    if isinstance(value, int) or str(value).isdigit():
        return int(value)
    try:
        return TASK_STATUSES[str(value).lower()]
    except KeyError:
        raise ValueError(
            f"unknown task status {value!r}; use a code or one of {sorted(TASK_STATUSES)}"
        ) from None


@dataclass
class TaskStatusProbe(Probe):
    """A task (tasks.task.get) has one of ``statuses`` (codes or names such as ``completed``)."""

    kind: ClassVar[str] = "task_status"

    task_id: int
    statuses: list = field(default_factory=lambda: ["completed"])

    def describe(self) -> str:
        return f"task {self.task_id} in statuses {self.statuses}"

    def plan(self) -> Plan:
        wanted = {task_status_code(s) for s in self.statuses}
        result = yield Call("tasks.task.get", {"taskId": int(self.task_id), "select": ["ID", "STATUS"]})
        task = (result or {}).get("task") or {}
        status = task.get("status", task.get("STATUS"))
        log.info("task %s has status %s (waiting for %s)", self.task_id, status, sorted(wanted))
        if status is not None and int(status) in wanted:
            return Outcome(True, {"id": int(self.task_id), "status": int(status)})
        return Outcome(False)


@dataclass
class WorkflowFinishedProbe(Probe):
    """A business-process instance is no longer running.

    bizproc.workflow.instances lists running instances only, so "finished" means "no longer
    listed"; the portal keeps no record of how it ended.
    """

    kind: ClassVar[str] = "workflow_finished"

    workflow_id: str

    def describe(self) -> str:
        return f"workflow {self.workflow_id} finished"

    def plan(self) -> Plan:
        running = yield Call(
            "bizproc.workflow.instances",
            {"SELECT": ["ID", "MODIFIED"], "FILTER": {"ID": self.workflow_id}},
        )
        if running:
            log.info("workflow %s is still running", self.workflow_id)
            return Outcome(False)
        return Outcome(True, {"id": self.workflow_id, "finished": True})


@dataclass
class DriveFolderProbe(Probe):
    """Files in a Drive folder, optionally matching a name pattern, added or changed at or after ``since``.

    ``since=None`` fires on any matching file.
    """

    kind: ClassVar[str] = "drive_folder"

    folder_id: int
    pattern: str = "*"
    since: str | None = None

    def describe(self) -> str:
        return f"files {self.pattern!r} in Drive folder {self.folder_id} since {self.since}"

    def plan(self) -> Plan:
        since_dt = parse_timestamp(self.since) if self.since else None
        found: list[tuple[datetime, dict]] = []
        params = {"id": int(self.folder_id), "filter": {"TYPE": "file"}}
        for item in (yield from every_row("disk.folder.getchildren", params)):
            if str(item.get("TYPE", "file")).lower() != "file":
                continue
            if not fnmatch.fnmatchcase(str(item.get("NAME", "")), self.pattern):
                continue
            updated = parse_timestamp(item.get("UPDATE_TIME") or item.get("CREATE_TIME"))
            updated = updated or datetime.min.replace(tzinfo=timezone.utc)
            if since_dt is not None and updated < since_dt:
                continue
            found.append(
                (updated, {k: item.get(k) for k in ("ID", "NAME", "SIZE", "UPDATE_TIME", "CREATE_TIME")})
            )
        if not found:
            return Outcome(False)
        found.sort(key=lambda pair: (pair[0], str(pair[1]["ID"])))
        files = [f for _, f in found]
        log.info("%s file(s) matching %r in folder %s", len(files), self.pattern, self.folder_id)
        return Outcome(True, files)


@dataclass
class OfflineEventsProbe(Probe):
    """Offline events wait in the application's queue (read with event.offline.list, which changes nothing).

    The probe only looks; taking events happens on a worker (:meth:`.offline.OfflineQueue.take`),
    so a triggerer that dies mid-poll never takes events that nobody will process.
    """

    kind: ClassVar[str] = "offline_events"

    event_names: list[str] = field(default_factory=list)
    auth_connector: str | None = None
    #: also fire on events left reserved under some process (a retry taking over its lost batch)
    take_over: bool = False

    @classmethod
    def of(
        cls, event_names: Any = (), auth_connector: str | None = None, take_over: bool = False
    ) -> OfflineEventsProbe:
        """From operator-style arguments: one name or several, empty values dropped."""
        queue = OfflineQueue.of(event_names, auth_connector)
        return cls(list(queue.event_names), queue.auth_connector, take_over)

    @property
    def queue(self) -> OfflineQueue:
        return OfflineQueue(tuple(self.event_names), self.auth_connector)

    def describe(self) -> str:
        return f"offline events {self.event_names or '(any)'}"

    def plan(self) -> Plan:
        waiting = len((yield from self.queue.plan_next_free(LIST_PAGE)))
        if waiting or (self.take_over and (yield from self.queue.plan_holders(None))):
            return Outcome(True, {"waiting": waiting})
        return Outcome(False)
