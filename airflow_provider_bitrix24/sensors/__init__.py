"""Bitrix24 sensors: poke, reschedule or deferrable (see docs/sensors.md)."""

from airflow_provider_bitrix24.sensors.base import Bitrix24BaseSensor
from airflow_provider_bitrix24.sensors.bizproc import Bitrix24WorkflowSensor
from airflow_provider_bitrix24.sensors.crm import Bitrix24CrmChangesSensor, Bitrix24CrmStageSensor
from airflow_provider_bitrix24.sensors.disk import Bitrix24DriveFileSensor
from airflow_provider_bitrix24.sensors.events import (
    Bitrix24OfflineEventsClearOperator,
    Bitrix24OfflineEventsSensor,
)
from airflow_provider_bitrix24.sensors.tasks import Bitrix24TaskStatusSensor

__all__ = [
    "Bitrix24BaseSensor",
    "Bitrix24CrmChangesSensor",
    "Bitrix24CrmStageSensor",
    "Bitrix24DriveFileSensor",
    "Bitrix24OfflineEventsClearOperator",
    "Bitrix24OfflineEventsSensor",
    "Bitrix24TaskStatusSensor",
    "Bitrix24WorkflowSensor",
]
