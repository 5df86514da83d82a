"""``python -m airflow_provider_bitrix24.emulator --port N``: run a portal in the foreground.

Prints the webhook URL, the OAuth app credentials and a fresh token pair to this console only:
they are credentials of a local fake portal, never of a real one.
"""

from __future__ import annotations

import argparse
import ssl

from .core import Emulator


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m airflow_provider_bitrix24.emulator", description="Local Bitrix24 portal emulator"
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8024)
    parser.add_argument("--seed-deals", type=int, default=0, help="generate this many crm.deal rows")
    parser.add_argument("--no-limits", action="store_true", help="disable the rate and operating-time limits")
    parser.add_argument("--certfile", help="serve HTTPS with this PEM certificate (and --keyfile)")
    parser.add_argument("--keyfile")
    args = parser.parse_args(argv)

    context = None
    if args.certfile:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.certfile, args.keyfile)
    emulator = Emulator(port=args.port, host=args.host, ssl_context=context)
    if args.no_limits:
        emulator.configure(rate_limit=None, operating_limit=None)
    if args.seed_deals:
        emulator.seed_generated("crm.deal", args.seed_deals)
    emulator.start()
    access, refresh = emulator.issue_tokens(expires_in=3600)
    print(f"Bitrix24 emulator on {emulator.url}", flush=True)
    print(f"  webhook URL:    {emulator.webhook_url}")
    print(f"  OAuth app:      client_id={emulator.client_id} client_secret={emulator.client_secret}")
    print(f"  token endpoint: {emulator.token_url}")
    print(f"  access token:   {access}")
    print(f"  refresh token:  {refresh}")
    if args.seed_deals:
        print(f"  seeded {args.seed_deals} crm.deal rows")
    print("Ctrl+C to stop.", flush=True)
    try:
        emulator.wait()
    except KeyboardInterrupt:
        pass
    finally:
        emulator.stop()


if __name__ == "__main__":
    main()
