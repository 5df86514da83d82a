"""The Airflow plugin that mounts the Bitrix24 push endpoint in the API server.

Registered through the provider info ``plugins`` entry (or an ``airflow.plugins`` entry point);
the endpoint is ``POST /bitrix24/events/<conn_id>/<asset name>``. See
:mod:`airflow_provider_bitrix24.plugins.events_receiver` and docs/events.md.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from airflow_provider_bitrix24.plugins.events_receiver import create_app

URL_PREFIX = "/bitrix24"


class Bitrix24EventsPlugin(AirflowPlugin):
    """Receives Bitrix24 event calls and records them as asset events."""

    name = "bitrix24_events"
    fastapi_apps = [{"app": create_app(), "url_prefix": URL_PREFIX, "name": "Bitrix24 event receiver"}]
