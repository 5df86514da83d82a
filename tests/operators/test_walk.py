"""Walk the catalogue: every action's operator imports, runs against the emulator with its
required parameters, and the emulator sees exactly the documented method(s) of its row."""

from __future__ import annotations

import pytest

from airflow_provider_bitrix24.catalogue import actions
from airflow_provider_bitrix24.client.errors import Bitrix24NotSupported
from airflow_provider_bitrix24.operators import operator_class

from .samples import distinct, operator_kwargs, rest_calls, seed

ACTIONS = actions()


def expected_methods(action, variant=None) -> list[str]:
    return [action.method_for(variant, step) for step in range(len(action.steps))]


@pytest.mark.parametrize("action", ACTIONS, ids=[a.action_id for a in ACTIONS])
def test_every_action_runs_its_documented_methods(action, emu, webhook_conn, request, tmp_path):
    cls = operator_class(action.action_id)
    if action.not_offered:
        with pytest.raises(Bitrix24NotSupported, match="not supported by the Bitrix24 REST API"):
            cls(task_id="walk")
        return
    if action.app_only:
        request.getfixturevalue("oauth_conn")
    ids = seed(emu)
    emu.clear_requests()
    operator = cls(task_id="walk", **operator_kwargs(action, ids, tmp_path))
    operator.execute({})
    if action.action_id == "direct_api_batch":  # one batch request carrying the commands
        assert [r.method for r in emu.requests] == ["batch"]
        assert distinct(rest_calls(emu)) == ["user.current"]
    elif action.is_generic:
        assert distinct(rest_calls(emu)) == ["user.current"]
    else:
        assert distinct(rest_calls(emu)) == expected_methods(action)


ALTERNATIVES = [(a, c) for a in ACTIONS if a.selector for c in a.choices]


@pytest.mark.parametrize("action,choice", ALTERNATIVES, ids=[f"{a.action_id}-{c}" for a, c in ALTERNATIVES])
def test_selector_picks_the_alternative(action, choice, emu, webhook_conn, tmp_path):
    ids = seed(emu)
    emu.clear_requests()
    operator = operator_class(action.action_id)(
        task_id="alt", **operator_kwargs(action, ids, tmp_path, choice)
    )
    operator.execute({})
    assert distinct(rest_calls(emu)) == expected_methods(action, choice)
