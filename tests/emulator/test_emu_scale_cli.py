"""Bulk seeding, the O(page) export path on a million generated rows, concurrency and the CLI."""

from __future__ import annotations

import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import requests


def test_seed_100k_rows_quickly(emu, rest):
    started = time.perf_counter()
    ids = emu.seed("crm.deal", ({"TITLE": f"d{i}", "OPPORTUNITY": float(i)} for i in range(100_000)))
    assert time.perf_counter() - started < 5
    assert len(ids) == 100_000 and ids[-1] == 100_000
    assert (
        rest.result("crm.deal.list", {"filter": {">ID": 99_998}, "start": -1})["result"][0]["TITLE"]
        == "d99998"
    )


def test_million_generated_rows_page_from_the_end_in_constant_time(emu, rest):
    started = time.perf_counter()
    emu.seed_generated("crm.deal", 1_000_000)
    assert time.perf_counter() - started < 1
    started = time.perf_counter()
    page = rest.result("crm.deal.list", {"order": {"ID": "ASC"}, "filter": {">ID": 999_960}, "start": -1})[
        "result"
    ]
    assert time.perf_counter() - started < 0.5
    assert [int(r["ID"]) for r in page] == list(range(999_961, 1_000_001))
    assert page[0]["DATE_MODIFY"] > page[0]["DATE_CREATE"]
    # generated rows can be updated and deleted like stored ones
    rest.result("crm.deal.update", {"id": 999_961, "fields": {"TITLE": "edited"}})
    rest.result("crm.deal.delete", {"id": 999_962})
    page = rest.result("crm.deal.list", {"filter": {">ID": 999_960, "<ID": 999_964}, "start": -1})["result"]
    assert [(r["ID"], r["TITLE"]) for r in page] == [("999961", "edited"), ("999963", "Deal #999963")]


def test_concurrent_clients_get_consistent_ids(emu):
    def add(n: int) -> list[int]:
        with requests.Session() as session:
            return [
                session.post(
                    emu.webhook_url + "crm.deal.add", json={"fields": {"TITLE": f"t{n}"}}, timeout=10
                ).json()["result"]
                for _ in range(25)
            ]

    with ThreadPoolExecutor(8) as pool:
        ids = [i for chunk in pool.map(add, range(8)) for i in chunk]
    assert sorted(ids) == list(range(1, 201))


def test_cli_prints_credentials_and_serves(tmp_path):
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "airflow_provider_bitrix24.emulator",
            "--port",
            "0",
            "--seed-deals",
            "10",
            "--no-limits",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        lines = [proc.stdout.readline() for _ in range(7)]  # type: ignore[union-attr]
        webhook = next(line.split()[-1] for line in lines if "webhook URL" in line)
        assert any("client_secret=" in line for line in lines) and any(
            "refresh token" in line for line in lines
        )
        body = requests.post(webhook + "crm.deal.list", json={"start": -1}, timeout=5).json()
        assert len(body["result"]) == 10
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_https_with_a_server_certificate(tls_certificate):
    import ssl

    import pytest

    from airflow_provider_bitrix24.emulator import Emulator

    cert, key = tls_certificate
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    with Emulator(ssl_context=context) as emu:
        assert emu.url.startswith("https://127.0.0.1:")
        body = requests.post(emu.webhook_url + "user.current", json={}, verify=str(cert), timeout=5).json()
        assert body["result"]["ID"] == "1"
        with pytest.raises(requests.exceptions.SSLError):
            requests.post(emu.webhook_url + "user.current", json={}, timeout=5)  # untrusted certificate
        assert (
            requests.post(emu.webhook_url + "server.time", json={}, verify=str(cert), timeout=5).status_code
            == 200
        )
