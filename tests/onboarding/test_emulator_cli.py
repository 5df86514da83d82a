"""The emulator as a developer runs it day to day: fixed webhook credentials across restarts,
help text on every option."""

from __future__ import annotations

import subprocess
import sys

import pytest
import requests

from airflow_provider_bitrix24.emulator import Emulator
from airflow_provider_bitrix24.emulator.__main__ import build_parser


def start_cli(*args: str) -> tuple[subprocess.Popen, str]:
    """Run the emulator command; return the process and the webhook URL it printed."""
    process = subprocess.Popen(
        [sys.executable, "-m", "airflow_provider_bitrix24.emulator", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    for line in process.stdout:
        if "webhook URL:" in line:
            return process, line.split("webhook URL:", 1)[1].strip()
    process.kill()
    raise AssertionError(process.stderr.read())


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    process.wait(timeout=30)


def test_fixed_webhook_credentials_survive_a_restart():
    urls = []
    for _ in range(2):
        process, url = start_cli("--webhook-code", "devcode123", "--webhook-user", "7")
        try:
            reply = requests.post(url + "user.current", json={}, timeout=10)
            assert reply.status_code == 200 and reply.json()["result"]["ID"] in (7, "7")
        finally:
            stop(process)
        urls.append(url.split("/rest/", 1)[1])
    assert urls == ["7/devcode123/", "7/devcode123/"]  # same user and code; only the port was free-picked


def test_without_a_code_each_start_makes_a_new_one():
    codes = []
    for _ in range(2):
        process, url = start_cli()
        stop(process)
        codes.append(url.rstrip("/").rsplit("/", 1)[1])
    assert codes[0] != codes[1]


def test_a_code_that_cannot_be_a_path_segment_is_refused():
    result = subprocess.run(
        [sys.executable, "-m", "airflow_provider_bitrix24.emulator", "--webhook-code", "a/b"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "webhook_code must be letters and digits" in result.stderr


def test_library_takes_the_same_credentials(emulator_server):
    # (emulator_server: this test starts an emulator of its own, so it is not a unit test)
    with Emulator(port=0, webhook_user_id=3, webhook_code="abc123") as emu:
        assert emu.webhook_url.endswith("/rest/3/abc123/")
        assert requests.post(emu.webhook_url + "user.current", json={}, timeout=10).json()["result"][
            "ID"
        ] in (3, "3")
        emu.reset()
        assert requests.post(emu.webhook_url + "user.current", json={}, timeout=10).status_code == 200


@pytest.mark.parametrize(
    "action", [a for a in build_parser()._actions if a.dest != "help"], ids=lambda a: a.dest
)
def test_every_option_has_help(action):
    assert action.help and len(action.help) > 10
