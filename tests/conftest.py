"""Shared fixtures: one emulator per test session, reset before each test, and Airflow
connections pointing at it for each auth mode (read from AIRFLOW_CONN_* so no DB is needed).

The ``unit`` tier (``-m unit``): every test that uses none of ``NOT_UNIT_FIXTURES`` and whose own
code (and that of its module's functions it calls) never mentions a way to start another process. A unit test that starts the emulator or another
process anyway (say through a helper) fails (``unit_tests_stay_in_process``), so the marking cannot
silently drift: give such a test a fixture from ``NOT_UNIT_FIXTURES`` or start the process in it."""

from __future__ import annotations

import atexit
import inspect
import json
import multiprocessing.process
import os
import re
import shutil
import subprocess
import tempfile
from functools import cache

import pytest

# Airflow reads its configuration at import time: isolate it before anything imports airflow.
# No unit test mode: its unit_tests.cfg differs from what users run (it turns cron and timedelta
# data intervals on, which hid that Airflow 3's defaults give "@daily" runs an empty interval),
# so the suite runs on Airflow's real defaults.
# The temporary home is removed when the test process exits (after every test and subprocess).
if "AIRFLOW_HOME" not in os.environ:
    os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="b24-airflow-home-")
    atexit.register(shutil.rmtree, os.environ["AIRFLOW_HOME"], ignore_errors=True)
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")

# Functional tests must not wait on the real-portal default of 2 requests/second.
FAST_LIMITS = {"rate_limit": {"burst": 100000, "per_second": 100000}}


@pytest.fixture(scope="session")
def tls_certificate(tmp_path_factory):
    """(cert.pem, key.pem): a self-signed certificate for 127.0.0.1, to serve the emulator over HTTPS."""
    import subprocess

    if shutil.which("openssl") is None:
        pytest.skip("openssl CLI not available to make a certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.fixture(scope="session")
def emulator_server():
    from airflow_provider_bitrix24.emulator import Emulator

    with Emulator(port=0) as emu:
        yield emu


@pytest.fixture
def emu(emulator_server):
    """The session's emulator with empty tables, no faults, no limits and an empty request log."""
    emulator_server.reset()
    emulator_server.configure(rate_limit=None, operating_limit=None)
    return emulator_server


def _set_conn(monkeypatch, conn_id: str, conn: dict) -> dict:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
    return conn


@pytest.fixture
def webhook_conn(emu, monkeypatch):
    return _set_conn(
        monkeypatch,
        "bitrix24_default",
        {
            "conn_type": "bitrix24",
            "host": emu.url,
            "login": str(emu.webhook_user_id),
            "password": emu.webhook_code,
            "extra": {"auth_type": "webhook", **FAST_LIMITS},
        },
    )


@pytest.fixture
def oauth_conn(emu, monkeypatch, tmp_path):
    access, refresh = emu.issue_tokens()
    return _set_conn(
        monkeypatch,
        "bitrix24_default",
        {
            "conn_type": "bitrix24",
            "host": emu.url,
            "login": emu.client_id,
            "password": emu.client_secret,
            "extra": {
                "auth_type": "oauth2",
                "access_token": access,
                "refresh_token": refresh,
                "token_url": emu.token_url,
                "token_store": {"type": "file", "path": str(tmp_path / "tokens.json")},
                **FAST_LIMITS,
            },
        },
    )


@pytest.fixture
def api_key_conn(emu, monkeypatch):
    access, _refresh = emu.issue_tokens(expires_in=24 * 3600)
    return _set_conn(
        monkeypatch,
        "bitrix24_default",
        {
            "conn_type": "bitrix24",
            "host": emu.url,
            "password": access,
            "extra": {"auth_type": "api_key", **FAST_LIMITS},
        },
    )


# Fixtures that start the emulator, an ``airflow`` process, openssl or a metadata database.
NOT_UNIT_FIXTURES = frozenset(
    {"emulator_server", "tls_certificate", "metadata_db", "airflow_db", "secrets_probe", "dagbag"}
)
# Ways to start another process, including our helpers that do it (scripts/demo.py's DAG discovery).
_STARTS_PROCESSES = re.compile(
    r"\b(subprocess|Popen|multiprocessing|sys\.executable|os\.fork|find_demo_dags)\b"
)


def _names_used(code) -> set[str]:
    names = set(code.co_names)
    for const in code.co_consts:
        if inspect.iscode(const):
            names |= _names_used(const)
    return names


@cache
def _starts_processes(function) -> bool:
    """Whether ``function``, or a function of its own module that it calls, mentions a way to start
    another process."""
    seen, todo = set(), [function]
    while todo:
        current = todo.pop()
        seen.add(current)
        try:
            if _STARTS_PROCESSES.search(inspect.getsource(current)):
                return True
        except (OSError, TypeError):
            return True
        for name in _names_used(current.__code__):
            helper = current.__globals__.get(name)
            if inspect.isfunction(helper) and helper.__module__ == current.__module__ and helper not in seen:
                todo.append(helper)
    return False


def pytest_collection_modifyitems(config, items):
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        function = getattr(item, "function", None)
        if function is None or fixtures & NOT_UNIT_FIXTURES or _starts_processes(function):
            continue
        item.add_marker(pytest.mark.unit)


class _NotInUnitTier(RuntimeError):
    pass


@pytest.fixture(autouse=True)
def unit_tests_stay_in_process(request, monkeypatch):
    """A ``unit`` test may start neither the emulator nor another process."""
    if request.node.get_closest_marker("unit") is None:
        return
    from airflow_provider_bitrix24.emulator import Emulator

    def refuse(what):
        def raiser(*args, **kwargs):
            raise _NotInUnitTier(f"a unit test started {what}: use a fixture from NOT_UNIT_FIXTURES")

        return raiser

    monkeypatch.setattr(subprocess.Popen, "__init__", refuse("a subprocess"))
    monkeypatch.setattr(multiprocessing.process.BaseProcess, "start", refuse("a process"))
    monkeypatch.setattr(os, "fork", refuse("a process"))
    monkeypatch.setattr(Emulator, "start", refuse("the emulator"))
