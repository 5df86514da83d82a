#!/usr/bin/env python3
"""Many-workers figures: worker processes that share nothing, each given the portal's whole limit.

    python3 benchmarks/many_workers.py                   # 4 and 8 processes, adaptive and static limiter
    python3 benchmarks/many_workers.py --processes 4     # 4 processes only
    python3 benchmarks/many_workers.py --repeat 3        # each configuration 3 times, the median run
    python3 benchmarks/many_workers.py --json            # the figures as one JSON line

Each worker is a separate interpreter with its own client, as on Celery or Kubernetes workers on
different hosts: configured with the whole limit of a portal of burst 20 draining 10 requests/s
(process scope), it makes 40 ``user.current`` calls at once with the others. The figures are the
share of requests the portal refused and the wall time against the floor the portal's own limit
allows ((calls - burst) / rate), once with the default adaptive limiter and once with the static
one (``"adaptive": false``).

The measurement is ``measure_uncoordinated_workers`` in tests/reliability/reliability_helpers.py,
the same one ``test_many_workers.py`` bounds; this script runs it against an emulator started in
this process. ``run.py`` appends these figures to its report.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "reliability"))

from reliability_helpers import CALLS, SHARED_PORTAL, measure_uncoordinated_workers  # noqa: E402

LIMITERS = {"adaptive (default)": {}, "static": {"adaptive": False}}


def measure(processes: list[int], repeat: int = 1) -> dict:
    """Each configuration ``repeat`` times on a fresh portal; its row is the median run by wall
    time, with every run's refused share and wall time in ``runs`` (the spread on a shared machine)."""
    from airflow_provider_bitrix24.emulator import Emulator

    rows = []
    with tempfile.TemporaryDirectory(prefix="b24-many-workers-") as tmp, Emulator(port=0) as emu:
        for n in processes:
            for limiter, extra in LIMITERS.items():
                runs = []
                for k in range(repeat):
                    emu.reset()
                    emu.configure(rate_limit=None, operating_limit=None)
                    figures = measure_uncoordinated_workers(
                        emu, Path(tmp) / f"{n}-{limiter[:6]}-{k}", n, {**SHARED_PORTAL, **extra}
                    )
                    runs.append({"processes": n, "limiter": limiter, **figures})
                    print(progress_line(runs[-1]), file=sys.stderr, flush=True)
                runs.sort(key=lambda r: r["seconds"])
                spread = [{"refused_share": r["refused_share"], "seconds": r["seconds"]} for r in runs]
                rows.append({**runs[len(runs) // 2], "runs": spread})
    date = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    return {"portal": SHARED_PORTAL, "calls": CALLS, "repeat": repeat, "date": date, "rows": rows}


def progress_line(row: dict) -> str:
    return (
        f"many workers {row['processes']} x {CALLS} {row['limiter']:18}  refused {row['refused_share']:4.0%}  "
        f"{row['seconds']:5.1f} s  x{row['vs_floor']:.2f} floor  errors {len(row['errors'])}"
    )


def _spread(values: list[float], fmt: str) -> str:
    return f" ({fmt.format(min(values))}-{fmt.format(max(values))})" if len(values) > 1 else ""


def report_lines(figures: dict, command: str) -> list[str]:
    """The figures as a Markdown section (appended to ``run.py``'s report)."""
    portal, calls = figures["portal"], figures["calls"]
    lines = [
        "",
        "## Many workers",
        "",
        f"`{command}` ({figures['date']}): worker processes that share nothing, each configured with the whole limit of a "
        f"portal of burst {portal['burst']} at {portal['per_second']:g} requests/s (process scope), "
        f"{calls} calls each at once; floor = (calls - burst) / rate. "
        + (
            f"Each row ran {figures['repeat']} times on a fresh portal: the median run by wall time, "
            "the fastest and slowest (refused share, wall time) in brackets."
            if figures["repeat"] > 1
            else "One run per row."
        ),
        "",
        "| Processes x calls | Limiter | Calls succeeded | Refused | Wall s | Floor s | x floor |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in figures["rows"]:
        total = row["processes"] * calls
        succeeded = total - len(row["errors"])
        lines.append(
            f"| {row['processes']} x {calls} | {row['limiter']} | {succeeded}/{total} "
            f"| {row['refused_share']:.0%}{_spread([r['refused_share'] for r in row['runs']], '{:.0%}')} "
            f"| {row['seconds']:.1f}{_spread([r['seconds'] for r in row['runs']], '{:.1f}')} "
            f"| {row['floor']:.0f} | {row['vs_floor']:.2f} |"
        )
    lines.append("")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--processes", type=lambda s: [int(x) for x in s.split(",")], default=[4, 8], help="e.g. 4,8"
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs per configuration (median reported)")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON line")
    args = parser.parse_args()
    figures = measure(args.processes, args.repeat)
    if args.json:
        print(json.dumps(figures))
    else:
        command = "python3 benchmarks/many_workers.py " + " ".join(sys.argv[1:])
        print("\n".join(report_lines(figures, command.strip())))


if __name__ == "__main__":
    main()
