"""A worker process for the multi-process tests (run as ``python portal_worker.py CONFIG_JSON``).

It builds its own OAuth client on the shared FileTokenStore, as an Airflow worker process would,
then obeys one line per job on stdin and answers one JSON line on stdout:

* ``{"job": "calls", "threads": T, "calls": N}`` - N ``user.current`` calls from T threads at once.
* ``{"job": "work", "writes": W, "worker": k}`` - W ``crm.deal.add`` plus a full ``crm.deal.list``.
"""

from __future__ import annotations

import json
import sys
import threading
import time

from airflow_provider_bitrix24.client import Bitrix24Client, FileTokenStore, OAuth2Auth


def main() -> None:
    cfg = json.loads(sys.argv[1])
    auth = OAuth2Auth(
        cfg["client_id"],
        cfg["client_secret"],
        cfg["refresh"],
        cfg["access"],
        token_url=cfg["token_url"],
        store=FileTokenStore(cfg["store"]),
    )
    client = Bitrix24Client(
        cfg["url"],
        auth,
        rate_limit=cfg.get("rate_limit"),
        backoff_base=cfg.get("backoff_base", 0.05),
        backoff_max=cfg.get("backoff_max", 1.0),
        max_retries=cfg.get("max_retries", 8),
    )
    client.call("user.current")
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        job = json.loads(line)
        started = time.monotonic()
        errors: list[str] = []
        out: dict = {}
        if job["job"] == "calls":
            barrier = threading.Barrier(job["threads"])

            def calls(
                barrier: threading.Barrier = barrier, job: dict = job, errors: list[str] = errors
            ) -> None:
                barrier.wait()
                for _ in range(job["calls"]):
                    try:
                        client.call("user.current")
                    except Exception as exc:  # reported to the parent test
                        errors.append(f"{type(exc).__name__}: {exc}")

            threads = [threading.Thread(target=calls) for _ in range(job["threads"])]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        elif job["job"] == "work":
            ids = []
            for n in range(job["writes"]):
                try:
                    ids.append(client.call("crm.deal.add", {"fields": {"TITLE": f"w{job['worker']}-{n}"}}))
                except Exception as exc:
                    errors.append(f"{type(exc).__name__}: {exc}")
            out["ids"] = ids
            try:
                out["listed"] = len(list(client.paginate("crm.deal.list", {"select": ["ID"]})))
            except Exception as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
        out.update(
            errors=errors,
            refreshes=auth.refresh_count,
            seconds=time.monotonic() - started,
            requests=client.requests_sent,
        )
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
