"""One benchmark scenario in a fresh process: one client, one operation, one size.

``run.py`` starts ``python benchmarks/workloads.py '<json spec>'`` per scenario so that peak RSS
belongs to that client alone and a hopelessly slow peer can be stopped at its time cap. The
process prints ``PROGRESS <rows>`` about once a second and ``RESULT <json>`` at the end.

Every reader writes its rows to the same JSON Lines sink, so all clients pay the same output
cost, and the sink checks that each of the N ids arrived exactly once.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable
from pathlib import Path
from urllib.parse import urlencode

import msgspec  # ships with Airflow; the fastest JSON in this environment, for every client alike

SELECT = [
    "ID",
    "TITLE",
    "STAGE_ID",
    "OPPORTUNITY",
    "CURRENCY_ID",
    "ASSIGNED_BY_ID",
    "DATE_CREATE",
    "DATE_MODIFY",
]
LIST_METHOD = "crm.deal.list"


def current_rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)  # every thread of this process
    return usage.ru_utime + usage.ru_stime


def peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


class Sink:
    """JSON Lines output plus an exactly-once check on ids 1..expected.

    Rows are encoded with msgspec: with ``json.dumps`` the sink alone cost more per row than any
    client's decoding, which hid the clients' differences behind the harness."""

    _encode = msgspec.json.Encoder().encode

    def __init__(self, path: Path, expected: int) -> None:
        self.file = path.open("wb")
        self.seen = bytearray(expected + 1)
        self.rows = 0
        self.duplicates = 0
        self.strangers = 0

    def write(self, row: dict) -> None:
        self.file.write(self._encode(row))
        self.file.write(b"\n")
        self.rows += 1
        row_id = int(row.get("ID") or row.get("id") or 0)
        if 0 < row_id < len(self.seen):
            self.duplicates += self.seen[row_id]
            self.seen[row_id] = 1
        else:
            self.strangers += 1

    def close(self) -> dict:
        self.file.close()
        distinct = sum(self.seen)
        expected = len(self.seen) - 1
        return {
            "rows": self.rows,
            "distinct": distinct,
            "correct": distinct == expected and not self.duplicates and not self.strangers,
        }


# ---------------------------------------------------------------------------------------------- clients


def ours_client(spec: dict):
    from airflow_provider_bitrix24.client import Bitrix24Client, WebhookAuth

    return Bitrix24Client(
        spec["url"],
        WebhookAuth(user_id=spec["user_id"], code=spec["code"]),
        rate_limit={"burst": 50, "per_second": 2},
        progress_interval=3600,
        **({"paginate_parallel": spec["parallel"]} if spec.get("parallel") else {}),
    )


def fast_bitrix24_client(spec: dict):
    from fast_bitrix24 import Bitrix

    return Bitrix(f"{spec['url']}/rest/{spec['user_id']}/{spec['code']}/", verbose=False)


def b24pysdk_token(spec: dict):
    from b24pysdk.credentials import BitrixWebhook

    # b24pysdk always builds https://<domain>/rest/...; the domain may carry the port.
    return BitrixWebhook(
        domain=spec["url"].split("://", 1)[1], webhook_token=f"{spec['user_id']}/{spec['code']}"
    )


# ---------------------------------------------------------------------------------------------- reads


def read_ours(spec: dict) -> Callable[[], Iterable[dict]]:
    client = ours_client(spec)
    return lambda: client.paginate(LIST_METHOD, {"select": SELECT})


def read_naive(spec: dict) -> Callable[[], Iterable[dict]]:
    """The classic loop: start=0, 50, 100, ... until ``next`` disappears (a COUNT on every page)."""
    client = ours_client(spec)

    def rows() -> Iterable[dict]:
        start: int | None = 0
        while start is not None:
            envelope = client.call_raw(
                LIST_METHOD, {"select": SELECT, "order": {"ID": "ASC"}, "start": start}
            )
            yield from envelope.get("result") or []
            start = envelope.get("next")

    return rows


def read_fast_bitrix24(spec: dict) -> Callable[[], Iterable[dict]]:
    bx = fast_bitrix24_client(spec)
    return lambda: bx.get_all(LIST_METHOD, {"select": SELECT})  # the whole list, only when complete


def read_b24pysdk(spec: dict) -> Callable[[], Iterable[dict]]:
    token = b24pysdk_token(spec)
    return lambda: token.call_list_fast(LIST_METHOD, params={"select": SELECT})["result"]


# ---------------------------------------------------------------------------------------------- writes


def deal_fields(i: int) -> dict:
    return {"TITLE": f"Bench deal {i}", "OPPORTUNITY": 100 + i, "CURRENCY_ID": "USD", "STAGE_ID": "NEW"}


def write_commands(spec: dict) -> list[tuple[str, dict]]:
    n = spec["n"]
    if spec["op"] == "create":
        return [("crm.deal.add", {"fields": deal_fields(i)}) for i in range(1, n + 1)]
    return [
        ("crm.deal.update", {"id": i, "fields": {"TITLE": f"Updated deal {i}", "STAGE_ID": "WON"}})
        for i in range(1, n + 1)
    ]


def write_ours(spec: dict, commands: list) -> Callable[[], int]:
    client = ours_client(spec)

    def send() -> int:
        result = client.batch(commands)
        result.raise_for_errors()
        return len(result.result)

    return send


def write_fast_bitrix24(spec: dict, commands: list) -> Callable[[], int]:
    bx = fast_bitrix24_client(spec)
    method = commands[0][0]
    return lambda: len(bx.call(method, [params for _m, params in commands]))


def write_b24pysdk(spec: dict, commands: list) -> Callable[[], int]:
    token = b24pysdk_token(spec)

    def send() -> int:
        result = token.call_batches(commands)["result"]
        if result.get("result_error"):
            raise RuntimeError(f"{len(result['result_error'])} commands failed")
        return len(result["result"])

    return send


def read_decode_only(spec: dict) -> Callable[[], Iterable[dict]]:
    """The client-side minimum: the replies of the fewest requests (2,500 rows each) are fetched
    before the clock starts, from a private emulator with no cost model or limits; the timed part
    only decodes them (msgspec, the fastest decoder here) and hands the rows to the sink, as every
    reader must once bytes arrive."""
    import requests

    from airflow_provider_bitrix24.emulator import Emulator

    emu = Emulator(port=0).start()
    try:
        emu.configure(rate_limit=None, operating_limit=None, cost=None)
        emu.seed_generated("crm.deal", spec["n"])
        url = f"{emu.url}/rest/{emu.webhook_user_id}/{emu.webhook_code}/batch.json"
        bodies = []
        with requests.Session() as session:
            for first in range(1, spec["n"] + 1, 2500):
                commands = {
                    f"cmd[p{k}]": LIST_METHOD
                    + "?"
                    + urlencode(
                        [("select[]", name) for name in SELECT]
                        + [
                            ("order[ID]", "ASC"),
                            ("start", -1),
                            ("filter[>=ID]", first + 50 * k),
                            ("filter[<=ID]", first + 50 * k + 49),
                        ]
                    )
                    for k in range(min(50, -(-(spec["n"] - first + 1) // 50)))
                }
                reply = session.post(url, data={"halt": 1, **commands}, timeout=60)
                reply.raise_for_status()
                bodies.append(reply.content)
    finally:
        emu.stop()

    def rows() -> Iterable[dict]:
        for body in bodies:
            pages = msgspec.json.decode(body)["result"]["result"]
            for key in sorted(pages, key=lambda k: int(k[1:])):
                yield from pages[key]

    return rows


# Each factory builds its client (imports included) before the clock and the RSS baseline start.
READERS: dict[str, Callable[[dict], Callable[[], Iterable[dict]]]] = {
    "ours": read_ours,
    "ours_windows": read_ours,  # same code, run against the package with the proposal patch applied
    "ours_k8": read_ours,  # paginate_parallel from the spec (run.py sets it from the name)
    "decode_only": read_decode_only,
    "naive": read_naive,
    "fast_bitrix24": read_fast_bitrix24,
    "b24pysdk": read_b24pysdk,
}
WRITERS: dict[str, Callable[[dict, list], Callable[[], int]]] = {
    "ours": write_ours,
    "fast_bitrix24": write_fast_bitrix24,
    "b24pysdk": write_b24pysdk,
}


# ---------------------------------------------------------------------------------------------- driver


def _report_progress(counter: Callable[[], int], stop: threading.Event) -> None:
    while not stop.wait(1.0):
        print(f"PROGRESS {counter()}", flush=True)


def _emit(result: dict) -> None:
    print("RESULT " + json.dumps(result), flush=True)


def run(spec: dict) -> None:
    """Build the client, then time ``work`` alone; past ``spec["cap"]`` seconds report and exit."""
    if spec["op"] == "read":
        sink = Sink(Path(spec["sink"]), spec["n"])
        rows = READERS[spec["client"]](spec)

        def work() -> dict:
            for row in rows():
                sink.write(row)
            return sink.close()

        delivered = lambda: sink.rows  # noqa: E731
    else:
        send = WRITERS[spec["client"]](spec, write_commands(spec))

        def work() -> dict:
            written = send()
            return {"rows": written, "correct": written == spec["n"]}

        delivered = lambda: 0  # noqa: E731
    stop = threading.Event()
    threading.Thread(target=_report_progress, args=(delivered, stop), daemon=True).start()
    base, cpu = current_rss(), cpu_seconds()
    started = time.perf_counter()

    def measured(out: dict) -> dict:
        return {
            **out,
            "wall_s": time.perf_counter() - started,
            "cpu_s": cpu_seconds() - cpu,
            "rss_base": base,
            "rss_peak": peak_rss(),
        }

    def watchdog() -> None:
        if not stop.wait(spec["cap"]):
            _emit(measured({"timed_out": True, "rows": delivered(), "correct": False, "error": None}))
            os._exit(0)  # the client may be blocked in a sleep or a socket: do not wait for it

    threading.Thread(target=watchdog, daemon=True).start()
    try:
        out = {**work(), "error": None}
    except Exception as exc:  # reported, not raised: the driver records the failure
        traceback.print_exc(file=sys.stderr)
        out = {"rows": delivered(), "correct": False, "error": f"{type(exc).__name__}: {str(exc)[:300]}"}
    result = measured({**out, "timed_out": False})
    stop.set()
    _emit(result)


def main() -> None:
    spec = json.loads(sys.argv[1])
    import logging

    logging.basicConfig(level=logging.ERROR)  # peers log every retry at INFO/WARNING
    run(spec)


if __name__ == "__main__":
    main()
