"""Turns measured scenario rows into ``RESULTS.md``. Every figure comes from a row; nothing is typed in."""

from __future__ import annotations

import math
import os
import platform
import sys
import time
from importlib import metadata
from pathlib import Path

import psutil

MB = 1024 * 1024
CLIENT_NAMES = {
    "ours": "this provider `paginate` / `batch`",
    "ours_windows": "this provider, proposed windowed `paginate`",
    "ours_k8": "this provider, `paginate_parallel=8` (the former default)",
    "decode_only": "reference: decode + write only (replies fetched before the clock)",
    "naive": "naive `start` offset loop",
    "fast_bitrix24": "fast_bitrix24 `get_all` / `call`",
    "b24pysdk": "b24pysdk `call_list_fast` / `call_batches`",
}
STREAM_LIMIT_MB = 50
OURS = ("ours", "ours_windows")
NOT_PEERS = (*OURS, "ours_k8", "decode_only")  # variants and references, not compared as peers


def _fmt_s(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds:.2f}" if seconds < 100 else f"{seconds:.0f}"


def _ratio(value: float | None, floor: float) -> str:
    return f"{value / floor:.2f}" if value and floor > 0 else "-"


def _rate(row: dict) -> float | None:
    wall, rows = row.get("wall_s"), row.get("rows")
    return rows / wall if wall and rows else None


def _growth_mb(row: dict) -> float | None:
    if row.get("rss_peak") is None:
        return None
    return (row["rss_peak"] - row["rss_base"]) / MB


def _status(row: dict) -> str:
    if row.get("skipped"):
        return "skipped"
    if row.get("timed_out"):
        return f"stopped at the {row['cap_s']:.0f} s cap ({row['rows']:,} rows)"
    if row.get("error"):
        return "failed: " + row["error"].replace("|", "/")[:120]
    return "ok" if row.get("correct") else "WRONG DATA"


def progress_line(label: str, row: dict) -> str:
    stats = row["stats"]
    rate = _rate(row)
    growth = _growth_mb(row)
    return (
        f"{label}  {_fmt_s(row.get('wall_s')):>7} s  {rate or 0:>9,.0f} rows/s  "
        f"{stats['http_requests']:>5} req  {stats['count_queries']:>5} COUNT  "
        f"x{_ratio(row.get('wall_s'), row['floor']['floor_s'])} floor  "
        f"RSS +{growth or 0:.0f} MB  {_status(row)}"
    )


def _machine() -> str:
    model = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = psutil.virtual_memory().total / 1024**3
    return (
        f"{os.cpu_count()} cores ({model}), {ram:.0f} GiB RAM, {platform.system()} {platform.release()}, "
        f"Python {sys.version.split()[0]}"
    )


def _versions() -> str:
    names = ("airflow-provider-bitrix24", "fast_bitrix24", "b24pysdk", "requests", "aiohttp")
    parts = []
    for name in names:
        try:
            parts.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            parts.append(f"{name} (not installed)")
    return ", ".join(parts)


def _spread(row: dict) -> str:
    """`` (a-b)`` when the scenario ran several times (the row is the median run)."""
    runs = [w for w in row.get("wall_runs") or [] if w is not None]
    return f" ({_fmt_s(min(runs))}-{_fmt_s(max(runs))})" if len(runs) > 1 else ""


def _row_cells(row: dict) -> list[str]:
    stats, floor = row["stats"], row["floor"]
    refused = stats["refused"]
    wall = row.get("wall_s")
    rate = _rate(row)
    growth = _growth_mb(row)
    return [
        CLIENT_NAMES[row["client"]],
        f"{row['n']:,}",
        _status(row),
        f"{stats['http_requests']:,}"
        + (f" (+{stats['in_flight']} unanswered)" if stats.get("in_flight") else ""),
        f"{sum(stats['calls'].values()):,}",
        f"{stats['count_queries']:,}",
        f"{refused.get('QUERY_LIMIT_EXCEEDED', 0)}/{refused.get('OPERATION_TIME_LIMIT', 0)}",
        _fmt_s(wall) + _spread(row),
        f"{rate:,.0f}" if rate else "-",
        _fmt_s(floor["floor_s"]),
        _ratio(wall, floor["floor_s"]),
        _ratio(wall, floor["serial_floor_s"]),
        _fmt_s(row.get("cpu_s")),
        _fmt_s(stats.get("portal_cpu_s")),
        f"{growth:.1f}" if growth is not None else "-",
    ]


HEADER = [
    "client",
    "N",
    "result",
    "HTTP requests",
    "method calls",
    "COUNT queries",
    "refused 503/429",
    "wall s",
    "rows/s",
    "floor s",
    "x floor",
    "x serial floor",
    "client CPU s",
    "portal CPU s",
    "peak RSS growth MB",
]


def _table(rows: list[dict]) -> list[str]:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    for row in rows:
        if row.get("skipped"):
            cells = [CLIENT_NAMES[row["client"]], f"{row['n']:,}", "not run: stopped at a smaller N"] + [
                "-"
            ] * (len(HEADER) - 3)
        else:
            cells = _row_cells(row)
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _speedups(rows: list[dict], op: str) -> list[str]:
    """Each peer's wall time over ours, per size (a ratio above 1 means ours is faster)."""
    lines = []
    for ours in rows:
        if (
            ours["op"] != op
            or ours["client"] not in OURS
            or ours.get("skipped")
            or ours.get("error")
            or ours.get("timed_out")
        ):
            continue
        parts = []
        for peer in rows:
            if (
                peer["op"] != op
                or peer["n"] != ours["n"]
                or peer["client"] in NOT_PEERS
                or peer.get("skipped")
            ):
                continue
            if peer.get("timed_out") or peer.get("error"):
                parts.append(f"{peer['client']} did not finish ({_status(peer)})")
            else:
                parts.append(
                    f"{peer['client']} {_fmt_s(peer['wall_s'])} s ({peer['wall_s'] / ours['wall_s']:.1f}x)"
                )
        if parts:
            lines.append(
                f"- {op} N={ours['n']:,}, {ours['client']} {_fmt_s(ours['wall_s'])} s vs " + ", ".join(parts)
            )
    return lines


def _client_bound(rows: list[dict], row: dict) -> list[str]:
    """What the floor leaves out: the rows still have to be decoded and written once they arrive."""
    decode = next(
        (
            r
            for r in rows
            if r["client"] == "decode_only"
            and r["n"] == row["n"]
            and r.get("wall_s")
            and not r.get("error")
            and not r.get("timed_out")
        ),
        None,
    )
    floor, wall = row["floor"]["floor_s"], row.get("wall_s")
    if decode is None or not wall or floor <= 0:
        return []
    bound = floor + decode["wall_s"]
    return [
        f"  - in the floor's schedule every reply lands at {_fmt_s(floor)} s; decoding and writing the "
        f"{row['n']:,} rows then takes {_fmt_s(decode['wall_s'])} s here (reference row), so a reader that follows it "
        f"ends at {_fmt_s(bound)} s at best ({bound / floor:.2f}x the floor); this read took {wall / bound:.2f}x that, "
        f"and the portal, on the same cores, spent {_fmt_s(row['stats'].get('portal_cpu_s'))} s of CPU serving it"
    ]


# Targets: a read within the burst (N <= 125,000) within 1.3x its floor, and from 100,000 rows
# (where a page-at-a-time reader needs dozens of batch service times and a windowed one needs
# one) at least 3x faster than every peer; beyond the burst, where the operating limit sets the
# pace, within 1.1x; writes within 1.3x their floor and no slower than fast_bitrix24, up to the
# run-to-run spread of a one-second scenario on a shared machine (5%).
READ_FLOOR_X, BIG_READ_FLOOR_X, PEER_SPEEDUP, WRITE_FLOOR_X = 1.3, 1.1, 3.0, 1.3
BURST_ROWS, PEER_CHECK_ROWS, NOISE = 125_000, 100_000, 0.05


def _peer_check(
    rows: list[dict], row: dict, peers: tuple[str, ...], factor: float, tolerance: float = 0.0
) -> str:
    """Whether ``row`` is ``factor`` times faster than each peer at the same op and N (less ``tolerance``)."""
    wall = row.get("wall_s") or float("inf")
    parts = []
    for peer in peers:
        other = next(
            (r for r in rows if r["client"] == peer and r["op"] == row["op"] and r["n"] == row["n"]), None
        )
        if other is None or other.get("skipped"):
            continue
        if _unfinished_row(other):
            parts.append(f"{peer} did not finish (pass)")
            continue
        ratio = (other.get("wall_s") or 0.0) / wall
        verdict = "pass" if ratio >= factor * (1 - tolerance) else "FAIL"
        needs = f"{factor:g}x" + (f" less {tolerance:.0%}" if tolerance else "")
        parts.append(f"{peer} takes {ratio:.2f}x our time (needs {needs}: {verdict})")
    return "; ".join(parts) or "no peer run"


def _unfinished_row(row: dict) -> bool:
    return bool(row.get("timed_out") or row.get("error"))


def _checks(rows: list[dict]) -> list[str]:
    out = []
    peers = tuple(c for c in CLIENT_NAMES if c not in NOT_PEERS and c != "naive")
    for row in rows:
        if row["client"] not in OURS or row.get("skipped"):
            continue
        n, stats = row["n"], row["stats"]
        wall = row.get("wall_s") or float("inf")
        ratio = wall / row["floor"]["floor_s"] if row["floor"]["floor_s"] > 0 else float("inf")
        if row["op"] != "read":
            limit = WRITE_FLOOR_X
            out.append(
                f"- {row['client']} {row['op']} N={n:,}: {stats['http_requests']} HTTP requests, "
                f"{ratio:.2f}x the floor ({'pass' if ratio <= limit else f'above {limit}x'}), "
                f"{_peer_check(rows, row, ('fast_bitrix24',), 1.0, NOISE)}, data {_status(row)}"
            )
            continue
        budget = math.ceil(n / 2500) + 2
        limit = READ_FLOOR_X if n <= BURST_ROWS else BIG_READ_FLOOR_X
        out.append(
            f"- {row['client']} read N={n:,}: {stats['http_requests']} HTTP requests (budget {budget}: "
            f"{'pass' if stats['http_requests'] <= budget else 'FAIL'}), {stats['count_queries']} COUNT queries "
            f"({'pass' if stats['count_queries'] == 0 else 'FAIL'}), {ratio:.2f}x the floor "
            f"({'pass' if ratio <= limit else f'above {limit}x'}), data {_status(row)}"
        )
        if PEER_CHECK_ROWS <= n <= BURST_ROWS:
            out.append(f"  - vs peers: {_peer_check(rows, row, peers, PEER_SPEEDUP)}")
        out.extend(_client_bound(rows, row))
    for client in OURS:
        candidates = [r for r in rows if r["client"] == client and r["op"] == "read" and not r.get("skipped")]
        biggest = max(candidates, key=lambda r: r["n"], default=None)
        if biggest is None or _growth_mb(biggest) is None:
            continue
        growth = _growth_mb(biggest)
        out.append(
            f"- {client} streaming: reading {biggest['n']:,} rows into JSON Lines grew peak RSS by {growth:.1f} MB "
            f"(limit {STREAM_LIMIT_MB} MB: {'pass' if growth < STREAM_LIMIT_MB else 'FAIL'})"
        )
    return out


def _growth_table(rows: list[dict]) -> list[str]:
    reads = [r for r in rows if r["op"] == "read"]
    sizes = sorted({r["n"] for r in reads})
    clients = [c for c in CLIENT_NAMES if any(r["client"] == c for r in reads)]
    head = ["client"] + [f"N={n:,}: wall s / req / RSS MB" for n in sizes]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for client in clients:
        cells = [client]
        for n in sizes:
            row = next((r for r in reads if r["client"] == client and r["n"] == n), None)
            if row is None or row.get("skipped"):
                cells.append("not run")
                continue
            mark = "" if not (row.get("timed_out") or row.get("error")) else " (unfinished)"
            growth = _growth_mb(row)
            cells.append(
                f"{_fmt_s(row.get('wall_s'))} / {row['stats']['http_requests']} / "
                f"{'-' if growth is None else f'{growth:.0f}'}{mark}"
            )
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def write(
    path: Path,
    rows: list[dict],
    *,
    limits,
    scale: float,
    command: str,
    cap: float,
    elapsed: float,
    load: list,
) -> None:
    reads = [r for r in rows if r["op"] == "read"]
    writes = [r for r in rows if r["op"] != "read"]
    lines = [
        "# Benchmark results",
        "",
        "Generated by `benchmarks/run.py`; do not edit by hand. How to read it: `benchmarks/README.md`.",
        "",
        f"- Command: `{command}`",
        f"- Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; whole run {elapsed / 60:.1f} min",
        f"- Machine: {_machine()}; load average (1 min) {' -> '.join(f'{x:.1f}' for x in load)} "
        "(start -> end of the run; the emulator, the client and anything else running share these cores)",
        f"- Versions: {_versions()}",
        f"- Portal: the project's emulator over HTTPS on 127.0.0.1, `CostModel.realistic(scale={scale})`: "
        f"latency {limits.latency * 1000:.1f} ms per HTTP request, {limits.per_call * 1000:.1f} ms per method call, "
        f"{limits.per_row * 1e6:.0f} us per row, COUNT {limits.count_per_row * 1e6:.2f} us per table row; "
        f"leaky bucket {limits.burst:.0f} burst / {limits.per_second:g} per s; operating limit "
        f"{limits.operating_limit:.0f} s per method per {limits.operating_window / 60:.0f} min.",
        f"- A scenario still running after {cap:.0f} s (or 1.3x its floor + 20 s, if longer) is stopped and reported with the rows it had delivered; "
        "a client stopped at one N is not run at larger N.",
        "",
        "## Acceptance checks",
        "",
        *_checks(rows),
        "",
        "## Speed-ups",
        "",
        *_speedups(rows, "read"),
        *_speedups(rows, "create"),
        *_speedups(rows, "update"),
        "",
        "## Bulk read of N deals (8 fields, JSON Lines sink)",
        "",
        *_table(reads),
        "",
        "## Bulk create / update of deals",
        "",
        "### create",
        "",
        *_table([r for r in writes if r["op"] == "create"]),
        "",
        "### update",
        "",
        *_table([r for r in writes if r["op"] == "update"]),
        "",
        "## Growth with N (reads)",
        "",
        *_growth_table(rows),
        "",
    ]
    path.write_text("\n".join(lines))
