"""Connections opened while a parallel export's probe is out, and the staggered first wave."""

from __future__ import annotations

import ssl
import threading
import time
from urllib.parse import unquote

import pytest
import requests
from urllib3.connection import HTTPConnection, HTTPSConnection

from airflow_provider_bitrix24.client import Bitrix24Client, WebhookAuth
from airflow_provider_bitrix24.client.connections import ConnectionWarmer
from airflow_provider_bitrix24.client.paging import WAVE_STAGGER, _staggered
from airflow_provider_bitrix24.emulator import CostModel, Emulator

FAST = {"rate_limit": None, "backoff_base": 0.01, "backoff_max": 0.05}


def client_for(emu, **kwargs):
    return Bitrix24Client(emu.url, WebhookAuth(emu.webhook_user_id, emu.webhook_code), **{**FAST, **kwargs})


@pytest.fixture
def connects(mocker):
    """The names of the threads that opened a connection, in order."""
    threads: list[str] = []

    def recording(original):
        def connect(self):
            threads.append(threading.current_thread().name)
            return original(self)

        return connect

    for cls in (HTTPConnection, HTTPSConnection):  # HTTPS overrides connect without calling up
        mocker.patch.object(cls, "connect", recording(cls.connect))
    return threads


def _export(client):
    return [int(r["ID"]) for r in client.paginate("crm.deal.list", {"select": ["ID"]})]


def test_windows_use_the_connections_opened_during_the_probe(emu, connects):
    emu.seed_generated("crm.deal", 20_000)  # the probe, then nine windows at once
    emu.configure(cost=CostModel(latency=0.2))
    with client_for(emu) as client:
        assert _export(client) == list(range(1, 20_001))
    window_threads = [name for name in connects if name.startswith("bitrix24-paginate")]
    assert window_threads == []  # no window had to open a connection of its own
    assert connects.count("bitrix24-warmup") >= 9


def test_a_client_with_idle_connections_warms_nothing(emu, connects):
    emu.seed_generated("crm.deal", 20_000)
    emu.configure(cost=CostModel(latency=0.05))
    with client_for(emu) as client:
        _export(client)
        first = len(connects)
        assert _export(client) == list(range(1, 20_001))
    assert first >= 10 and len(connects) == first  # the second export reuses the pooled connections


def test_a_small_export_stops_warming_up_when_its_probe_returns(emu, mocker):
    emu.seed_generated("crm.deal", 30)
    emu.configure(cost=CostModel(latency=0.15))
    original = HTTPConnection.connect
    opened = []

    def slow_connect(self):
        if threading.current_thread().name == "bitrix24-warmup":
            time.sleep(0.05)  # a handshake over a slow link
            opened.append(1)
        return original(self)

    mocker.patch.object(HTTPConnection, "connect", slow_connect)
    with client_for(emu) as client:
        started = time.monotonic()
        assert len(_export(client)) == 30
        elapsed = time.monotonic() - started
    assert 1 <= len(opened) <= 5  # what fitted into the probe's 0.15 s, not the 49 a wave could use
    assert elapsed < 0.15 + 0.05 + 0.2


def test_a_failing_warm_up_changes_nothing(emu, mocker):
    emu.seed_generated("crm.deal", 12_000)
    original = HTTPConnection.connect

    def refuse(self):
        if threading.current_thread().name == "bitrix24-warmup":
            raise ConnectionRefusedError("no")
        return original(self)

    mocker.patch.object(HTTPConnection, "connect", refuse)
    with client_for(emu) as client:
        assert _export(client) == list(range(1, 12_001))


def test_finish_does_not_wait_for_a_hanging_connect(emu, mocker):
    release = threading.Event()
    mocker.patch.object(HTTPConnection, "connect", lambda self: release.wait(5))
    session = requests.Session()
    warmer = ConnectionWarmer(session, emu.webhook_url + "batch", 3)
    time.sleep(0.05)
    started = time.monotonic()
    warmer.finish()
    assert time.monotonic() - started < 1.0
    release.set()
    session.close()


@pytest.fixture(scope="module")
def tls_emulator(tls_certificate):
    """An HTTPS emulator; TLS 1.3 servers send session tickets right after the handshake."""
    cert, key = tls_certificate
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    with Emulator(ssl_context=context) as emu:
        yield emu, str(cert)


def test_warmed_tls_connections_survive_their_session_tickets(tls_emulator, connects, monkeypatch):
    emu, cert = tls_emulator
    emu.reset()
    emu.seed_generated("crm.deal", 20_000)
    emu.configure(cost=CostModel(latency=0.2))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", cert)  # the environment's bundle would win over session.verify
    with client_for(emu) as client:
        assert _export(client) == list(range(1, 20_001))
    assert connects.count("bitrix24-warmup") >= 9
    assert [name for name in connects if name.startswith("bitrix24-paginate")] == []


# ------------------------------------------------------------------ the staggered first wave


@pytest.mark.parametrize(
    ("remaining", "windows"), [(99_950, 41), (9_950, 5), (29_950, 13), (120_000, 48), (700, 2)]
)
def test_staggered_windows_grow_by_a_fixed_step_and_hold_everything(remaining, windows):
    sizes = _staggered(remaining, windows)
    step = 2500 * WAVE_STAGGER
    assert len(sizes) == windows and max(sizes) <= 2499 and min(sizes) >= 50
    assert all(0 <= b - a <= step + 1 for a, b in zip(sizes, sizes[1:], strict=False))
    assert remaining <= sum(sizes) <= remaining + windows or sum(sizes) == 2499 * windows
    if 2499 * windows - remaining > step * windows * 2:  # room to stagger
        assert sizes[0] < sizes[-1]


def _window_bounds(record) -> tuple[int, int | None]:
    first = unquote(next(iter(record.params["cmd"].values())))
    lower = int(first.split("filter[>=ID]=")[1].split("&")[0])
    upper = first.split("filter[<=ID]=")[1].split("&")[0] if "filter[<=ID]=" in first else None
    return lower, None if upper is None else int(upper)


def test_the_first_wave_lands_staggered_in_id_order(emu):
    emu.seed_generated("crm.deal", 30_000)  # the probe, then thirteen windows in one wave
    emu.clear_requests()
    with client_for(emu) as client:
        assert _export(client) == list(range(1, 30_001))
    bounds = sorted(_window_bounds(r) for r in emu.requests[1:])
    spans = [upper - lower + 1 for lower, upper in bounds if upper is not None]
    assert len(bounds) == 13 and len(emu.requests) <= 30_000 // 2500 + 2
    assert spans == sorted(spans) and spans[-1] - spans[0] >= 10 * 2500 * WAVE_STAGGER


def test_no_warm_up_through_a_proxy(emu, monkeypatch, connects):
    # urllib3 sets a proxy tunnel up only when it opens a connection for a request itself, so a
    # connection opened ahead would skip it: through a proxy nothing is opened ahead.
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("NO_PROXY", "")
    monkeypatch.setenv("no_proxy", "")
    session = requests.Session()
    warmer = ConnectionWarmer(session, emu.webhook_url + "batch", 5)
    warmer.finish()
    assert connects == [] and warmer.opened == 0
