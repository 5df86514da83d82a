"""Sensor on files appearing or changing in a Drive folder."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow_provider_bitrix24.polling.probes import DriveFolderProbe
from airflow_provider_bitrix24.polling.timestamps import format_timestamp
from airflow_provider_bitrix24.sensors.base import Bitrix24BaseSensor


class Bitrix24DriveFileSensor(Bitrix24BaseSensor):
    """Wait until a file whose name matches ``pattern`` is added to or changed in a Drive folder.

    Returns the matching files (``ID``, ``NAME``, ``SIZE``, ``UPDATE_TIME``, ``CREATE_TIME``),
    oldest change first.

    :param folder_id: Drive folder ID (templated).
    :param pattern: shell-style name pattern, e.g. ``"*.csv"`` (templated).
    :param since: only files changed at or after this time (templated, e.g.
        ``"{{ data_interval_start }}"``); ``None`` fires on any matching file.
    """

    template_fields: Sequence[str] = (*Bitrix24BaseSensor.template_fields, "folder_id", "pattern", "since")

    def __init__(self, *, folder_id: int | str, pattern: str = "*", since: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.folder_id = folder_id
        self.pattern = pattern
        self.since = since

    def build_probe(self) -> DriveFolderProbe:
        since = format_timestamp(self.since) if self.since not in (None, "", "None") else None
        return DriveFolderProbe(int(self.folder_id), self.pattern, since)
