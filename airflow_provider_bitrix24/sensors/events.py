"""Offline events: wait for queued events, hand them downstream, confirm only what was processed.

Flow: :class:`Bitrix24OfflineEventsSensor` waits until events are queued, then reserves a batch
(``event.offline.get`` with ``clear=0``) and returns ``{"process_id", "events"}``. Downstream
tasks process the events and :class:`Bitrix24OfflineEventsClearOperator` confirms the processed
ones (``event.offline.clear`` by ``id``). Events that were not confirmed stay reserved under that
``process_id`` and nothing is lost if a task fails in between. These methods work only with an
application's OAuth token.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator, PokeReturnValue

from airflow_provider_bitrix24.hooks.mixin import HookMixin, require_application_auth
from airflow_provider_bitrix24.polling.offline import checked_limit, clear_offline_events
from airflow_provider_bitrix24.polling.probes import OfflineEventsProbe
from airflow_provider_bitrix24.sensors.base import Bitrix24BaseSensor, as_list

if TYPE_CHECKING:
    from airflow.sdk import Context


class Bitrix24OfflineEventsSensor(Bitrix24BaseSensor):
    """Wait for offline events and reserve a batch of them for downstream tasks.

    Returns ``{"process_id": str, "events": [...]}``. Confirm processed events with
    :class:`Bitrix24OfflineEventsClearOperator`; unconfirmed ones stay reserved.

    Nothing is stranded: when the reply of ``event.offline.get`` is lost, the sensor finds the
    batch it reserved (``event.offline.list`` shows who holds each event) and returns it. A retry
    of the task first takes over any batch left reserved, since the try before may have died
    holding one; it cannot tell its own from another run's, so give such DAGs
    ``max_active_runs=1`` or accept that a batch may be delivered twice.

    :param event_names: only these events (e.g. ``["ONCRMDEALUPDATE"]``); all when empty.
    :param batch_size: reserve at most this many events (1-1000; the portal's default is 50).
    :param auth_connector: the source key given to event.bind, if any.
    """

    template_fields: Sequence[str] = (*Bitrix24BaseSensor.template_fields, "event_names", "auth_connector")

    def __init__(
        self,
        *,
        event_names: Sequence[str] | str = (),
        batch_size: int = 50,
        auth_connector: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.event_names = event_names  # templated: normalised in build_probe
        self.batch_size = checked_limit(batch_size)
        self.auth_connector = auth_connector
        self.take_over = False

    def check_connection(self) -> None:
        require_application_auth(self.hook, self.bitrix24_conn_id)

    def execute(self, context: Context) -> Any:
        self.take_over = _is_retry(context)
        return super().execute(context)

    def build_probe(self) -> OfflineEventsProbe:
        return OfflineEventsProbe.of(as_list(self.event_names), self.auth_connector, self.take_over)

    def on_found(self, context: Context, value: Any) -> PokeReturnValue:
        queue = self.build_probe().queue
        batch = queue.recover(self.hook, None, self.batch_size) if _is_retry(context) else None
        batch = batch or queue.take(self.hook, self.batch_size)
        if batch is None:
            self.log.info("Events were taken by another consumer; waiting again")
            return PokeReturnValue(is_done=False)
        self.log.info(
            "Reserved %s offline event(s) under process %s", len(batch["events"]), batch["process_id"]
        )
        return PokeReturnValue(is_done=True, xcom_value=batch)


class Bitrix24OfflineEventsClearOperator(HookMixin, BaseOperator):
    """Confirm processed offline events so the portal drops them.

    :param process_id: the ``process_id`` the sensor returned (templated).
    :param event_ids: IDs (``ID`` field) of the processed events (templated); ``None`` confirms
        every event of the process, an empty list confirms none.
    :param failed_message_ids: ``MESSAGE_ID`` values of events that failed; marked with
        event.offline.error so they are not handed out as fresh events again.
    """

    template_fields: Sequence[str] = ("bitrix24_conn_id", "process_id", "event_ids", "failed_message_ids")

    def __init__(
        self,
        *,
        process_id: str,
        event_ids: Sequence[int | str] | None = None,
        failed_message_ids: Sequence[str] | None = None,
        bitrix24_conn_id: str = "bitrix24_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.process_id = process_id
        self.event_ids = event_ids
        self.failed_message_ids = failed_message_ids
        self.bitrix24_conn_id = bitrix24_conn_id

    def execute(self, context: Context) -> dict:
        require_application_auth(self.hook, self.bitrix24_conn_id)
        ids = None if self.event_ids is None else list(self.event_ids)
        failed = list(self.failed_message_ids or [])
        result = clear_offline_events(self.hook, str(self.process_id), ids, failed)
        self.log.info(
            "Offline events of process %s: cleared %s, marked failed %s",
            self.process_id,
            result["cleared"],
            result["failed"],
        )
        return result


def _is_retry(context: Context) -> bool:
    """Whether an earlier try of this task ran (and may have died holding a reserved batch)."""
    ti = context.get("ti") if isinstance(context, dict) else None
    try:
        return int(getattr(ti, "try_number", 1) or 1) > 1
    except (TypeError, ValueError):
        return False
