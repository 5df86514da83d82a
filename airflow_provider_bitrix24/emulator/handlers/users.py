"""Users: ``user.get`` / ``user.search`` (plain list, ``sort``+``order`` strings, ``FILTER``),
``user.current``, ``user.add``, ``user.update``, ``user.fields``."""

from __future__ import annotations

from ..entities import EntitySpec, list_page, register_entity
from ..registry import ApiError, CallContext, Reply, method
from ..shapes import result_shape

USER = register_entity(
    EntitySpec(
        name="user",
        fields={
            "ID": "integer",
            "ACTIVE": "boolean",
            "NAME": "string",
            "LAST_NAME": "string",
            "SECOND_NAME": "string",
            "EMAIL": "string",
            "LAST_LOGIN": "datetime",
            "DATE_REGISTER": "datetime",
            "TIMESTAMP_X": "datetime",
            "TIME_ZONE": "string",
            "IS_ONLINE": "char",
            "PERSONAL_GENDER": "char",
            "PERSONAL_BIRTHDAY": "date",
            "PERSONAL_MOBILE": "string",
            "PERSONAL_CITY": "string",
            "WORK_PHONE": "string",
            "WORK_POSITION": "string",
            "UF_DEPARTMENT": "list",
            "USER_TYPE": "string",
        },
        required=("EMAIL",),
        defaults={
            "ACTIVE": True,
            "NAME": "",
            "LAST_NAME": "",
            "SECOND_NAME": "",
            "IS_ONLINE": "N",
            "TIME_ZONE": "",
            "UF_DEPARTMENT": [1],
            "USER_TYPE": "employee",
            "WORK_POSITION": "",
        },
        id_param="ID",
        fields_param=None,  # user.add / user.update take the fields as top-level parameters
        created_field="DATE_REGISTER",
        modified_field="TIMESTAMP_X",
        created_by_field=None,
        modified_by_field=None,
        methods={"add": "user.add", "update": "user.update"},
        operations=("add", "update"),
        documented_by={"list": "user.get", "get": "user.current", "fields": "user.fields"},
        sample=lambda row_id: {
            "NAME": f"User{row_id}",
            "LAST_NAME": "Generated",
            "EMAIL": f"user{row_id}@example.com",
            "ACTIVE": True,
            "DATE_REGISTER": 1_600_000_000.0 + row_id * 3600.0,
            "UF_DEPARTMENT": [1],
        },
    )
)

# Keys of user.get that are not filter fields when passed at the top level (legacy form).
_USER_GET_KEYS = {"sort", "order", "filter", "admin_mode", "select", "image_resize", "start", "auth"}


def _user_filter(params: dict) -> dict:
    raw = params.get("FILTER", params.get("filter"))
    if isinstance(raw, dict):
        return raw
    return {k: v for k, v in params.items() if k.lower() not in _USER_GET_KEYS}


@method("user.get", "user.search")
def user_get(ctx: CallContext, params: dict) -> Reply:
    sort, order = params.get("sort"), params.get("order")
    list_params = dict(params)
    list_params["order"] = {str(sort): str(order or "ASC")} if isinstance(sort, str) and sort else {}
    rows, nxt, total = list_page(USER, ctx, list_params, ctx.portal.table(USER.name), _user_filter(params))
    return Reply(rows, next=nxt, total=total)


@method("user.current")
def user_current(ctx: CallContext, params: dict) -> dict:
    row = ctx.portal.table(USER.name).get(ctx.user_id)
    if row is None:
        raise ApiError(401, "NO_AUTH_FOUND", "Wrong authorization data")
    return USER.render(row, ctx.portal.tz, blank=USER.blank("get"))


@method("user.fields")
def user_fields(ctx: CallContext, params: dict) -> dict:
    """Field name -> title, for the modelled fields and every field the doc page lists."""
    names = dict.fromkeys([*USER.fields, *(result_shape("user.fields") or {})])
    return {name: name.replace("_", " ").title() for name in names}
