"""Test DAG (not an example): catalogue operators under dynamic task mapping. Run by
tests/example_dags/test_mapping.py, which serves this folder as a DAG bundle; ``params`` carry
the emulator's record ids and the output folder."""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG

from airflow_provider_bitrix24.operators.base import Bitrix24Operator
from airflow_provider_bitrix24.operators.crm import CrmDealGetAllOperator, CrmDealGetOperator
from airflow_provider_bitrix24.operators.openlines import OpenLinesCloseSessionOperator
from airflow_provider_bitrix24.operators.userfields import UserFieldGetUserFieldsOperator

with DAG(
    "test_bitrix24_mapping",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    params={"deals": [1, 2], "chats": [21, 22], "out": "/tmp"},
    tags=["test"],
):
    # the row's selector mapped
    UserFieldGetUserFieldsOperator.partial(task_id="user_fields").expand(entity=["deal", "lead"])
    # the selector fixed in partial(), parameters and continue_on_fail mapped
    OpenLinesCloseSessionOperator.partial(task_id="close", closed_by="another_operator").expand_kwargs(
        [
            {"parameters": {"CHAT_ID": "{{ params.chats[0] }}"}},
            {"parameters": {"CHAT_ID": "{{ params.chats[1] }}"}, "continue_on_fail": True},
        ]
    )
    # a plain row
    CrmDealGetOperator.partial(task_id="get").expand(
        parameters=[{"id": "{{ params.deals[0] }}"}, {"id": "{{ params.deals[1] }}"}]
    )
    # any row by id, its selector included
    Bitrix24Operator.partial(task_id="generic", action_id="user_field_get_user_fields").expand(
        entity=["company"]
    )
    # a Get All row: output_path and parameters mapped, limit templated in partial()
    CrmDealGetAllOperator.partial(task_id="get_all", limit="{{ 2 + 1 }}").expand_kwargs(
        [
            {
                "output_path": "{{ params.out }}/first.jsonl",
                "parameters": {"filter": {"<=ID": "{{ params.deals[1] }}"}},
            },
            {
                "output_path": "{{ params.out }}/rest.jsonl",
                "parameters": {"filter": {">ID": "{{ params.deals[1] }}"}},
            },
        ]
    )
