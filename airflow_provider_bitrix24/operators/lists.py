"""Universal list operators (lists.*)."""

from __future__ import annotations

from typing import Any

from airflow_provider_bitrix24.catalogue.params import find
from airflow_provider_bitrix24.operators._files import as_destination
from airflow_provider_bitrix24.operators.base import Bitrix24ActionOperator


class ListsGetElementFileOperator(Bitrix24ActionOperator):
    """Download the file(s) of a list element's file field into the folder ``output_path``
    (one file per link, named ``<element>_<field>_<n>``). Returns ``{"files": [...], "count"}``."""

    action_id = "lists_get_element_file"

    def run(self, hook: Any, params: dict) -> Any:
        reply = hook.call(self.method(), params)
        urls = list(reply.values()) if isinstance(reply, dict) else list(reply or [])
        folder = as_destination(self.output_path)
        element = params.get(find(params, "ELEMENT_ID") or find(params, "ELEMENT_CODE") or "ELEMENT_ID")
        field = params.get(find(params, "FIELD_ID") or "FIELD_ID")
        files = [self.download(hook, url, folder / f"{element}_{field}_{n}") for n, url in enumerate(urls, 1)]
        return {"files": files, "count": len(files)}


class ListsAddOperator(Bitrix24ActionOperator):
    action_id = "lists_add"  # noqa: E701


class ListsDeleteOperator(Bitrix24ActionOperator):
    action_id = "lists_delete"  # noqa: E701


class ListsGetOperator(Bitrix24ActionOperator):
    action_id = "lists_get"  # noqa: E701


class ListsUpdateOperator(Bitrix24ActionOperator):
    action_id = "lists_update"  # noqa: E701


class ListsGetIblockTypeIdOperator(Bitrix24ActionOperator):
    action_id = "lists_get_iblock_type_id"  # noqa: E701


class ListsAddFieldOperator(Bitrix24ActionOperator):
    action_id = "lists_add_field"  # noqa: E701


class ListsDeleteFieldOperator(Bitrix24ActionOperator):
    action_id = "lists_delete_field"  # noqa: E701


class ListsGetFieldsOperator(Bitrix24ActionOperator):
    action_id = "lists_get_fields"  # noqa: E701


class ListsGetFieldTypesOperator(Bitrix24ActionOperator):
    action_id = "lists_get_field_types"  # noqa: E701


class ListsUpdateFieldOperator(Bitrix24ActionOperator):
    action_id = "lists_update_field"  # noqa: E701


class ListsGetElementFieldsOperator(Bitrix24ActionOperator):
    action_id = "lists_get_element_fields"  # noqa: E701


class ListsGetElementsOperator(Bitrix24ActionOperator):
    action_id = "lists_get_elements"  # noqa: E701


class ListsGetElementOperator(Bitrix24ActionOperator):
    action_id = "lists_get_element"  # noqa: E701


class ListsAddElementOperator(Bitrix24ActionOperator):
    action_id = "lists_add_element"  # noqa: E701


class ListsUpdateElementOperator(Bitrix24ActionOperator):
    action_id = "lists_update_element"  # noqa: E701


class ListsDeleteElementOperator(Bitrix24ActionOperator):
    action_id = "lists_delete_element"  # noqa: E701


class ListsGetElementFileUrlOperator(Bitrix24ActionOperator):
    action_id = "lists_get_element_file_url"  # noqa: E701


class ListsGetSectionElementOperator(Bitrix24ActionOperator):
    action_id = "lists_get_section_element"  # noqa: E701


class ListsGetSectionsOperator(Bitrix24ActionOperator):
    action_id = "lists_get_sections"  # noqa: E701


class ListsAddSectionOperator(Bitrix24ActionOperator):
    action_id = "lists_add_section"  # noqa: E701


class ListsGetSectionOperator(Bitrix24ActionOperator):
    action_id = "lists_get_section"  # noqa: E701


class ListsUpdateSectionOperator(Bitrix24ActionOperator):
    action_id = "lists_update_section"  # noqa: E701


class ListsDeleteSectionOperator(Bitrix24ActionOperator):
    action_id = "lists_delete_section"  # noqa: E701
