"""Hook access for operators, sensors and triggers that carry a ``bitrix24_conn_id``."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from airflow_provider_bitrix24.client.errors import Bitrix24ConfigError

APP_ONLY_MESSAGE = (
    "event.offline.* work only with an application's OAuth token; connection {conn!r} is an "
    "incoming webhook. Use an OAuth 2.0 (application) connection."
)


def make_hook(conn_id: str) -> Any:
    """The portal's hook; imported late so that parsing a DAG file builds no client."""
    from airflow_provider_bitrix24.hooks.bitrix24 import Bitrix24Hook

    return Bitrix24Hook(bitrix24_conn_id=conn_id)


class HookMixin:
    """``self.hook`` for operators and sensors that have a ``bitrix24_conn_id``: built on first use
    (never while the DAG file is parsed) and kept for the task."""

    bitrix24_conn_id: str

    @cached_property
    def hook(self) -> Any:
        return make_hook(self.bitrix24_conn_id)


def require_application_auth(hook: Any, conn_id: str) -> None:
    """Fail before any request when the connection is an incoming webhook (offline events need an app)."""
    if hook.auth_type == "webhook":
        raise Bitrix24ConfigError("WRONG_AUTH_TYPE", APP_ONLY_MESSAGE.format(conn=conn_id))
