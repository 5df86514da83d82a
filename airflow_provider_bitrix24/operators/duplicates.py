"""CRM duplicate search and merge operators."""

from __future__ import annotations

from typing import Any

from airflow_provider_bitrix24.catalogue.params import ParameterError, find
from airflow_provider_bitrix24.operators.base import Bitrix24ActionOperator


class DuplicateFindDuplicatesOperator(Bitrix24ActionOperator):
    """Duplicates of one lead, contact or company: read its phones and e-mails, then search each
    communication type. Returns ``{"PHONE": {...}, "EMAIL": {...}}`` (types it has none of are
    left out). Deals carry no communications and are refused before any request."""

    action_id = "duplicate_find_duplicates"
    COMMUNICATION_TYPES = ("PHONE", "EMAIL")
    MAX_VALUES = 20  # per findbycomm call

    def run(self, hook: Any, params: dict) -> Any:
        type_id = str(params[find(params, "entityTypeId")])
        if type_id not in ("1", "3", "4"):
            raise ParameterError(
                self.action_id, f"entityTypeId must be 1 (lead), 3 (contact) or 4 (company), got {type_id}"
            )
        entity_type_key = find(params, "entity_type")
        item_params = {k: v for k, v in params.items() if k != entity_type_key}  # as given
        reply = hook.call(self.method(0), item_params)
        values = _communications(reply.get("item", reply) if isinstance(reply, dict) else {})
        entity_type = params.get(entity_type_key) if entity_type_key else None
        found: dict[str, list[Any]] = {}
        for kind in self.COMMUNICATION_TYPES:
            for start in range(0, len(values[kind]), self.MAX_VALUES):
                body = {"type": kind, "values": values[kind][start : start + self.MAX_VALUES]}
                if entity_type:
                    body["entity_type"] = entity_type
                found.setdefault(kind, []).append(hook.call(self.method(1), body))
        return found


def _communications(item: dict) -> dict[str, list[str]]:
    """Phone numbers and e-mails of a CRM item: ``fm`` entries of crm.item.get, plus the
    ``phone``/``email`` fields (a string, or legacy lists of ``{"VALUE": ...}``)."""
    out: dict[str, list[str]] = {"PHONE": [], "EMAIL": []}
    for entry in item.get("fm") or []:
        kind = str(entry.get("typeId") or "").upper()
        if kind in out and entry.get("value"):
            out[kind].append(str(entry["value"]))
    for kind, values in out.items():
        raw = item.get(find(item, kind) or kind)
        for entry in raw if isinstance(raw, list) else [raw]:
            value = entry.get("VALUE") if isinstance(entry, dict) else entry
            if value and str(value) not in values:
                values.append(str(value))
    return out


class DuplicateFindByCommunicationOperator(Bitrix24ActionOperator):
    action_id = "duplicate_find_by_communication"  # noqa: E701


class DuplicateGetDuplicateCriteriaOperator(Bitrix24ActionOperator):
    action_id = "duplicate_get_duplicate_criteria"  # noqa: E701


class DuplicateEnableDuplicateControlOperator(Bitrix24ActionOperator):
    action_id = "duplicate_enable_duplicate_control"  # noqa: E701


class DuplicateDisableDuplicateControlOperator(Bitrix24ActionOperator):
    action_id = "duplicate_disable_duplicate_control"  # noqa: E701


class DuplicateMergeDuplicatesOperator(Bitrix24ActionOperator):
    action_id = "duplicate_merge_duplicates"  # noqa: E701
