"""Universal custom field operators (userfieldconfig.*)."""

from __future__ import annotations

from typing import Any

from airflow_provider_bitrix24.catalogue.params import find
from airflow_provider_bitrix24.client.errors import Bitrix24Error
from airflow_provider_bitrix24.operators.base import Bitrix24ActionOperator


class UserFieldConfigAddMultipleOperator(Bitrix24ActionOperator):
    """Create several custom fields: one ``userfieldconfig.add`` per entry of ``fields``, sent
    together through ``batch``. Returns one result per field in order; if any field failed the
    task fails naming which ones were created and which were not (a write is never resent)."""

    action_id = "user_field_config_add_multiple"

    def run(self, hook: Any, params: dict) -> Any:
        module_id = params[find(params, "moduleId")]
        fields_key, field_key = find(params, "fields"), find(params, "field")
        fields = list(params[fields_key]) if fields_key else [params[field_key]]
        commands = {
            str(i): (self.method(), {"moduleId": module_id, "field": field}) for i, field in enumerate(fields)
        }
        result = hook.batch(commands, halt=False)
        names = {key: str((fields[int(key)] or {}).get("fieldName", key)) for key in commands}
        if result.errors:
            created = ", ".join(names[k] for k in commands if k in result.result) or "none"
            failed = "; ".join(f"{names[k]}: {error}" for k, error in result.errors.items())
            raise Bitrix24Error("PARTIAL_FAILURE", f"created: {created}; failed: {failed}", self.method())
        return [{"fieldName": names[k], "result": result.result.get(k)} for k in commands]


class UserFieldConfigAddOperator(Bitrix24ActionOperator):
    action_id = "user_field_config_add"  # noqa: E701


class UserFieldConfigDeleteOperator(Bitrix24ActionOperator):
    action_id = "user_field_config_delete"  # noqa: E701


class UserFieldConfigGetOperator(Bitrix24ActionOperator):
    action_id = "user_field_config_get"  # noqa: E701


class UserFieldConfigGetListOperator(Bitrix24ActionOperator):
    action_id = "user_field_config_get_list"  # noqa: E701


class UserFieldConfigUpdateOperator(Bitrix24ActionOperator):
    action_id = "user_field_config_update"  # noqa: E701
