#!/usr/bin/env python3
"""Triggerer figures: deferred Bitrix24 sensors served by one event loop.

    python3 benchmarks/triggerer.py                  # 200 stage sensors at 0.2 s latency, 50 cancelled
    python3 benchmarks/triggerer.py --json           # the figures as one JSON line

Runs :class:`Bitrix24PollTrigger` s in one event loop of this process, as Airflow's triggerer
does, against the emulator in a child process (its HTTP threads would otherwise share this
process's GIL with the loop being measured), over real HTTP with a fixed reply latency:

* ``fire``: ``--sensors`` stage sensors on deals in stage NEW; once each has looked, all deals
  turn WON; the figure is the time until every trigger has fired (the portal's limits are off:
  this measures the triggerer, not the portal).
* ``cancel``: ``--cancelled`` triggers whose looks the portal keeps refusing for rate
  (``QUERY_LIMIT_EXCEEDED``, under a client-side limit of 10 burst, 5/s) are cancelled; the figure
  is the time until all have ended, and the threads still busy or alive afterwards.
* ``stall``: the longest gap of a 10 ms heartbeat task in the loop during either run.

``run.py`` appends these figures to its report; ``tests/triggers_async`` runs this script and
checks them against generous bounds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import sys
import threading
import time
from multiprocessing.connection import Connection
from typing import Any

CONN_ID = "bitrix24_triggerer_bench"


# ------------------------------------------------------------------------------------ the portal


def _portal_main(pipe: Connection, latency: float) -> None:
    """Child process: the emulator, driven by (op, args) messages on ``pipe``."""
    from airflow_provider_bitrix24.emulator import CostModel, Emulator

    with Emulator(port=0) as emu:
        emu.configure(rate_limit=None, operating_limit=None, cost=CostModel(latency=latency))
        pipe.send({"url": emu.url, "user": emu.webhook_user_id, "code": emu.webhook_code})
        while True:
            op, args = pipe.recv()
            if op == "quit":
                return
            if op == "seed":
                pipe.send(emu.seed("crm.deal", [{"TITLE": f"d{i}", "STAGE_ID": "NEW"} for i in range(args)]))
            elif op == "won":
                table = emu.table("crm.deal")
                with emu.portal.lock:
                    for deal_id in args:
                        table.update(deal_id, {"STAGE_ID": "WON"})
                pipe.send(True)
            elif op == "calls":
                pipe.send(len(emu.calls(args)))
            elif op == "refuse":
                emu.inject_fault(status=503, error="QUERY_LIMIT_EXCEEDED", count=10**6, method=args)
                pipe.send(True)
            elif op == "reset":
                emu.reset()
                emu.configure(rate_limit=None, operating_limit=None, cost=CostModel(latency=latency))
                pipe.send(True)


class Portal:
    """The emulator in a child process (spawned: no state of this process leaks into it)."""

    def __init__(self, latency: float) -> None:
        context = multiprocessing.get_context("spawn")
        self._pipe, child = context.Pipe()
        self._process = context.Process(target=_portal_main, args=(child, latency), daemon=True)
        self._process.start()
        self.info = self._pipe.recv()
        self._lock = threading.Lock()

    def ask(self, op: str, args: Any = None) -> Any:
        with self._lock:
            self._pipe.send((op, args))
            return self._pipe.recv()

    async def aask(self, op: str, args: Any = None) -> Any:
        """:meth:`ask` from the loop: a tiny blocking exchange, kept out of the loop thread's way."""
        return await asyncio.get_running_loop().run_in_executor(None, self.ask, op, args)

    def close(self) -> None:
        try:
            self.ask("quit")
        except (EOFError, OSError):
            pass
        self._process.join(5)
        if self._process.is_alive():
            self._process.terminate()

    def use_connection(self, extra: dict) -> None:
        conn = {
            "conn_type": "bitrix24",
            "host": self.info["url"],
            "login": str(self.info["user"]),
            "password": self.info["code"],
            "extra": {"auth_type": "webhook", **extra},
        }
        os.environ[f"AIRFLOW_CONN_{CONN_ID.upper()}"] = json.dumps(conn)


# ------------------------------------------------------------------------------------ measuring


class Heartbeat:
    """Ticks every 10 ms in the loop and keeps the longest extra gap between two ticks."""

    def __init__(self) -> None:
        self.longest = 0.0
        self._task: asyncio.Task | None = None

    async def _beat(self) -> None:
        last = time.perf_counter()
        while True:
            await asyncio.sleep(0.01)
            now = time.perf_counter()
            self.longest = max(self.longest, now - last - 0.01)
            last = now

    def __enter__(self) -> Heartbeat:
        self._task = asyncio.get_running_loop().create_task(self._beat())
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()


async def _first_event(trigger: Any) -> dict:
    agen = trigger.run()
    try:
        event = await agen.__anext__()
    finally:
        await agen.aclose()
    return event.payload


def _triggers(deal_ids: list[int], poll_interval: float) -> list[Any]:
    from airflow_provider_bitrix24.polling.probes import CrmStageProbe
    from airflow_provider_bitrix24.triggers.bitrix24 import Bitrix24PollTrigger

    return [
        Bitrix24PollTrigger(CrmStageProbe("deal", deal_id, ["WON"]), CONN_ID, poll_interval=poll_interval)
        for deal_id in deal_ids
    ]


def _run(main: Any) -> Any:
    """Run ``main`` in a fresh loop closed without waiting for its pool threads (``asyncio.run``
    would wait for a thread stuck in a blocking call, hiding the figure behind a hang)."""
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(main)
    finally:
        loop.close()


def measure_fire(portal: Portal, sensors: int, poll_interval: float = 1.0) -> dict:
    portal.ask("reset")
    portal.use_connection({"rate_limit": False})
    deal_ids = portal.ask("seed", sensors)
    triggers = _triggers(deal_ids, poll_interval)

    async def main() -> dict:
        with Heartbeat() as heartbeat:
            started = time.monotonic()
            tasks = [asyncio.create_task(_first_event(t)) for t in triggers]
            deadline = started + 120
            while await portal.aask("calls", "crm.deal.get") < sensors and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            first_round = time.monotonic() - started  # every sensor has looked once
            setup_stall, heartbeat.longest = heartbeat.longest, 0.0
            await portal.aask("won", deal_ids)
            won_at = time.monotonic()
            payloads = await asyncio.wait_for(asyncio.gather(*tasks), 120)
            fired = time.monotonic() - won_at
            return {
                "sensors": sensors,
                "first_round_s": round(first_round, 3),
                "fired_s": round(fired, 3),
                "fired_ok": sum(p.get("status") == "success" for p in payloads),
                "stall_s": round(max(setup_stall, heartbeat.longest), 3),
                "stall_after_setup_s": round(heartbeat.longest, 3),
            }

    return _run(main())


def measure_cancel(portal: Portal, triggers_n: int) -> dict:
    portal.ask("reset")
    # Each look is held back by the client-side limiter or refused by the portal and backs off.
    portal.use_connection({"max_retries": 50, "rate_limit": {"burst": 10, "per_second": 5}})
    portal.ask("refuse", "crm.deal.get")
    deal_ids = portal.ask("seed", triggers_n)
    triggers = _triggers(deal_ids, 1.0)
    before = set(threading.enumerate())

    async def main() -> dict:
        with Heartbeat() as heartbeat:
            tasks = [asyncio.create_task(_first_event(t)) for t in triggers]
            deadline = time.monotonic() + 60
            while await portal.aask("calls", "crm.deal.get") < triggers_n and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            waiting = sum(not task.done() for task in tasks)
            started = time.monotonic()
            for task in tasks:
                task.cancel()
            await asyncio.wait(tasks, timeout=30)
            took = time.monotonic() - started
            # Every worker thread of the loop must be idle: shutting the pool down returns at once.
            try:
                await asyncio.wait_for(asyncio.get_running_loop().shutdown_default_executor(), 1.0)
                pool_idle = True
            except asyncio.TimeoutError:
                pool_idle = False
            left = [t.name for t in threading.enumerate() if t not in before and t.is_alive()]
            return {
                "cancelled": triggers_n,
                "waiting_when_cancelled": waiting,
                "ended": sum(task.done() for task in tasks),
                "cancel_s": round(took, 3),
                "pool_idle": pool_idle,
                "threads_left": left,
                "stall_s": round(heartbeat.longest, 3),
            }

    return _run(main())


def measure(sensors: int = 200, latency: float = 0.2, cancelled: int = 50) -> dict:
    portal = Portal(latency)
    try:
        return {
            "latency_s": latency,
            "fire": measure_fire(portal, sensors),
            "cancel": measure_cancel(portal, cancelled),
        }
    finally:
        portal.close()


def report_lines(figures: dict, command: str) -> list[str]:
    """The figures as a Markdown section (appended to ``run.py``'s report)."""
    fire, cancel = figures["fire"], figures["cancel"]
    return [
        "",
        "## Triggerer",
        "",
        f"`{command}`: deferred stage sensors in one event loop, portal latency {figures['latency_s']} s.",
        "",
        "| Scenario | Figure | Longest loop stall |",
        "|---|---|---|",
        f"| triggerer {fire['sensors']} sensors: deals turn WON -> all fired | {fire['fired_s']:.2f} s "
        f"({fire['fired_ok']}/{fire['sensors']} fired; first round of looks {fire['first_round_s']:.2f} s) "
        f"| {fire['stall_s']:.3f} s |",
        f"| cancel {cancel['cancelled']} triggers waiting on a rate-limited portal | {cancel['cancel_s']:.3f} s "
        f"({cancel['ended']}/{cancel['cancelled']} ended; worker threads idle: {cancel['pool_idle']}; "
        f"threads left: {len(cancel['threads_left'])}) | {cancel['stall_s']:.3f} s |",
        "",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sensors", type=int, default=200)
    parser.add_argument("--latency", type=float, default=0.2, help="seconds the portal takes per reply")
    parser.add_argument("--cancelled", type=int, default=50)
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON line")
    args = parser.parse_args()
    figures = measure(args.sensors, args.latency, args.cancelled)
    if args.json:
        print(json.dumps(figures))
    else:
        command = "python3 benchmarks/triggerer.py " + " ".join(sys.argv[1:])
        print("\n".join(report_lines(figures, command.strip())))


if __name__ == "__main__":
    main()
