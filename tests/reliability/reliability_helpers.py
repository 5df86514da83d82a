"""Helpers shared by the reliability tests (imported by name; pytest puts this folder on sys.path)."""

from __future__ import annotations

from airflow_provider_bitrix24.client import Bitrix24Client, FileTokenStore, OAuth2Auth

FAST = {"rate_limit": None, "backoff_base": 0.005, "backoff_max": 0.02}


def make_oauth_client(emu, store_path, access=None, refresh=None, **kwargs) -> Bitrix24Client:
    if refresh is None:
        access, refresh = emu.issue_tokens()
    auth = OAuth2Auth(
        emu.client_id, emu.client_secret, refresh, access, token_url=emu.token_url, store=FileTokenStore(store_path)
    )
    return Bitrix24Client(emu.url, auth, **{**FAST, **kwargs})


def executed(emu, method: str) -> list:
    """Calls of ``method`` the portal really ran (not refused by a fault, limit or auth)."""
    return [r for r in emu.calls(method) if r.fault not in ("drop_before", "html", "redirect") and r.error is None]


def sent(emu, method: str) -> list:
    """Every HTTP request (or batch command) for ``method`` that reached the portal."""
    return emu.calls(method)


def seed_deals(emu, n: int) -> list[int]:
    return emu.seed("crm.deal", [{"TITLE": f"Deal {i}"} for i in range(n)]) if n else []
