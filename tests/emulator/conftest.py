"""Helpers for talking to the emulator over real HTTP with plain ``requests``."""

from __future__ import annotations

import pytest
import requests


class Rest:
    """POST JSON to the emulator's webhook (or with an OAuth token) and return the response."""

    def __init__(self, emu, session: requests.Session) -> None:
        self.emu = emu
        self.session = session

    def post(
        self, method: str, params: dict | None = None, token: str | None = None, **kwargs
    ) -> requests.Response:
        if token is not None:
            return self.session.post(
                f"{self.emu.url}/rest/{method}", json={**(params or {}), "auth": token}, timeout=10, **kwargs
            )
        return self.session.post(self.emu.webhook_url + method, json=params or {}, timeout=10, **kwargs)

    def result(self, method: str, params: dict | None = None, **kwargs):
        response = self.post(method, params, **kwargs)
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture
def rest(emu):
    with requests.Session() as session:
        yield Rest(emu, session)
