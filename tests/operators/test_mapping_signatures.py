"""Every catalogue operator accepts its arguments in ``.partial()`` / ``.expand()`` (Airflow checks
the names against the ``__init__`` signatures before anything runs). The run itself is covered
by tests/example_dags/test_mapping.py."""

from __future__ import annotations

import inspect
from datetime import datetime

import pytest
from airflow.sdk import DAG

from airflow_provider_bitrix24.catalogue import actions
from airflow_provider_bitrix24.operators import operator_class
from airflow_provider_bitrix24.operators.base import Bitrix24ActionOperator
from airflow_provider_bitrix24.operators.direct import Bitrix24BatchOperator, Bitrix24CallOperator

OFFERED = [a for a in actions() if not a.not_offered]
COMMON = {
    "parameters": {},
    "files": None,
    "output_path": None,
    "limit": None,
    "continue_on_fail": True,
    "bitrix24_conn_id": "bitrix24_default",
}


def _own_arguments(cls: type) -> dict:
    """Keyword arguments the class adds to the base class's, each with its default."""
    base = inspect.signature(Bitrix24ActionOperator.__init__).parameters
    extra = {}
    for klass in cls.mro():
        if not issubclass(klass, Bitrix24ActionOperator) or klass is Bitrix24ActionOperator:
            continue
        for name, param in inspect.signature(klass.__init__).parameters.items():
            if name not in base and param.kind is param.KEYWORD_ONLY:
                extra.setdefault(name, None if param.default is param.empty else param.default)
    return extra


def test_every_row_class_takes_all_its_arguments_in_partial_and_expand():
    with DAG("mapping_signatures", schedule=None, start_date=datetime(2026, 1, 1)):
        for action in OFFERED:
            cls = operator_class(action.action_id)
            own = _own_arguments(cls)
            if action.selector:
                assert own.get(action.selector, "missing") is None, action.action_id
                own[action.selector] = action.choices[-1]
            fixed = {k: v for k, v in COMMON.items() if k != "parameters"}
            cls.partial(task_id=f"p_{action.action_id}", **fixed, **own).expand(parameters=[{}, {}])
            cls.partial(task_id=f"k_{action.action_id}").expand_kwargs([{**COMMON, **own}])
            if action.selector:
                cls.partial(task_id=f"s_{action.action_id}").expand(**{action.selector: list(action.choices)})


def test_a_selector_of_another_row_is_still_refused():
    with DAG("mapping_refusal", schedule=None, start_date=datetime(2026, 1, 1)):
        with pytest.raises(TypeError, match="closed_by"):
            operator_class("crm_deal_get").partial(task_id="x", closed_by="operator")


def test_direct_operators_map_their_own_arguments():
    with DAG("mapping_direct", schedule=None, start_date=datetime(2026, 1, 1)):
        Bitrix24CallOperator.partial(task_id="call", all_pages=True).expand_kwargs(
            [
                {"method": "crm.deal.get", "parameters": {"id": 1}},
                {"method": "crm.lead.get", "parameters": {"id": 2}},
            ]
        )
        Bitrix24BatchOperator.partial(task_id="batch", halt=True).expand(
            commands=[{"a": "crm.deal.get?id=1"}]
        )


def test_generic_operator_takes_any_rows_selector():
    from airflow_provider_bitrix24.operators.base import Bitrix24Operator

    with DAG("mapping_generic", schedule=None, start_date=datetime(2026, 1, 1)):
        for action in OFFERED:
            if action.selector:
                Bitrix24Operator.partial(task_id=f"g_{action.action_id}", action_id=action.action_id).expand(
                    **{action.selector: list(action.choices)}
                )


def test_a_dag_wide_default_for_sensors_does_not_pick_a_rows_method():
    cls = operator_class("disk_delete_file")  # selector "mode": delete | trash
    with DAG(
        "defaults_for_sensors",
        schedule=None,
        start_date=datetime(2026, 1, 1),
        default_args={"mode": "reschedule"},
    ):
        assert cls(task_id="plain").variant is None
        assert cls(task_id="chosen", mode="trash").variant == "trash"
    with DAG(
        "defaults_for_rows", schedule=None, start_date=datetime(2026, 1, 1), default_args={"mode": "trash"}
    ):
        assert cls(task_id="from_defaults").variant == "trash"
