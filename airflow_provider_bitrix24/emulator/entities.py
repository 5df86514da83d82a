"""Entities as data: one :class:`EntitySpec` describes a resource's table, field names, reply
shapes and method names; :func:`register_entity` turns it into add/get/update/delete/list/fields
handlers. A new resource is one spec (plus, for odd methods, a small handler module).

Tables always store canonical UPPER_SNAKE column names; a spec with ``case="camel"`` renames on the
way out (``STAGE_ID`` -> ``stageId``) and accepts either spelling on the way in.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .params import as_int, param
from .registry import ApiError, CallContext, Reply, method
from .shapes import MAP_KEY, fit, result_shape
from .table import FilterError, Table, format_datetime

PAGE_SIZE = 50

# Names whose camelCase form is not the mechanical conversion (crm.item / tasks wording).
CAMEL_ALIASES = {
    "DATE_CREATE": "createdTime",
    "DATE_MODIFY": "updatedTime",
    "CREATED_BY_ID": "createdBy",
    "MODIFY_BY_ID": "updatedBy",
}


def to_camel(name: str) -> str:
    alias = CAMEL_ALIASES.get(name)
    if alias:
        return alias
    head, *rest = name.lower().split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_REVERSE_ALIASES = {v: k for k, v in CAMEL_ALIASES.items()}


@dataclass
class EntitySpec:
    """How one resource looks over REST. Reply shapes follow the documented examples."""

    name: str  # table name, also the method prefix when ``methods`` is not given
    fields: dict[str, str]  # canonical field -> type (crm type names: integer, string, datetime, ...)
    required: tuple[str, ...] = ()
    defaults: dict[str, Any] = field(default_factory=dict)
    id_field: str = "ID"
    id_param: str = "id"
    case: str = "upper"  # output field-name case: "upper" | "camel"
    stringify: bool = True  # numbers serialised as strings (classic CRM, tasks, users)
    list_key: str | None = None  # list result wrapped as {list_key: [...]} (crm.item: items)
    item_key: str | None = None  # get/add/update result wrapped as {item_key: {...}}
    add_returns: str = "id"  # "id" | "item"
    update_returns: str = "true"  # "true" | "item"
    delete_result: Any = True
    fields_key: str | None = None  # fields result wrapped as {fields_key: {...}}
    created_field: str | None = "DATE_CREATE"
    modified_field: str | None = "DATE_MODIFY"
    created_by_field: str | None = "CREATED_BY_ID"
    modified_by_field: str | None = "MODIFY_BY_ID"
    not_found: tuple[int, str, str] = (400, "", "Not found")
    get_missing: Any = None  # when not None, ``get`` of a missing id returns this instead of an error
    methods: dict[str, str] = field(default_factory=dict)  # operation -> REST method name
    sample: Callable[[int], dict] | None = None  # row generator for seed_generated
    filter_param: str = "filter"
    fields_param: str | None = "fields"  # None: fields are the top-level parameters (user.add)
    star_masks: bool = (
        False  # classic CRM select: no select = '*' + 'UF_*'; '*' skips UF_ and multiple fields
    )
    operations: tuple[str, ...] = ("add", "get", "update", "delete", "list", "fields")
    documented_by: dict[str, str] = field(default_factory=dict)  # operation -> method whose doc shows it

    def __post_init__(self) -> None:
        self._out_names: dict[str, str] = {}
        self._blanks: dict[str, dict] = {}
        self._date_fields = frozenset(self.datetime_fields)
        for op in self.operations:
            self.methods.setdefault(op, f"{self.name}.{op}")

    @property
    def datetime_fields(self) -> tuple[str, ...]:
        return tuple(name for name, kind in self.fields.items() if kind == "datetime")

    # -- names -----------------------------------------------------------------------------
    def out_name(self, column: str) -> str:
        return to_camel(column) if self.case == "camel" else column

    def in_name(self, name: str, table: Table | None = None) -> str:
        """Canonical column for a field name given in either case."""
        if self.case != "camel" or name.isupper() or name.startswith(("UF_", "PARENT_ID_")):
            return name
        if name in _REVERSE_ALIASES:
            return _REVERSE_ALIASES[name]
        for column in list(self.fields) + (table.columns if table else []):
            if to_camel(column) == name:
                return column
        return _CAMEL_BOUNDARY.sub("_", name).upper()

    def in_fields(self, fields: dict, table: Table | None = None) -> dict:
        return {self.in_name(str(k), table): v for k, v in fields.items()}

    # -- values ----------------------------------------------------------------------------
    def blank(self, operation: str) -> dict:
        """Every field the doc page's example of ``operation`` shows, unset: a reply without a
        ``select`` lists them all, with ``null`` where the record has no value."""
        found = self._blanks.get(operation)
        if found is None:
            found = self._blanks[operation] = {}
            # a record reply shows the same fields whether it answers get, add or update
            for op in ("get", "add", "update") if operation == "get" else (operation,):
                shape = result_shape(self.documented_by.get(op) or self.methods.get(op, ""))
                key = self.list_key if op == "list" else self.item_key
                if isinstance(shape, dict) and key:
                    shape = shape.get(key)
                if isinstance(shape, list):
                    shape = shape[0] if shape else None
                if isinstance(shape, dict) and MAP_KEY not in shape:
                    found.update(dict.fromkeys(shape))
        return found

    def render(self, row: dict, tz, select: set[str] | None = None, blank: dict | None = None) -> dict:
        """A stored row as the API shows it (hot path of every export: keep it lean)."""
        names = self._out_names
        dates = self._date_fields
        stringify = self.stringify
        out = dict(blank) if blank else {}
        for column in row if select is None else [c for c in row if c in select]:
            value = row[column]
            cls = value.__class__
            if cls is float:
                if column in dates:
                    value = format_datetime(value, tz)
                elif stringify:
                    value = f"{value:.2f}"
            elif cls is int and stringify:
                value = str(value)
            name = names.get(column)
            if name is None:
                name = names[column] = self.out_name(column)
            out[name] = value
        if self.case == "camel" and not _COMMUNICATIONS.isdisjoint(row):
            _fold_communications(row, out)
        return out

    def describe(self) -> dict:
        result = {}
        for name, kind in self.fields.items():
            result[self.out_name(name)] = {
                "type": kind,
                "isRequired": name in self.required,
                "isReadOnly": name in (self.id_field, self.created_field, self.modified_field),
                "isImmutable": False,
                "isMultiple": kind == "crm_multifield",
                "isDynamic": name.startswith("UF_"),
                "title": name.replace("_", " ").title(),
            }
        return result


# CRM multifields; crm.item shows them as ``fm`` entries plus one value under the field's own name.
_COMMUNICATIONS = frozenset({"PHONE", "EMAIL", "WEB", "IM"})


def _fold_communications(row: dict, out: dict) -> None:
    entries: list[dict] = []
    for column in sorted(_COMMUNICATIONS & row.keys()):
        values = row[column] if isinstance(row[column], list) else []
        name = to_camel(column)
        if name in out:
            out[name] = next((v.get("VALUE") for v in values if isinstance(v, dict)), None)
        entries.extend(
            {
                "id": as_int(v.get("ID")),
                "typeId": v.get("TYPE_ID", column),
                "value": v.get("VALUE"),
                "valueType": v.get("VALUE_TYPE"),
            }
            for v in values
            if isinstance(v, dict)
        )
    if entries or "fm" in out:
        out["fm"] = entries


ENTITIES: dict[str, EntitySpec] = {}


# -- the generic operations --------------------------------------------------------------------
def _wrap(spec: EntitySpec, key: str | None, value: Any) -> Any:
    return {key: value} if key else value


def _row_id(spec: EntitySpec, params: dict) -> int:
    raw = params.get(spec.id_param)
    if raw is None:  # parameter names are case-insensitive in practice (ID / id)
        raw = next((v for k, v in params.items() if k.lower() == spec.id_param.lower()), None)
    row_id = as_int(raw)
    if row_id is None or row_id <= 0:
        raise ApiError(400, "", "ID is not defined or invalid")
    return row_id


def _fields_param(spec: EntitySpec, params: dict) -> dict:
    if spec.fields_param is None:
        return {k: v for k, v in params.items() if k.lower() != spec.id_param.lower()}
    fields = params.get(spec.fields_param, params.get(spec.fields_param.upper(), {}))
    if fields in ([], ""):  # PHP sends an empty array for {}
        fields = {}
    if not isinstance(fields, dict):
        raise ApiError(400, "", "Parameter 'fields' must be array.")
    return fields


def _number_multifields(spec: EntitySpec, table: Table, fields: dict) -> None:
    """Give each phone/e-mail/... value the ``ID`` and ``TYPE_ID`` the portal reports with it."""
    for column, kind in spec.fields.items():
        values = fields.get(column)
        if kind != "crm_multifield" or not isinstance(values, list):
            continue
        numbered = []
        for value in values:
            if isinstance(value, dict) and "ID" not in value:
                value = {"ID": str(table.next_multifield_id), "TYPE_ID": column, **value}
                table.next_multifield_id += 1
            numbered.append(value)
        fields[column] = numbered


def _stamp(spec: EntitySpec, ctx: CallContext, fields: dict, creating: bool) -> None:
    now = time.time()
    if spec.modified_field:
        fields[spec.modified_field] = now
    if spec.modified_by_field:
        fields[spec.modified_by_field] = ctx.user_id
    if creating:
        if spec.created_field:
            fields.setdefault(spec.created_field, now)
        if spec.created_by_field:
            fields.setdefault(spec.created_by_field, ctx.user_id)


def _item_reply(spec: EntitySpec, ctx: CallContext, table: Table, row_id: int) -> Any:
    """The stored record as add/update/get show it: every documented field, wrapped if the spec says."""
    row = table.get(row_id)
    assert row is not None  # just written under the portal lock
    return _wrap(spec, spec.item_key, spec.render(row, ctx.portal.tz, blank=spec.blank("get")))


def entity_add(spec: EntitySpec, ctx: CallContext, params: dict, table: Table) -> Any:
    fields = spec.in_fields(_fields_param(spec, params), table)
    fields.pop(spec.id_field, None)
    missing = [name for name in spec.required if fields.get(name) in (None, "")]
    if missing:
        raise ApiError(
            400, "", f"Required fields are not filled: {', '.join(spec.out_name(m) for m in missing)}"
        )
    row = {**spec.defaults, **fields}
    _number_multifields(spec, table, row)
    _stamp(spec, ctx, row, creating=True)
    new_id = table.insert(row)
    ctx.extra["rows"] = 1
    if spec.add_returns == "item":
        return _item_reply(spec, ctx, table, new_id)
    return new_id


def entity_get(spec: EntitySpec, ctx: CallContext, params: dict, table: Table) -> Any:
    row = table.get(_row_id(spec, params))
    if row is None:
        if spec.get_missing is not None:
            return spec.get_missing
        raise ApiError(*spec.not_found)
    ctx.extra["rows"] = 1
    return _wrap(spec, spec.item_key, spec.render(row, ctx.portal.tz, blank=spec.blank("get")))


def entity_update(spec: EntitySpec, ctx: CallContext, params: dict, table: Table) -> Any:
    row_id = _row_id(spec, params)
    fields = spec.in_fields(_fields_param(spec, params), table)
    fields.pop(spec.id_field, None)
    _stamp(spec, ctx, fields, creating=False)
    if not table.update(row_id, fields):
        raise ApiError(*spec.not_found)
    ctx.extra["rows"] = 1
    if spec.update_returns == "item":
        return _item_reply(spec, ctx, table, row_id)
    return True


def entity_delete(spec: EntitySpec, ctx: CallContext, params: dict, table: Table) -> Any:
    if not table.delete(_row_id(spec, params)):
        raise ApiError(*spec.not_found)
    return spec.delete_result


def entity_fields(spec: EntitySpec, ctx: CallContext, params: dict, table: Table) -> Any:
    """The spec's fields plus every field the doc page lists, in the documented shape."""
    described = spec.describe()
    shape = result_shape(spec.documented_by.get("fields") or spec.methods.get("fields", ""))
    if isinstance(shape, dict) and spec.fields_key:
        shape = shape.get(spec.fields_key)
    if isinstance(shape, dict) and MAP_KEY not in shape:
        unlisted = EntitySpec(name=spec.name, fields=dict.fromkeys(shape, "string"), case="upper")
        described = fit({**unlisted.describe(), **described}, shape)
    return _wrap(spec, spec.fields_key, described)


def _order_param(spec: EntitySpec, params: dict, table: Table) -> list[tuple[str, bool]]:
    raw = param(params, "order")
    if raw in (None, "", []):
        return []
    if not isinstance(raw, dict):
        raise ApiError(400, "", "Parameter 'order' must be array.")
    order = []
    for name, direction in raw.items():
        text = str(direction).upper()
        if text not in ("ASC", "DESC"):
            raise ApiError(
                400,
                "INVALID_ARG_VALUE",
                f"Invalid order: allowed sort directions are ASC, DESC. But got '{direction}' for field '{name}'",
            )
        order.append((spec.in_name(str(name), table), text == "DESC"))
    return order


def _select_param(spec: EntitySpec, params: dict, table: Table) -> set[str] | None:
    """Columns a list call returns; None means every stored column."""
    raw = param(params, "select")
    names = (
        []
        if raw in (None, "", [])
        else [
            str(n)
            for n in (raw.values() if isinstance(raw, dict) else raw if isinstance(raw, list) else [raw])
        ]
    )
    if spec.star_masks:  # classic CRM: '*' is standard fields only, 'UF_*' the custom ones
        names = names or ["*", "UF_*"]
    elif not names or "*" in names:
        return None
    known = list(dict.fromkeys([*spec.fields, *table.columns]))
    multiple = {c for c in known if spec.fields.get(c) == "crm_multifield"}
    columns = {spec.id_field}
    for name in names:
        if name == "*":
            columns.update(c for c in known if not c.startswith("UF_") and c not in multiple)
        elif name == "UF_*":
            columns.update(c for c in known if c.startswith("UF_"))
        else:
            columns.add(spec.in_name(name, table))
    return columns


def _selects_all(params: dict) -> bool:
    raw = param(params, "select")
    return (
        raw in (None, "", [])
        or raw == "*"
        or (isinstance(raw, (list, dict)) and "*" in list(raw.values() if isinstance(raw, dict) else raw))
    )


def list_page(
    spec: EntitySpec, ctx: CallContext, params: dict, table: Table, filter_raw: Any
) -> tuple[list[dict], int | None, int | None]:
    """The shared list machinery: (rendered rows, next, total)."""
    if filter_raw in (None, "", []):
        filter_raw = {}
    if not isinstance(filter_raw, dict):
        raise ApiError(400, "", "Parameter 'filter' must be array.")
    conditions = {}
    for key, value in filter_raw.items():
        op_end = len(key) - len(key.lstrip("!@<>=%"))
        conditions[key[:op_end] + spec.in_name(key[op_end:], table)] = value
    order = _order_param(spec, params, table)
    select = _select_param(spec, params, table)
    start = as_int(param(params, "start", 0)) or 0
    count = start >= 0  # start=-1 skips the COUNT query (the huge-data export pattern)
    offset = max(start, 0)
    try:
        rows, total, scanned = table.query(conditions, order, offset, PAGE_SIZE, count)
    except FilterError as exc:
        raise ApiError(400, "INVALID_ARG_VALUE", f"Invalid filter: {exc}") from None
    ctx.extra["rows"] = ctx.extra.get("rows", 0) + len(rows)
    ctx.extra["scanned"] = scanned
    if count:
        ctx.extra["count_query"] = True
        ctx.extra["count_rows"] = len(table)
    blank = spec.blank("list") if _selects_all(params) else None
    rendered = [spec.render(row, ctx.portal.tz, select, blank) for row in rows]
    if not count:
        return rendered, None, 0
    nxt = offset + PAGE_SIZE if total is not None and offset + PAGE_SIZE < total else None
    return rendered, nxt, total


def entity_list(spec: EntitySpec, ctx: CallContext, params: dict, table: Table) -> Reply:
    rows, nxt, total = list_page(spec, ctx, params, table, param(params, spec.filter_param))
    return Reply(_wrap(spec, spec.list_key, rows), next=nxt, total=total)


OPERATIONS = {
    "add": entity_add,
    "get": entity_get,
    "update": entity_update,
    "delete": entity_delete,
    "list": entity_list,
    "fields": entity_fields,
}


def register_entity(
    spec: EntitySpec, table_for: Callable[[CallContext, dict], Table] | None = None
) -> EntitySpec:
    """Register the spec and one handler per operation. ``table_for`` picks the table for a call
    (crm.item routes by entityTypeId); by default it is the spec's own table."""
    ENTITIES[spec.name] = spec

    def default_table(ctx: CallContext, params: dict) -> Table:
        return ctx.portal.table(spec.name)

    pick = table_for or default_table
    for op in spec.operations:
        operation = OPERATIONS[op]

        def handler(ctx: CallContext, params: dict, operation=operation) -> Any:
            return operation(spec, ctx, params, pick(ctx, params))

        method(spec.methods[op])(handler)
    return spec


def seed_rows(spec: EntitySpec, table: Table, rows: list[dict], user_id: int) -> list[int]:
    """Bulk insert with defaults and timestamps; rows may use either field-name case."""
    now = time.time()
    out = []
    for row in rows:
        fields = {**spec.defaults, **spec.in_fields(row, table)}
        _number_multifields(spec, table, fields)
        for column in (spec.created_field, spec.modified_field):
            if column:
                fields.setdefault(column, now)
        for column in (spec.created_by_field, spec.modified_by_field):
            if column:
                fields.setdefault(column, user_id)
        out.append(table.insert(fields))
    return out
