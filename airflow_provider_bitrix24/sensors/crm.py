"""Sensors on CRM records: a record reaching a stage, records changing since a point in time."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow_provider_bitrix24.polling.entities import crm_entity
from airflow_provider_bitrix24.polling.probes import CrmChangesProbe, CrmStageProbe
from airflow_provider_bitrix24.sensors.base import Bitrix24BaseSensor, as_list


class Bitrix24CrmStageSensor(Bitrix24BaseSensor):
    """Wait until a deal, lead, quote or crm.item (smart process) is in one of ``stages``.

    Returns ``{"id", "stage", "record"}`` (pushed to XCom).

    :param record_id: ID of the record (templated).
    :param stages: stage (or lead status) codes to wait for, e.g. ``["WON"]`` or ``["C3:WON"]`` (templated).
    :param entity: ``deal``, ``lead``, ``quote`` or ``item``.
    :param entity_type_id: CRM entity type for ``entity="item"`` (e.g. 128 for a smart process).
    """

    template_fields: Sequence[str] = (
        *Bitrix24BaseSensor.template_fields,
        "record_id",
        "stages",
        "entity_type_id",
    )

    def __init__(
        self,
        *,
        record_id: int | str,
        stages: str | Sequence[str],
        entity: str = "deal",
        entity_type_id: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not crm_entity(entity).stage_field:
            raise ValueError(f"CRM entity {entity!r} has no stages")
        self.record_id = record_id
        self.stages = stages
        self.entity = entity
        self.entity_type_id = entity_type_id

    def build_probe(self) -> CrmStageProbe:
        stages = [str(s) for s in as_list(self.stages)]
        type_id = int(self.entity_type_id) if self.entity_type_id not in (None, "") else None
        return CrmStageProbe(self.entity, int(self.record_id), stages, type_id)


class Bitrix24CrmChangesSensor(Bitrix24BaseSensor):
    """Wait until CRM records matching ``filter`` are created or modified at or after ``since``.

    Returns the list of their IDs (pushed to XCom), oldest change first.

    :param since: point in time (templated), e.g. ``"{{ data_interval_start }}"``.
    :param filter: extra list filter, e.g. ``{"CATEGORY_ID": 0}`` (templated).
    :param entity: ``deal``, ``lead``, ``contact``, ``company``, ``quote`` or ``item``.
    :param entity_type_id: CRM entity type for ``entity="item"``.
    :param max_ids: report at most this many IDs: those of the oldest changes.
    """

    template_fields: Sequence[str] = (
        *Bitrix24BaseSensor.template_fields,
        "since",
        "filter",
        "entity_type_id",
    )
    template_fields_renderers = {"filter": "json"}

    def __init__(
        self,
        *,
        since: Any,
        filter: dict | None = None,
        entity: str = "deal",
        entity_type_id: int | None = None,
        max_ids: int = 10000,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        crm_entity(entity)
        self.since = since
        self.filter = filter or {}
        self.entity = entity
        self.entity_type_id = entity_type_id
        self.max_ids = max_ids

    def build_probe(self) -> CrmChangesProbe:
        type_id = int(self.entity_type_id) if self.entity_type_id not in (None, "") else None
        return CrmChangesProbe(
            entity=self.entity,
            since=str(self.since),
            filter=dict(self.filter),
            entity_type_id=type_id,
            max_ids=self.max_ids,
        )
