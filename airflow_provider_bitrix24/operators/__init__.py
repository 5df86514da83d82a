"""Operators: one class per catalogue action, one module per resource.

``from airflow_provider_bitrix24.operators import CrmDealCreateOperator`` works for every action's
class (imported on first use); :func:`operator_class` maps an action id to its class.
"""

from __future__ import annotations

import importlib
from typing import Any


def operator_class(action_id: str) -> type:
    """The operator class of a catalogue action (imports its resource module)."""
    from airflow_provider_bitrix24.catalogue import get_action

    action = get_action(action_id)
    module = importlib.import_module(f"{__name__}.{action.module}")
    return getattr(module, action.operator_name)


# Public names that are not a catalogue row's own class: name -> module.
_EXTRA_NAMES = {
    "Bitrix24ActionOperator": "base",
    "Bitrix24Operator": "base",
    "CloseOpenLineSessionOperator": "openlines",
    "DiskDownloadOperator": "disk",
    "DiskUploadOperator": "disk",
}


def __getattr__(name: str) -> Any:
    if name in _EXTRA_NAMES:
        return getattr(importlib.import_module(f"{__name__}.{_EXTRA_NAMES[name]}"), name)
    from airflow_provider_bitrix24.catalogue import actions

    for action in actions():
        if action.operator_name == name:
            return operator_class(action.action_id)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
