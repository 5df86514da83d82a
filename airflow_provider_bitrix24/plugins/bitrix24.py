"""The Airflow plugin that mounts the Bitrix24 push endpoint in the API server, when enabled.

Registered through the ``airflow.plugins`` entry point, so installing the package is enough for
Airflow to load it; it mounts nothing unless ``[bitrix24] push_endpoint_enabled`` is true
(``AIRFLOW__BITRIX24__PUSH_ENDPOINT_ENABLED=True``). The endpoint is
``POST /bitrix24/events/<conn_id>/<asset name>``. See
:mod:`airflow_provider_bitrix24.plugins.events_receiver` and docs/events.md.
"""

from __future__ import annotations

from typing import Any

from airflow.configuration import conf
from airflow.plugins_manager import AirflowPlugin

URL_PREFIX = "/bitrix24"


def push_endpoint_apps() -> list[dict[str, Any]]:
    """The endpoint's app when ``[bitrix24] push_endpoint_enabled`` is true, else nothing."""
    if not conf.getboolean("bitrix24", "push_endpoint_enabled", fallback=False):
        return []
    from airflow_provider_bitrix24.plugins.events_receiver import create_app

    return [{"app": create_app(), "url_prefix": URL_PREFIX, "name": "Bitrix24 event receiver"}]


class Bitrix24EventsPlugin(AirflowPlugin):
    """Receives Bitrix24 event calls and records them as asset events (opt-in)."""

    name = "bitrix24_events"
    fastapi_apps = push_endpoint_apps()
