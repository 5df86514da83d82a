"""Cheap portal-level methods used for connection checks: ``app.info``, ``server.time`` and
``method.get`` (does this portal serve a method, and may this caller use it)."""

from __future__ import annotations

from datetime import datetime

from ..dispatch import is_allowed
from ..registry import HANDLERS, ApiError, CallContext, method


@method("app.info")
def app_info(ctx: CallContext, params: dict) -> dict:
    if not ctx.app:  # a webhook is not an application
        raise ApiError(401, "NO_AUTH_FOUND", "Wrong authorization data")
    portal = ctx.portal
    return {
        "ID": 1,
        "CODE": portal.client_id,
        "VERSION": 1,
        "STATUS": "L",
        "INSTALLED": True,
        "PAYMENT_EXPIRED": "N",
        "DAYS": None,
        "LANGUAGE_ID": "en",
        "LICENSE": "en_project",
        "LICENSE_TYPE": "project",
        "LICENSE_FAMILY": "project",
    }


@method("server.time")
def server_time(ctx: CallContext, params: dict) -> str:
    return datetime.now(ctx.portal.tz).isoformat(timespec="seconds")


@method("method.get")
def method_get(ctx: CallContext, params: dict) -> dict:
    name = str(params.get("name") or "").strip().lower()
    existing = bool(name) and name in HANDLERS and name in ctx.portal.catalogue
    return {"isExisting": existing, "isAvailable": existing and is_allowed(ctx.portal, name)}
