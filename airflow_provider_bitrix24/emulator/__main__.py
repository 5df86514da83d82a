"""``python -m airflow_provider_bitrix24.emulator --port N``: run a portal in the foreground.

Prints the webhook URL, the OAuth app credentials and a fresh token pair to this console only:
they are credentials of a local fake portal, never of a real one.
"""

from __future__ import annotations

import argparse
import ssl

from .core import Emulator
from .server import DEFAULT_REDIRECT_URI


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m airflow_provider_bitrix24.emulator",
        description="Run a local Bitrix24 portal emulator in the foreground (Ctrl+C stops it).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    parser.add_argument(
        "--port", type=int, default=8024, help="port to listen on; 0 picks a free one (default: %(default)s)"
    )
    parser.add_argument(
        "--seed-deals", type=int, default=0, metavar="N", help="generate N crm.deal rows at start"
    )
    parser.add_argument(
        "--no-limits", action="store_true", help="disable the rate limit and the operating-time limit"
    )
    parser.add_argument(
        "--webhook-code",
        metavar="CODE",
        help="fixed inbound webhook code (letters and digits), so saved connections survive restarts; "
        "default: a new random code on every start",
    )
    parser.add_argument(
        "--webhook-user",
        type=int,
        metavar="ID",
        default=None,
        help="user id of the inbound webhook, the portal administrator (default: 1)",
    )
    parser.add_argument(
        "--redirect-uri",
        default=DEFAULT_REDIRECT_URI,
        metavar="URI",
        help="the OAuth application's redirect URI, where /oauth/authorize/ sends the browser back with "
        "a code (default: %(default)s, the authorize command's default)",
    )
    parser.add_argument(
        "--certfile", metavar="PEM", help="serve HTTPS with this PEM certificate (needs --keyfile)"
    )
    parser.add_argument("--keyfile", metavar="PEM", help="private key of --certfile")
    return parser


def main(argv: list[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.certfile and not args.keyfile:
        parser.error("--certfile needs --keyfile")

    context = None
    if args.certfile:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.certfile, args.keyfile)
    try:
        emulator = Emulator(
            port=args.port,
            host=args.host,
            ssl_context=context,
            webhook_user_id=args.webhook_user,
            webhook_code=args.webhook_code,
            redirect_uri=args.redirect_uri,
        )
    except ValueError as exc:
        parser.error(str(exc))
    if args.no_limits:
        emulator.configure(rate_limit=None, operating_limit=None)
    if args.seed_deals:
        emulator.seed_generated("crm.deal", args.seed_deals)
    emulator.start()
    access, refresh = emulator.issue_tokens(expires_in=3600)
    print(f"Bitrix24 emulator on {emulator.url}", flush=True)
    print(f"  webhook URL:    {emulator.webhook_url}")
    print(f"  OAuth app:      client_id={emulator.client_id} client_secret={emulator.client_secret}")
    print(f"  authorize URL:  {emulator.authorize_url} (redirects to {emulator.redirect_uri})")
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
