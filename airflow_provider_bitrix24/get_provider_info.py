"""Provider metadata read by Airflow's ProvidersManager (entry point ``apache_airflow_provider``).

Kept as a literal: Airflow calls this in every process that lists providers, so it must be cheap.
The version comes from the installed distribution's metadata (pyproject.toml is its one source).
"""

from __future__ import annotations

from airflow_provider_bitrix24 import __version__

_INTEGRATION = "Bitrix24"


def get_provider_info() -> dict:
    return {
        "package-name": "airflow-provider-bitrix24",
        "name": "Bitrix24",
        "description": "Bitrix24 REST API: hook, operators, sensors and triggers, with a local portal emulator.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": _INTEGRATION,
                "external-doc-url": "https://apidocs.bitrix24.com/",
                "tags": ["service"],
            }
        ],
        "hooks": [
            {
                "integration-name": _INTEGRATION,
                "python-modules": [
                    "airflow_provider_bitrix24.hooks.bitrix24",
                    "airflow_provider_bitrix24.hooks.mixin",
                ],
            }
        ],
        "operators": [
            {
                "integration-name": _INTEGRATION,
                "python-modules": [
                    "airflow_provider_bitrix24.operators.activity",
                    "airflow_provider_bitrix24.operators.automation",
                    "airflow_provider_bitrix24.operators.base",
                    "airflow_provider_bitrix24.operators.calendar",
                    "airflow_provider_bitrix24.operators.chat",
                    "airflow_provider_bitrix24.operators.chatbot",
                    "airflow_provider_bitrix24.operators.crm",
                    "airflow_provider_bitrix24.operators.datastorage",
                    "airflow_provider_bitrix24.operators.direct",
                    "airflow_provider_bitrix24.operators.disk",
                    "airflow_provider_bitrix24.operators.documentgenerator",
                    "airflow_provider_bitrix24.operators.duplicates",
                    "airflow_provider_bitrix24.operators.events",
                    "airflow_provider_bitrix24.operators.lists",
                    "airflow_provider_bitrix24.operators.messageservice",
                    "airflow_provider_bitrix24.operators.notify",
                    "airflow_provider_bitrix24.operators.openlines",
                    "airflow_provider_bitrix24.operators.product",
                    "airflow_provider_bitrix24.operators.spa",
                    "airflow_provider_bitrix24.operators.status",
                    "airflow_provider_bitrix24.operators.tasks",
                    "airflow_provider_bitrix24.operators.telephony",
                    "airflow_provider_bitrix24.operators.timeline",
                    "airflow_provider_bitrix24.operators.transfers",
                    "airflow_provider_bitrix24.operators.userfieldconfig",
                    "airflow_provider_bitrix24.operators.userfields",
                    "airflow_provider_bitrix24.operators.users",
                    "airflow_provider_bitrix24.operators.workflow",
                ],
            }
        ],
        "sensors": [
            {
                "integration-name": _INTEGRATION,
                "python-modules": [
                    "airflow_provider_bitrix24.sensors.base",
                    "airflow_provider_bitrix24.sensors.bizproc",
                    "airflow_provider_bitrix24.sensors.crm",
                    "airflow_provider_bitrix24.sensors.disk",
                    "airflow_provider_bitrix24.sensors.events",
                    "airflow_provider_bitrix24.sensors.tasks",
                ],
            }
        ],
        "triggers": [
            {
                "integration-name": _INTEGRATION,
                "python-modules": [
                    "airflow_provider_bitrix24.triggers.bitrix24",
                    "airflow_provider_bitrix24.triggers.event_cursor",
                    "airflow_provider_bitrix24.triggers.events",
                ],
            }
        ],
        "connection-types": [
            {
                "hook-class-name": "airflow_provider_bitrix24.hooks.bitrix24.Bitrix24Hook",
                "hook-name": "Bitrix24",
                "connection-type": "bitrix24",
                "conn-fields": {
                    "auth_type": {
                        "label": "Auth type",
                        "schema": {
                            "type": ["string", "null"],
                            "default": "webhook",
                            "enum": ["webhook", "oauth2", "api_key"],
                        },
                        "description": (
                            "webhook: User ID + webhook code (or the whole webhook URL) in Password. "
                            "oauth2: Client ID/secret + refresh token. api_key: a fixed access token in Password."
                        ),
                    },
                    "refresh_token": {
                        "label": "Refresh token (oauth2)",
                        "schema": {"type": ["string", "null"], "format": "password"},
                        "description": (
                            "Rotating OAuth refresh token; the newest one is kept in the token store. Get the "
                            "first with: python -m airflow_provider_bitrix24.oauth authorize --conn-id <this id> "
                            "(it fills the token store, so this field may stay empty)."
                        ),
                    },
                    "access_token": {
                        "label": "Access token (oauth2, optional)",
                        "schema": {"type": ["string", "null"], "format": "password"},
                        "description": "Current access token; obtained with the refresh token when empty.",
                    },
                    "token_url": {
                        "label": "Token URL (oauth2, optional)",
                        # No schema default: Airflow masks values of keys containing "token" in the form.
                        "schema": {"type": ["string", "null"]},
                        "description": "Leave empty for Bitrix24's authorization server https://oauth.bitrix.info/oauth/token/.",
                    },
                    "token_store": {
                        "label": "Token store (oauth2)",
                        "schema": {"type": ["string", "null"]},
                        "description": (
                            "Where rotated tokens are kept: 'variable:<key>' (Airflow Variable; empty: the "
                            "Variable bitrix24_tokens_<portal host>_<client id>), 'file:<path>' (shared by "
                            "processes on one host) or 'memory'."
                        ),
                    },
                    "rate_limit_burst": {
                        "label": "Rate limit: burst",
                        "schema": {"type": ["integer", "null"], "default": 50},
                        "description": (
                            "Requests allowed at once (portal plan: 50, Enterprise 250). A rate_limit object in "
                            "the extra, if any, takes precedence over these three fields."
                        ),
                    },
                    "rate_limit_per_second": {
                        "label": "Rate limit: requests per second",
                        "schema": {"type": ["number", "null"], "default": 2},
                        "description": "Sustained request rate (portal plan: 2, Enterprise 5).",
                    },
                    "rate_limit_scope": {
                        "label": "Rate limit: shared by",
                        "schema": {
                            "type": ["string", "null"],
                            "default": "process",
                            "enum": ["process", "host"],
                        },
                        "description": (
                            "process: each task process keeps its own bucket. host: one bucket for every "
                            "process on this machine (a state file under an fcntl lock; POSIX only). "
                            "Use host with LocalExecutor or a Celery worker running several tasks at once."
                        ),
                    },
                    "application_token": {
                        "label": "Application token (push events)",
                        "schema": {"type": ["string", "null"], "format": "password"},
                        "description": (
                            "The application_token Bitrix24 sends with every outbound event of this app or "
                            "webhook; the push endpoint rejects calls that do not carry it. Empty: push disabled."
                        ),
                    },
                    "push_assets": {
                        "label": "Push: assets allowed",
                        "schema": {"type": ["string", "null"]},
                        "description": "Asset names the push endpoint may update, comma-separated; '*' for any.",
                    },
                    "push_events": {
                        "label": "Push: events accepted",
                        "schema": {"type": ["string", "null"]},
                        "description": "Bitrix24 event names accepted, e.g. ONCRMDEALADD, ONCRMDEALUPDATE; empty for all.",
                    },
                    "timeout": {
                        "label": "Read timeout (s)",
                        "schema": {"type": ["number", "null"], "default": 65},
                    },
                    "connect_timeout": {
                        "label": "Connect timeout (s)",
                        "schema": {"type": ["number", "null"], "default": 10},
                    },
                    "max_retries": {
                        "label": "Max retries",
                        "schema": {"type": ["integer", "null"], "default": 5},
                        "description": "Resends of one call after rate limits or safe network errors.",
                    },
                },
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "port"],
                    "relabeling": {
                        "host": "Portal URL",
                        "login": "User ID (webhook) / Client ID (OAuth)",
                        "password": "Webhook code / Client secret / Access token",
                    },
                    "placeholders": {
                        "host": "https://your-company.bitrix24.com",
                        "login": "webhook: user id, e.g. 1; OAuth: client id, e.g. app.xxxxxxxx.xxxxxxxx",
                        "password": "webhook code, full webhook URL, client secret or access token",
                        "extra": '{"auth_type": "webhook"}',
                    },
                },
            }
        ],
    }
