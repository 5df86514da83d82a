"""What the generic handlers store and answer, by method family (data, no logic); the form of
each reply then follows the method's documented shape (``emulator/response_shapes.json``).

Methods are grouped by *family* (the name without its last segment). A family listed in
:data:`WRAPPED` answers inside an object, as its pages document (``{"type": {...}}``,
``{"types": [...]}``); :data:`CAMEL_ID` families key records by ``id`` instead of ``ID``.
:data:`FIXED` holds replies that do not depend on stored records.
"""

from __future__ import annotations

# family -> (key of one record, key of a list of records)
WRAPPED: dict[str, tuple[str, str]] = {
    "crm.type": ("type", "types"),
    "documentgenerator.document": ("document", "documents"),
    "documentgenerator.template": ("template", "templates"),
    "userfieldconfig": ("field", "fields"),
    "crm.timeline.logmessage": ("logMessage", "logMessages"),
    "crm.category": ("category", "categories"),
}

CAMEL_ID = frozenset(
    {
        "crm.type",
        "documentgenerator.document",
        "documentgenerator.template",
        "userfieldconfig",
        "crm.timeline.logmessage",
        "crm.category",
        "crm.timeline.note",
        "crm.timeline.layout.blocks",
        "crm.duplicate.volatiletype",
    }
)

# Verbs (last name segment) by what they answer.
CREATE_VERBS = frozenset({"add", "register", "bind"})
GET_VERBS = frozenset({"get", "getbyid", "getbyentitytypeid"})
LIST_VERBS = frozenset({"list", "getlist", "instances"})
FIELDS_VERBS = frozenset({"fields", "getfields"})

# `.get` methods that return every matching record (filtered lists), not one record.
LIST_GETS = frozenset(
    {
        "entity.get",
        "entity.section.get",
        "entity.item.get",
        "entity.item.property.get",
        "lists.get",
        "lists.element.get",
        "lists.section.get",
        "calendar.event.get",
        "calendar.section.get",
        "event.get",
        "telephony.externalline.get",
        "voximplant.sip.get",
        "voximplant.statistic.get",
        "imopenlines.config.list.get",
        "im.chat.user.list",
        "imbot.chat.user.list",
    }
)

# Creates whose page documents `true` rather than a new id.
CREATE_RETURNS_TRUE = frozenset(
    {
        "bizproc.robot.add",
        "entity.add",
        "entity.item.property.add",
        "event.bind",
        "crm.timeline.bindings.bind",
    }
)

_FIELD = {
    "type": "string",
    "isRequired": False,
    "isReadOnly": False,
    "isImmutable": False,
    "isMultiple": False,
    "isDynamic": False,
}

FIXED: dict[str, object] = {
    "crm.userfield.types": [
        {"ID": "string", "title": "String"},
        {"ID": "integer", "title": "Integer"},
        {"ID": "date", "title": "Date"},
        {"ID": "file", "title": "File"},
    ],
    "crm.item.details.configuration.get": [
        {"name": "main", "title": "About", "type": "section", "elements": [{"name": "TITLE"}]}
    ],
    "crm.timeline.note.get": {
        "itemType": 1,
        "itemId": 1,
        "ownerTypeId": 2,
        "ownerId": 1,
        "text": "",
        "updatedBy": 1,
    },
    "crm.timeline.layout.blocks.get": {"blocks": {}},
    "documentgenerator.region.list": {"regions": {"1": {"id": "1", "title": "Region", "languageId": "en"}}},
    "documentgenerator.template.getfields": {"templateFields": {"Title": {"title": "Title", "value": ""}}},
    "bizproc.robot.list": ["emulated_robot"],
    "messageservice.sender.list": ["emulated_sender"],
    "calendar.meeting.status.get": "Y",
    "calendar.accessibility.get": {"1": []},
    "im.dialog.messages.get": {"messages": [], "users": [], "files": [], "chat_id": 1},
    "im.notify.get": {"notifications": [], "users": [], "total_count": 0, "total_unread_count": 0},
    "im.notify.schema.get": {
        "im": {"NAME": "Chat and Calls", "NOTIFY": {"message": {"NAME": "Private messages"}}}
    },
    "im.chat.user.list": [1],
    "imbot.chat.user.list": [1],
    "imopenlines.config.list.get": [{"ID": "1", "LINE_NAME": "Open line", "ACTIVE": "Y"}],
    "voximplant.line.get": {"1": {"ID": "1", "NUMBER": "reg1", "NAME": "Cloud PBX"}},
    "voximplant.sip.connector.status": {"FREE_MINUTES": 0, "PAID": False, "PAID_DATE_END": ""},
    "lists.field.type.get": {"S": "String", "N": "Number", "L": "List", "F": "File"},
    "lists.get.iblock.type.id": "lists",
    "lists.field.add": "PROPERTY_1",
    "telephony.externalcall.searchcrmentities": [],
    "telephony.externalcall.attachrecord": {"FILE_ID": 1},
    "crm.duplicate.findbycomm": {"CONTACT": [1]},
    # every smart process has its default pipeline
    "crm.category.list": {
        "categories": [{"id": 1, "name": "General", "sort": 500, "entityTypeId": 0, "isDefault": "Y"}]
    },
    "lists.field.get": {
        "NAME": {
            "FIELD_ID": "NAME",
            "NAME": "Name",
            "TYPE": "NAME",
            "IS_REQUIRED": "Y",
            "MULTIPLE": "N",
            "SORT": "10",
        },
        "PROPERTY_1": {
            "FIELD_ID": "PROPERTY_1",
            "NAME": "File",
            "TYPE": "F",
            "IS_REQUIRED": "N",
            "MULTIPLE": "N",
            "SORT": "20",
        },
    },
    "disk.rights.gettasks": [{"ID": "1", "NAME": "disk_access_read", "TITLE": "Read"}],
}

# Creates whose page documents a record rather than a bare id: method -> id key of that record.
CREATE_RETURNS_RECORD = {
    "telephony.externalcall.register": "CALL_ID",
    "telephony.externalline.add": "ID",
    "voximplant.sip.add": "ID",
}

FIELD_MAP = {
    "ID": {**_FIELD, "type": "integer", "isReadOnly": True, "title": "ID"},
    "TITLE": {**_FIELD, "title": "Title"},
}
