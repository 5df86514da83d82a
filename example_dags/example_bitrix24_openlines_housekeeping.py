"""
Open-lines housekeeping: close conversations that have been idle for too long.

Every hour the DAG looks at the open-line chats it is given, finds the ones whose session is
still open and whose last message (or, without messages, whose start) is older than
``idle_hours``, and closes each of them as a supervisor would (imopenlines.operator.another.finish,
one mapped task per session, so one failure does not stop the others).

Bitrix24 REST has no method that lists open sessions, so the chats to watch come in as the
``chat_ids`` parameter: feed it from the system that receives your open-line events, an Airflow
Variable, or an upstream task. With the default empty list the run checks nothing and succeeds,
which is what ``airflow dags test example_bitrix24_openlines_housekeeping`` does against a fresh
emulator; pass chats with ``--conf '{"chat_ids": [12, 15], "idle_hours": 8}'``.

Needs the ``bitrix24_default`` connection with the imopenlines scope and a supervisor's rights.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from airflow.sdk import DAG, Param, task

from airflow_provider_bitrix24.hooks.bitrix24 import Bitrix24Hook
from airflow_provider_bitrix24.operators.openlines import OpenLinesCloseSessionOperator
from airflow_provider_bitrix24.polling.timestamps import parse_timestamp


def last_activity(hook: Bitrix24Hook, chat_id: int) -> tuple[dict, datetime | None]:
    """The open-line dialog of a chat and the time of its last message (or of its start)."""
    dialog = hook.call("imopenlines.dialog.get", {"CHAT_ID": chat_id})
    history = hook.call("imopenlines.session.history.get", {"CHAT_ID": chat_id})
    messages = history.get("message") or {}
    messages = messages.values() if isinstance(messages, dict) else messages
    times = [parse_timestamp(m.get("date")) for m in messages if m.get("date")]
    return dialog, max(times, default=None) or parse_timestamp(dialog.get("date_create"))


with DAG(
    dag_id="example_bitrix24_openlines_housekeeping",
    # One pool per portal caps the tasks calling it at once (docs/reliability.md); scripts/demo.py
    # creates it: `airflow pools set bitrix24_demo_portal 4 "Tasks calling the demo portal"`.
    default_args={"pool": "bitrix24_demo_portal"},
    description="Close open-line sessions idle for more than N hours",
    schedule="@hourly",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    params={
        "chat_ids": Param(
            [], type="array", items={"type": "integer"}, description="Open-line chats to check"
        ),
        "idle_hours": Param(24, type="number", minimum=0, description="Close sessions idle longer than this"),
    },
    tags=["bitrix24", "example", "openlines", "demo"],
) as dag:

    @task
    def find_idle_sessions(params: dict | None = None) -> list[dict]:
        hook = Bitrix24Hook()
        cutoff = datetime.now(timezone.utc) - timedelta(hours=float(params["idle_hours"]))
        idle = []
        for chat_id in params["chat_ids"]:
            dialog, last = last_activity(hook, int(chat_id))
            if dialog.get("session_closed"):
                continue
            if last is not None and last < cutoff:
                print(f"chat {chat_id}: session {dialog.get('session_id')} idle since {last.isoformat()}")
                idle.append({"CHAT_ID": int(chat_id)})
        print(f"{len(idle)} of {len(params['chat_ids'])} chat(s) idle for more than {params['idle_hours']} h")
        return idle

    OpenLinesCloseSessionOperator.partial(task_id="close_idle_session", closed_by="another_operator").expand(
        parameters=find_idle_sessions()
    )
