"""
Deal won -> create a follow-up task and tell the team in chat.

A sensor waits until the deal reaches a won stage, then a task is created for the deal's
responsible user (linked to the deal) and a message goes to a chat. Trigger the DAG per deal,
e.g. from an outbound webhook or another DAG::

    airflow dags trigger example_bitrix24_deal_won --conf '{"deal_id": 42}'

The sensor frees its worker slot between looks (``mode="reschedule"``); set ``deferrable=True``
to wait in the triggerer instead.

Without a ``deal_id`` (as in ``airflow dags test example_bitrix24_deal_won`` against the local
emulator) the first task plays the salesperson: it creates a demo deal and marks it won, so the
whole flow runs on its own.

Needs the ``bitrix24_default`` connection.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG, Param, task

from airflow_provider_bitrix24.hooks.bitrix24 import Bitrix24Hook
from airflow_provider_bitrix24.operators.chat import ChatSendMessageOperator
from airflow_provider_bitrix24.operators.tasks import TaskCreateOperator
from airflow_provider_bitrix24.sensors import Bitrix24CrmStageSensor

WON = "{{ ti.xcom_pull(task_ids='wait_until_won') }}"

with DAG(
    dag_id="example_bitrix24_deal_won",
    # One pool per portal caps the tasks calling it at once (docs/reliability.md); scripts/demo.py
    # creates it: `airflow pools set bitrix24_demo_portal 4 "Tasks calling the demo portal"`.
    default_args={"pool": "bitrix24_demo_portal"},
    description="When a deal is won, create a follow-up task and post to chat",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    render_template_as_native_obj=True,  # the sensor gets the stage list and deal ID as values, not text
    params={
        "deal_id": Param(
            None, type=["null", "integer"], description="Deal to watch; empty creates a demo deal"
        ),
        "won_stages": Param(["WON"], type="array", description="Stage codes that count as won (e.g. C1:WON)"),
        "chat": Param(
            "",
            type="string",
            description="DIALOG_ID to notify (chat123 or a user ID); empty: the deal's owner",
        ),
    },
    tags=["bitrix24", "example", "sensor", "demo"],
) as dag:

    @task
    def pick_deal(params: dict | None = None) -> int:
        if params["deal_id"]:
            return int(params["deal_id"])
        hook = Bitrix24Hook()
        deal_id = int(
            hook.call(
                "crm.deal.add", {"fields": {"TITLE": "Demo deal", "OPPORTUNITY": 5000, "CURRENCY_ID": "EUR"}}
            )
        )
        hook.call("crm.deal.update", {"id": deal_id, "fields": {"STAGE_ID": params["won_stages"][0]}})
        print(f"created demo deal {deal_id} and marked it won")
        return deal_id

    deal = pick_deal()

    wait_until_won = Bitrix24CrmStageSensor(
        task_id="wait_until_won",
        record_id="{{ ti.xcom_pull(task_ids='pick_deal') }}",
        stages="{{ params.won_stages }}",
        mode="reschedule",
        poke_interval=60,
        timeout=timedelta(days=30).total_seconds(),
    )

    create_task = TaskCreateOperator(
        task_id="create_follow_up_task",
        parameters={
            "fields": {
                "TITLE": "Kick-off with the customer of deal #{{ ti.xcom_pull(task_ids='wait_until_won')['id'] }}",
                "DESCRIPTION": "Deal \"{{ ti.xcom_pull(task_ids='wait_until_won')['record']['TITLE'] }}\" was won.",
                "RESPONSIBLE_ID": "{{ ti.xcom_pull(task_ids='wait_until_won')['record']['ASSIGNED_BY_ID'] }}",
                "UF_CRM_TASK": ["D_{{ ti.xcom_pull(task_ids='wait_until_won')['id'] }}"],
            }
        },
    )

    notify = ChatSendMessageOperator(
        task_id="notify_chat",
        parameters={
            "DIALOG_ID": "{{ params.chat or ti.xcom_pull(task_ids='wait_until_won')['record']['ASSIGNED_BY_ID'] }}",
            "MESSAGE": (
                "Deal #{{ ti.xcom_pull(task_ids='wait_until_won')['id'] }} is won. "
                "Follow-up task #{{ ti.xcom_pull(task_ids='create_follow_up_task')['task']['id'] }} was created."
            ),
        },
    )

    deal >> wait_until_won >> create_task >> notify
