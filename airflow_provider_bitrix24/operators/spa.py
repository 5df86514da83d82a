"""Smart process (SPA) operators: types (crm.type.*) and items (crm.item.*)."""

from __future__ import annotations

from typing import Any

from airflow_provider_bitrix24.catalogue.params import find
from airflow_provider_bitrix24.operators.base import Bitrix24ActionOperator


class SpaGetSpaStatusOperator(Bitrix24ActionOperator):
    """Pipelines (categories) of a smart process and the stages of each.

    Returns ``{"categories": [...], "stages": {category_id: [...]}}``. With ``filter.ENTITY_ID``
    given, only that stage list is read. Both lists are read to the end (their pages document
    ``total``: they answer one page at a time).
    """

    action_id = "spa_get_spa_status"

    def run(self, hook: Any, params: dict) -> Any:
        type_id = params[find(params, "entityTypeId")]
        categories = hook.get_all(self.method(0), {"entityTypeId": type_id})
        user_filter = dict(params.get(find(params, "filter") or "filter") or {})
        entity_key = find(user_filter, "ENTITY_ID")
        if entity_key:
            stages = hook.get_all(self.method(1), {"filter": user_filter})
            return {"categories": categories, "stages": {user_filter[entity_key]: stages}}
        stages = {}
        for category in categories:
            entity_id = f"DYNAMIC_{type_id}_STAGE_{category['id']}"
            stages[category["id"]] = hook.get_all(
                self.method(1), {"filter": {**user_filter, "ENTITY_ID": entity_id}}
            )
        return {"categories": categories, "stages": stages}


class SpaGetTypesOperator(Bitrix24ActionOperator):
    action_id = "spa_get_types"  # noqa: E701


class SpaGetTypeOperator(Bitrix24ActionOperator):
    action_id = "spa_get_type"  # noqa: E701


class SpaAddTypeOperator(Bitrix24ActionOperator):
    action_id = "spa_add_type"  # noqa: E701


class SpaUpdateTypeOperator(Bitrix24ActionOperator):
    action_id = "spa_update_type"  # noqa: E701


class SpaDeleteTypeOperator(Bitrix24ActionOperator):
    action_id = "spa_delete_type"  # noqa: E701


class SpaGetFieldsOperator(Bitrix24ActionOperator):
    action_id = "spa_get_fields"  # noqa: E701


class SpaGetItemsOperator(Bitrix24ActionOperator):
    action_id = "spa_get_items"  # noqa: E701


class SpaGetItemOperator(Bitrix24ActionOperator):
    action_id = "spa_get_item"  # noqa: E701


class SpaCreateItemOperator(Bitrix24ActionOperator):
    action_id = "spa_create_item"  # noqa: E701


class SpaUpdateItemOperator(Bitrix24ActionOperator):
    action_id = "spa_update_item"  # noqa: E701


class SpaDeleteItemOperator(Bitrix24ActionOperator):
    action_id = "spa_delete_item"  # noqa: E701


class SpaGetSpaConfigOperator(Bitrix24ActionOperator):
    action_id = "spa_get_spa_config"  # noqa: E701


class SpaSetSpaConfigOperator(Bitrix24ActionOperator):
    action_id = "spa_set_spa_config"  # noqa: E701


class SpaGetSpaListOperator(Bitrix24ActionOperator):
    action_id = "spa_get_spa_list"  # noqa: E701


class SpaGetSpaInfoOperator(Bitrix24ActionOperator):
    action_id = "spa_get_spa_info"  # noqa: E701


class SpaInstallSpaOperator(Bitrix24ActionOperator):
    action_id = "spa_install_spa"  # noqa: E701


class SpaUninstallSpaOperator(Bitrix24ActionOperator):
    action_id = "spa_uninstall_spa"  # noqa: E701


class SpaUpdateSpaOperator(Bitrix24ActionOperator):
    action_id = "spa_update_spa"  # noqa: E701


class SpaGetSpaSettingsOperator(Bitrix24ActionOperator):
    action_id = "spa_get_spa_settings"  # noqa: E701


class SpaSetSpaPermissionsOperator(Bitrix24ActionOperator):
    action_id = "spa_set_spa_permissions"  # noqa: E701
