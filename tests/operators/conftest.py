"""Fixtures of the operator tests: a run helper that executes an operator outside a DAG."""

from __future__ import annotations

import logging

import pytest

from airflow_provider_bitrix24.catalogue import methods

# Airflow warns on every direct execute() call outside its task runner; tests call it on purpose.
logging.getLogger("airflow.task.operators").setLevel(logging.ERROR)


def rest_calls(emu) -> list[str]:
    """REST methods the emulator executed, batch commands flattened, file links left out."""
    return [r.method for r in emu.calls() if r.http_method == "POST" and r.method in methods()]


def distinct(seq: list[str]) -> list[str]:
    """``seq`` with consecutive repeats collapsed (pages of one list method count once)."""
    return [m for i, m in enumerate(seq) if i == 0 or seq[i - 1] != m]


@pytest.fixture
def run():
    def _run(operator):
        return operator.execute({})

    return _run
