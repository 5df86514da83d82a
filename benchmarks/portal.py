"""The benchmark's portal: the project's emulator in its own process, served over TLS on 127.0.0.1.

Run by ``run.py``; it prints one JSON line with the address and webhook, then obeys JSON-line
commands on stdin (one reply line each):

* ``{"op": "prepare", "deals": N, "scale": s}`` -- fresh portal (empty tables, empty request log,
  new leaky bucket and operating-time meters), the realistic cost model at ``scale``, the cloud
  limits (50 burst, 2/s, 480 s per method per 10 min) and ``N`` generated deals.
* ``{"op": "stats"}`` -- what the portal saw since ``prepare``: HTTP requests, method calls,
  COUNT queries, refusals.
* ``{"op": "quit"}``.

A separate process keeps the emulator's CPU work (JSON encoding, GIL) out of the measured client.
"""

from __future__ import annotations

import json
import ssl
import sys
import threading
import time
from collections import Counter
from pathlib import Path

from airflow_provider_bitrix24.emulator import CostModel, Emulator

RATE_LIMIT = {"burst": 50, "per_second": 2}
OPERATING_LIMIT = 480.0


def start(cert: Path, key: Path) -> tuple[Emulator, str]:
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    emu = Emulator(port=0, ssl_context=tls).start()
    return emu, emu.url


_since = [0.0]  # requests that started before the last prepare belong to an earlier scenario
_cpu = [0.0]  # the portal process's CPU time at the last prepare


def prepare(emu: Emulator, deals: int, scale: float) -> dict:
    emu.reset()
    emu.configure(
        rate_limit=RATE_LIMIT, operating_limit=OPERATING_LIMIT, cost=CostModel.realistic(scale=scale)
    )
    if deals:
        emu.seed_generated("crm.deal", deals)
    emu.clear_requests()
    _since[0] = time.time()
    _cpu[0] = time.process_time()
    return {"ok": True, "deals": deals}


def _requests_in_flight(settle: float = 3.0) -> int:
    """Connection threads still busy once the client is gone (they sleep out modelled cost)."""
    deadline = time.monotonic() + settle
    while True:
        busy = sum(1 for t in threading.enumerate() if "process_request_thread" in t.name)
        if not busy or time.monotonic() >= deadline:
            return busy
        time.sleep(0.05)


def stats(emu: Emulator) -> dict:
    # A client stopped at its time cap may leave requests sleeping in the server; they finish
    # later and must not be counted against the next scenario.
    in_flight = _requests_in_flight()
    records = [r for r in emu.requests if r.timestamp >= _since[0]]
    calls = Counter()
    ok_calls = Counter()
    refused = Counter()
    count_queries = 0
    for record in records:
        if record.http_status == 503:
            refused["QUERY_LIMIT_EXCEEDED" if record.error == "QUERY_LIMIT_EXCEEDED" else "503"] += 1
        for call in record.sub_calls if record.is_batch else [record]:
            calls[call.method] += 1
            if call.ok:
                ok_calls[call.method] += 1
            elif call.error == "OPERATION_TIME_LIMIT":
                refused["OPERATION_TIME_LIMIT"] += 1
            count_queries += bool(call.count_query)
    return {
        "http_requests": len(records),
        "in_flight": in_flight,  # accepted but unanswered when the client finished or was stopped
        "batch_requests": sum(1 for r in records if r.is_batch),
        "calls": dict(calls),
        "ok_calls": dict(ok_calls),
        "count_queries": count_queries,
        "refused": dict(refused),
        "server_busy_s": round(sum(r.duration for r in records), 3),
        "portal_cpu_s": round(time.process_time() - _cpu[0], 3),
    }


def main() -> None:
    cert, key = Path(sys.argv[1]), Path(sys.argv[2])
    emu, url = start(cert, key)
    reply = {"url": url, "user_id": emu.webhook_user_id, "code": emu.webhook_code}
    print(json.dumps(reply), flush=True)
    for line in sys.stdin:
        command = json.loads(line)
        op = command.get("op")
        if op == "prepare":
            reply = prepare(emu, int(command.get("deals", 0)), float(command["scale"]))
        elif op == "stats":
            reply = stats(emu)
        elif op == "quit":
            break
        else:
            reply = {"error": f"unknown op {op!r}"}
        print(json.dumps(reply), flush=True)
    emu.stop()


if __name__ == "__main__":
    main()
