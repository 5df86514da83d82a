"""Every core test that talks to the emulator also proves that no credential reached the logs
or the text of any Bitrix24 exception raised during the test."""

from __future__ import annotations

import logging

import pytest

from airflow_provider_bitrix24.client.errors import Bitrix24Error


@pytest.fixture(autouse=True)
def no_secrets_in_logs_or_errors(request, caplog, monkeypatch):
    caplog.set_level(logging.DEBUG)  # includes urllib3's request lines, which carry webhook paths
    messages: list[str] = []
    original = Bitrix24Error._message

    def recording_message(self):
        text = original(self)
        messages.append(text)
        return text

    monkeypatch.setattr(Bitrix24Error, "_message", recording_message)
    yield
    if "emu" not in request.fixturenames:
        return
    emu = request.getfixturevalue("emulator_server")  # session-scoped: still alive at teardown
    portal = emu.portal
    with portal.lock:
        secrets = {emu.webhook_code, emu.client_secret, *portal.access_tokens, *portal.refresh_tokens}
    # At teardown caplog.text only holds teardown records: read the setup and call phases.
    records = caplog.get_records("setup") + caplog.get_records("call")
    logs = "\n".join(record.getMessage() + (record.exc_text or "") for record in records)
    errors = "\n".join(messages)
    assert not [s for s in secrets if s and s in logs], "a secret appeared in the captured logs"
    assert not [s for s in secrets if s and s in errors], "a secret appeared in a Bitrix24 exception message"
