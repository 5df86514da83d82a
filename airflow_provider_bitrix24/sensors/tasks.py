"""Sensor on a task reaching a status."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow_provider_bitrix24.polling.probes import TaskStatusProbe, task_status_code
from airflow_provider_bitrix24.sensors.base import Bitrix24BaseSensor, as_list


class Bitrix24TaskStatusSensor(Bitrix24BaseSensor):
    """Wait until a task has one of ``statuses``.

    Returns ``{"id", "status"}`` (pushed to XCom).

    :param task_id: the Bitrix24 task ID (templated; not Airflow's ``task_id``).
    :param statuses: status codes (2-6) or names: ``pending``, ``in_progress``,
        ``awaiting_control``, ``completed``, ``deferred``. Default: ``completed``.
    """

    template_fields: Sequence[str] = (*Bitrix24BaseSensor.template_fields, "bitrix24_task_id", "statuses")

    def __init__(
        self,
        *,
        bitrix24_task_id: int | str,
        statuses: Sequence[int | str] | int | str = ("completed",),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.bitrix24_task_id = bitrix24_task_id
        self.statuses = statuses
        if "{{" not in str(statuses):
            for status in as_list(statuses):
                task_status_code(status)

    def build_probe(self) -> TaskStatusProbe:
        return TaskStatusProbe(
            int(self.bitrix24_task_id), [task_status_code(s) for s in as_list(self.statuses)]
        )
