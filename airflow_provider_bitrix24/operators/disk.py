"""Drive operators: one class per catalogue row of the ``Disk`` and ``File`` resources, plus the
file transfer operators :class:`DiskUploadOperator` and :class:`DiskDownloadOperator`.

Transfers stream: an upload above ``inline_limit`` goes through the two-step ``uploadUrl`` flow
and a download is written chunk by chunk, so a task's memory does not grow with the file.
The transfer logic itself lives in :class:`airflow_provider_bitrix24.client.files.Drive`.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from airflow_provider_bitrix24.catalogue.params import ParameterError, decode_json, find
from airflow_provider_bitrix24.client.files import (
    CONFLICT_POLICIES,
    DEFAULT_INLINE_LIMIT,
    Drive,
    DriveTarget,
)
from airflow_provider_bitrix24.client.params_util import truthy  # noqa: F401  (see _truthy below)
from airflow_provider_bitrix24.operators import _files
from airflow_provider_bitrix24.operators.base import Bitrix24ActionOperator, write_json_lines

if TYPE_CHECKING:
    from airflow_provider_bitrix24.hooks.bitrix24 import Bitrix24Hook
