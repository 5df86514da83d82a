"""CRM entities as data: how each one is read and which fields hold its ID, stage and change time."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CrmEntity:
    """How one CRM entity is read: its methods and the names of the fields that matter."""

    get_method: str
    list_method: str
    id_field: str = "ID"
    stage_field: str | None = "STAGE_ID"
    modified_field: str = "DATE_MODIFY"
    # crm.item.* takes the SPA/entity type and wraps records in {"item": ...} / {"items": [...]}
    universal: bool = False

    def type_params(self, entity_type_id: int | None) -> dict:
        """``{"entityTypeId": ...}`` for crm.item.*, nothing for the classic entities."""
        if not self.universal:
            return {}
        if entity_type_id is None:
            raise ValueError(
                f"{self.list_method} needs entity_type_id (e.g. 2 for deals, 128+ for a smart process)"
            )
        return {"entityTypeId": int(entity_type_id)}


CRM_ENTITIES: dict[str, CrmEntity] = {
    "deal": CrmEntity("crm.deal.get", "crm.deal.list"),
    "lead": CrmEntity("crm.lead.get", "crm.lead.list", stage_field="STATUS_ID"),
    "contact": CrmEntity("crm.contact.get", "crm.contact.list", stage_field=None),
    "company": CrmEntity("crm.company.get", "crm.company.list", stage_field=None),
    "quote": CrmEntity("crm.quote.get", "crm.quote.list", stage_field="STATUS_ID"),
    "item": CrmEntity(
        "crm.item.get",
        "crm.item.list",
        id_field="id",
        stage_field="stageId",
        modified_field="updatedTime",
        universal=True,
    ),
}


def crm_entity(name: str) -> CrmEntity:
    try:
        return CRM_ENTITIES[name.lower()]
    except KeyError:
        raise ValueError(f"unknown CRM entity {name!r}; choose one of {sorted(CRM_ENTITIES)}") from None
