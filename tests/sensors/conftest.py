"""Fixtures of the sensor tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def hook(webhook_conn):
    from airflow_provider_bitrix24.hooks.bitrix24 import Bitrix24Hook

    return Bitrix24Hook()
