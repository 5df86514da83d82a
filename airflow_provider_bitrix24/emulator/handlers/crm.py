"""CRM: classic deals, leads, contacts, companies (UPPER_CASE, string values) and the universal
``crm.item.*`` view (camelCase, ``entityTypeId``) over the same tables."""

from __future__ import annotations

from ..entities import EntitySpec, register_entity
from ..params import as_int
from ..registry import ApiError, CallContext
from ..table import Table

_BASE_TIME = 1_700_000_000.0  # generated rows: created one minute apart from Nov 2023

_COMMON = {
    "ID": "integer",
    "TITLE": "string",
    "ASSIGNED_BY_ID": "user",
    "CREATED_BY_ID": "user",
    "MODIFY_BY_ID": "user",
    "DATE_CREATE": "datetime",
    "DATE_MODIFY": "datetime",
    "OPENED": "char",
    "COMMENTS": "string",
    "SOURCE_ID": "crm_status",
}
_PERSON = {
    "NAME": "string",
    "LAST_NAME": "string",
    "SECOND_NAME": "string",
    "PHONE": "crm_multifield",
    "EMAIL": "crm_multifield",
}

_STAGES = ("NEW", "PREPARATION", "PREPAYMENT_INVOICE", "EXECUTING", "FINAL_INVOICE", "WON", "LOSE")


def _sample_deal(row_id: int) -> dict:
    created = _BASE_TIME + row_id * 60.0
    return {
        "TITLE": f"Deal #{row_id}",
        "STAGE_ID": _STAGES[row_id % len(_STAGES)],
        "CATEGORY_ID": 0,
        "OPPORTUNITY": float(row_id % 10_000),
        "CURRENCY_ID": "USD",
        "ASSIGNED_BY_ID": 1,
        "CREATED_BY_ID": 1,
        "MODIFY_BY_ID": 1,
        "DATE_CREATE": created,
        "DATE_MODIFY": created + 30.0,
        "OPENED": "Y",
        "CLOSED": "Y" if row_id % len(_STAGES) >= 5 else "N",
    }


def _sample_lead(row_id: int) -> dict:
    created = _BASE_TIME + row_id * 60.0
    return {
        "TITLE": f"Lead #{row_id}",
        "NAME": f"Name{row_id}",
        "STATUS_ID": "NEW",
        "ASSIGNED_BY_ID": 1,
        "CREATED_BY_ID": 1,
        "MODIFY_BY_ID": 1,
        "DATE_CREATE": created,
        "DATE_MODIFY": created + 30.0,
        "OPENED": "Y",
    }


def _sample_contact(row_id: int) -> dict:
    created = _BASE_TIME + row_id * 60.0
    return {
        "NAME": f"Name{row_id}",
        "LAST_NAME": f"Surname{row_id}",
        "TYPE_ID": "CLIENT",
        "ASSIGNED_BY_ID": 1,
        "CREATED_BY_ID": 1,
        "MODIFY_BY_ID": 1,
        "DATE_CREATE": created,
        "DATE_MODIFY": created + 30.0,
        "OPENED": "Y",
    }


def _sample_company(row_id: int) -> dict:
    created = _BASE_TIME + row_id * 60.0
    return {
        "TITLE": f"Company #{row_id}",
        "COMPANY_TYPE": "CUSTOMER",
        "ASSIGNED_BY_ID": 1,
        "CREATED_BY_ID": 1,
        "MODIFY_BY_ID": 1,
        "DATE_CREATE": created,
        "DATE_MODIFY": created + 30.0,
        "OPENED": "Y",
    }


DEAL = register_entity(
    EntitySpec(
        name="crm.deal",
        star_masks=True,
        fields={
            **_COMMON,
            "TYPE_ID": "crm_status",
            "STAGE_ID": "crm_status",
            "CATEGORY_ID": "crm_category",
            "CURRENCY_ID": "crm_currency",
            "OPPORTUNITY": "double",
            "COMPANY_ID": "crm_company",
            "CONTACT_ID": "crm_contact",
            "CLOSED": "char",
            "BEGINDATE": "date",
            "CLOSEDATE": "date",
        },
        defaults={
            "STAGE_ID": "NEW",
            "CATEGORY_ID": 0,
            "CURRENCY_ID": "USD",
            "OPPORTUNITY": 0.0,
            "OPENED": "Y",
            "CLOSED": "N",
            "ASSIGNED_BY_ID": 1,
        },
        sample=_sample_deal,
    )
)
LEAD = register_entity(
    EntitySpec(
        name="crm.lead",
        star_masks=True,
        fields={
            **_COMMON,
            **_PERSON,
            "STATUS_ID": "crm_status",
            "COMPANY_TITLE": "string",
            "OPPORTUNITY": "double",
            "CURRENCY_ID": "crm_currency",
        },
        defaults={"STATUS_ID": "NEW", "OPENED": "Y", "ASSIGNED_BY_ID": 1},
        sample=_sample_lead,
    )
)
CONTACT = register_entity(
    EntitySpec(
        name="crm.contact",
        star_masks=True,
        fields={
            **{k: v for k, v in _COMMON.items() if k != "TITLE"},
            **_PERSON,
            "TYPE_ID": "crm_status",
            "COMPANY_ID": "crm_company",
            "POST": "string",
        },
        defaults={"TYPE_ID": "CLIENT", "OPENED": "Y", "ASSIGNED_BY_ID": 1},
        sample=_sample_contact,
    )
)
COMPANY = register_entity(
    EntitySpec(
        name="crm.company",
        star_masks=True,
        fields={
            **_COMMON,
            "COMPANY_TYPE": "crm_status",
            "INDUSTRY": "crm_status",
            "PHONE": "crm_multifield",
            "EMAIL": "crm_multifield",
            "REVENUE": "double",
        },
        required=("TITLE",),
        defaults={"COMPANY_TYPE": "CUSTOMER", "OPENED": "Y", "ASSIGNED_BY_ID": 1},
        sample=_sample_company,
    )
)

# entityTypeId of the classic types; crm.item on them reads and writes the classic tables.
CLASSIC_TYPES = {1: LEAD.name, 2: DEAL.name, 3: CONTACT.name, 4: COMPANY.name}
FIRST_DYNAMIC_TYPE = 128
SMART_INVOICE_TYPE = 31  # built-in dynamic type of the new invoices


def item_table_name(entity_type_id: int) -> str:
    if entity_type_id in CLASSIC_TYPES:
        return CLASSIC_TYPES[entity_type_id]
    if entity_type_id >= FIRST_DYNAMIC_TYPE or entity_type_id == SMART_INVOICE_TYPE:
        return f"crm.item#{entity_type_id}"
    raise ApiError(400, "NOT_FOUND", "SPA not found")


def _item_table(ctx: CallContext, params: dict) -> Table:
    entity_type_id = as_int(params.get("entityTypeId", params.get("ENTITY_TYPE_ID")))
    if entity_type_id is None:
        raise ApiError(400, "NOT_FOUND", "SPA not found")
    return ctx.portal.table(item_table_name(entity_type_id))


ITEM = register_entity(
    EntitySpec(
        name="crm.item",
        fields={
            "ID": "integer",
            "TITLE": "string",
            "STAGE_ID": "crm_status",
            "CATEGORY_ID": "crm_category",
            "ASSIGNED_BY_ID": "user",
            "CREATED_BY_ID": "user",
            "MODIFY_BY_ID": "user",
            "DATE_CREATE": "datetime",
            "DATE_MODIFY": "datetime",
            "OPPORTUNITY": "double",
            "CURRENCY_ID": "crm_currency",
            "OPENED": "boolean",
        },
        case="camel",
        stringify=False,
        list_key="items",
        item_key="item",
        add_returns="item",
        update_returns="item",
        delete_result=[],
        fields_key="fields",
        not_found=(400, "NOT_FOUND", "Element not found"),
        defaults={"ASSIGNED_BY_ID": 1, "OPENED": "Y"},
        sample=lambda row_id: {
            "TITLE": f"Item #{row_id}",
            "STAGE_ID": "DT_NEW",
            "DATE_CREATE": _BASE_TIME + row_id * 60.0,
            "DATE_MODIFY": _BASE_TIME + row_id * 60.0 + 30.0,
            "ASSIGNED_BY_ID": 1,
            "CREATED_BY_ID": 1,
            "MODIFY_BY_ID": 1,
        },
    ),
    table_for=_item_table,
)
