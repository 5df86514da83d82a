"""Every core test that talks to the emulator also proves that no credential reached the logs."""

from __future__ import annotations

import logging

import pytest


@pytest.fixture(autouse=True)
def no_secrets_in_logs(request, caplog):
    caplog.set_level(logging.DEBUG)  # includes urllib3's request lines, which carry webhook paths
    yield
    if "emu" not in request.fixturenames:
        return
    emu = request.getfixturevalue("emulator_server")  # session-scoped: still alive at teardown
    portal = emu.portal
    with portal.lock:
        secrets = {emu.webhook_code, emu.client_secret, *portal.access_tokens, *portal.refresh_tokens}
    # At teardown caplog.text only holds teardown records: read the setup and call phases.
    records = caplog.get_records("setup") + caplog.get_records("call")
    text = "\n".join(record.getMessage() + (record.exc_text or "") for record in records)
    leaked = sorted(s for s in secrets if s and s in text)
    assert not leaked, f"{len(leaked)} secret(s) appeared in the captured logs"
