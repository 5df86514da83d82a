"""Reads stated as the REST calls they make, run by a synchronous or an asynchronous sender.

A poller's logic (what to ask the portal and how to read its replies) is written once, as a
generator that yields :class:`Call` s and receives their replies: a *plan*. :func:`run` sends its
calls with a hook (a sensor's poke, an operator), :func:`run_async` with the async client (the
triggerer, where no thread may be held while a call waits). An error of a call is raised inside
the plan at the ``yield``, so the plan's own ``try``/``except`` sees it in both. Nothing here
imports Airflow.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from airflow_provider_bitrix24.client.paging import PAGE_SIZE, page_records

T = TypeVar("T")

#: What a sent :class:`Call` hands back to the plan.
Reply = Literal["result", "envelope", "page"]


@dataclass(frozen=True)
class Call:
    """One REST call of a plan and the reply it wants: the envelope's ``result``, the whole
    ``envelope`` (``next``, ``total``), or the records of one list ``page`` (the first
    :data:`~airflow_provider_bitrix24.client.paging.PAGE_SIZE`, params giving ``start``)."""

    method: str
    params: dict
    reply: Reply = "result"


#: A plan: yields calls, receives their replies, returns its value.
Steps = Generator[Call, Any, T]


def run(steps: Steps[T], hook: Any) -> T:
    """The plan's value, its calls sent with ``hook`` (its synchronous client)."""
    try:
        call = next(steps)
        while True:
            try:
                reply = _send(hook, call)
            except Exception as err:
                call = steps.throw(err)
            else:
                call = steps.send(reply)
    except StopIteration as done:
        return done.value


async def run_async(steps: Steps[T], client: Any) -> T:
    """The plan's value, its calls sent with ``client`` (an async client) on the event loop."""
    try:
        call = next(steps)
        while True:
            try:
                reply = await _send_async(client, call)
            except Exception as err:
                call = steps.throw(err)
            else:
                call = steps.send(reply)
    except StopIteration as done:
        return done.value


def _send(hook: Any, call: Call) -> Any:
    if call.reply == "envelope":
        return hook.call_raw(call.method, call.params)
    if call.reply == "page":
        return list(hook.paginate(call.method, call.params, limit=PAGE_SIZE))
    return hook.call(call.method, call.params)


async def _send_async(client: Any, call: Call) -> Any:
    if call.reply == "envelope":
        return await client.call_raw(call.method, call.params)
    if call.reply == "page":
        envelope = await client.call_raw(call.method, call.params)
        return page_records(call.method, envelope.get("result"))[:PAGE_SIZE]
    return await client.call(call.method, call.params)


def every_row(
    method: str, params: dict, enough: Callable[[list[dict]], bool] | None = None
) -> Steps[list[dict]]:
    """The records of a list method paged with ``start``/``next``, in the portal's order: all of
    them, or the pages read until ``enough(rows so far)`` holds."""
    rows: list[dict] = []
    start: int | None = 0
    while start is not None and not (enough and enough(rows)):
        envelope = yield Call(method, {**params, "start": start}, "envelope")
        page = page_records(method, envelope.get("result") if isinstance(envelope, dict) else None)
        rows.extend(page)
        nxt = envelope.get("next") if isinstance(envelope, dict) else None
        start = int(nxt) if nxt not in (None, "", 0) and page and int(nxt) > start else None
    return rows
