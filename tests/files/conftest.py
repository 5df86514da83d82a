"""Helpers for the Drive tests: the emulator's Drive state and a root folder id."""

from __future__ import annotations

import pytest

from airflow_provider_bitrix24.emulator.handlers.disk import drive


@pytest.fixture
def drive_state(emu):
    return drive(emu.portal)


@pytest.fixture
def root_folder(drive_state) -> int:
    """Root folder of the first (user) storage."""
    return int(drive_state.storages[min(drive_state.storages)]["ROOT_OBJECT_ID"])


@pytest.fixture
def storage_id(drive_state) -> int:
    return min(drive_state.storages)
