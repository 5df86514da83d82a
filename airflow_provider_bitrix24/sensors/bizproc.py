"""Sensor on a business-process (workflow) instance finishing."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow_provider_bitrix24.polling.probes import WorkflowFinishedProbe
from airflow_provider_bitrix24.sensors.base import Bitrix24BaseSensor


class Bitrix24WorkflowSensor(Bitrix24BaseSensor):
    """Wait until a workflow instance (the ID bizproc.workflow.start returned) stops running.

    The portal lists running instances only (bizproc.workflow.instances), so the sensor cannot
    tell completed from terminated, and an ID that never existed counts as finished. Needs an
    administrator's connection and the ``bizproc`` scope.

    :param workflow_id: instance ID (templated).
    """

    template_fields: Sequence[str] = (*Bitrix24BaseSensor.template_fields, "workflow_id")

    def __init__(self, *, workflow_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.workflow_id = workflow_id

    def build_probe(self) -> WorkflowFinishedProbe:
        return WorkflowFinishedProbe(str(self.workflow_id))
