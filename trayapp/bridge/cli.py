"""``trayapp-bridge``: serve, manage tokens, simulate Acquire (the benchmark is ``scripts/bench-bridge``).

    trayapp-bridge serve [--host H] [--port P] [--data-dir D] [--max-body B] [--retention-days N]
                         [--secret-file F] [--event-table F] [--tls-cert F --tls-key F] [--demo]
                         [--queue-size 1024] [--ping-interval 20] [--ping-timeout 20] [--redis-url URL]
                         [--bad-signature-burst 20] [--bad-signature-rate 1] [--max-sockets-per-token 20]
                         [--max-unverified-per-address 8] [--head-timeout 5] [--body-timeout S]
                         [--tls-handshake-timeout 5] [--keep-alive-timeout 30] [--max-connections 10000]
                         [--max-connections-per-address 128] [--conversation-url TEMPLATE]
    trayapp-bridge token add NAME [--data-dir D | --redis-url URL] [--url URL] [--departments A,B] [--json]
    trayapp-bridge token list [--data-dir D | --redis-url URL] [--json]
    trayapp-bridge token revoke NAME [--data-dir D | --redis-url URL]

``--redis-url`` (or ``$TRAYAPP_REDIS_URL``) selects the shared Redis store instead of SQLite in the data dir.
``serve`` waits for an unreachable Redis (see :mod:`.server`); the ``token`` commands exit 2 with a clear message.
    trayapp-bridge simulate --url URL --secret S [--interval 3] [--count N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from trayapp.core import wire
from trayapp.core.link import build_link

from .. import logs
from . import config as cfg
from .errors import BridgeError
from .scope import parse_departments
from .server import read_url_file
from .store import Store
from .store_factory import REDIS_URL_ENV, make_store, redis_url_from
from .tokens import new_token, token_hash, valid_name

DEFAULT_URL = "http://127.0.0.1:8787"

LOG_LEVELS = ("debug", "info", "warning", "error")
# serve's flags that map one to one onto a BridgeConfig field (defaults: the field's, see config.default)
SERVE_FLAGS: tuple[tuple[str, Any, str], ...] = (
    ("--host", str, "address to listen on"),
    ("--port", int, "0 takes a free port"),
    ("--max-body", int, "largest webhook body in bytes"),
    ("--retention-days", float, "events are kept this long; it is also the dedupe and replay window"),
    ("--tls-cert", str, "serve HTTPS with this certificate chain (PEM)"),
    ("--tls-key", str, "... and this key"),
    ("--queue-size", int, "frames buffered per socket before 4008"),
    ("--ping-interval", float, "seconds between WebSocket pings"),
    ("--ping-timeout", float, "close a socket whose pong is this late"),
    ("--demo", bool, "also serve /demo/case/{id} pages"),
    ("--access-log", bool, "log every request to stderr"),
    ("--log-level", str, "how much to log to stderr"),
    ("--bad-signature-burst", int, "bad webhook signatures one address may send before it gets 429 (0: no limit)"),
    ("--bad-signature-rate", float, "... and how many more it may send per second after that"),
    ("--max-sockets-per-token", int, "open streams per token (and process); one more is refused with 429 (0: no "
                                     "limit)"),
    ("--max-unverified-per-address", int, "webhooks one address may have in flight before their signature is "
                                          "checked; more wait for a slot (0: no limit)"),
    ("--head-timeout", float, "seconds a request line and headers may take to arrive; then 408 and close"),
    ("--body-timeout", float, "seconds a request body may take (default: head timeout + max body / 64 KiB/s)"),
    ("--tls-handshake-timeout", float, "seconds a TLS handshake may take"),
    ("--keep-alive-timeout", float, "seconds an idle HTTP keep-alive connection stays open"),
    ("--max-connections", int, "open connections per process, HTTP and WebSocket (also bound by ulimit -n); one more "
                               "is refused with 503"),
    ("--max-connections-per-address", int, "open connections per peer address (trusted proxies exempt); one more is "
                                           "refused with 429 (0: no limit)"),
    ("--conversation-url", str, "where a click on an alert goes, for every app: {case_id} and {account} are filled "
                                "in; sent to the apps in a signed frame after hello"),
)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="trayapp-bridge", description="Acquire webhooks in, signed event stream out.")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("serve", help="run the bridge")
    s.add_argument("--data-dir", help=f"default: ${cfg.ENV_DATA} or the user data dir")
    s.add_argument("--secret-file", help=f"webhook secrets, one a line, commas kept (also ${cfg.ENV_SECRET}, "
                                         "comma-separated)")
    s.add_argument("--event-table", help="JSON file extending the event name table")
    for flag, kind, text in SERVE_FLAGS:
        name = flag[2:].replace("-", "_")
        if kind is bool:
            s.add_argument(flag, action="store_true", help=text)
        else:
            shown = cfg.default(name)
            s.add_argument(flag, type=kind, choices=LOG_LEVELS if flag == "--log-level" else None,
                           help=text + (f" (default: {shown})" if shown is not None else ""))
    redis_help = f"store everything in Redis (several bridges share it; also ${REDIS_URL_ENV})"
    s.add_argument("--redis-url", help=redis_help)

    t = sub.add_parser("token", help="manage client tokens").add_subparsers(dest="token_command", required=True)
    ta = t.add_parser("add", help="create a token; prints it once with a connection link")
    ta.add_argument("name")
    ta.add_argument("--url", help="bridge URL for the link (default: the running serve's, else " + DEFAULT_URL + ")")
    ta.add_argument("--departments", help="comma-separated: the token reads only these departments' events and "
                                          "unassigned ones (default: all)")
    tl = t.add_parser("list", help="list tokens (names and dates only)")
    tr = t.add_parser("revoke", help="revoke a token; its sockets close with 4001 within 1 s")
    tr.add_argument("name")
    for q in (ta, tl, tr):
        q.add_argument("--data-dir")
        q.add_argument("--redis-url", help=redis_help)
        q.add_argument("--json", action="store_true")

    sim = sub.add_parser("simulate", help="post realistic signed Acquire webhooks to a bridge")
    sim.add_argument("--url", required=True, help="bridge base URL or the full webhook URL")
    sim.add_argument("--secret", help=f"webhook secret (default: ${cfg.ENV_SECRET})")
    sim.add_argument("--interval", type=float, default=3.0)
    sim.add_argument("--count", type=int, default=0, help="stop after N webhooks (0: run until Ctrl+C)")

    return p


async def _with_store(data_dir: Path, redis_url: str | None, fn: Any) -> Any:
    store = make_store(data_dir=data_dir, redis_url=redis_url)
    await store.open()
    try:
        return await fn(store)
    finally:
        await store.close()


def _token(args: argparse.Namespace) -> int:
    data_dir = Path(args.data_dir).expanduser() if args.data_dir else cfg.default_data_dir()
    redis_url = redis_url_from(args.redis_url)
    if args.token_command == "add":
        if not valid_name(args.name):
            raise BridgeError("token names are 1-100 letters, digits, spaces or . _ @ + -")
        departments = parse_departments(args.departments) if args.departments is not None else ()
        token = new_token()

        async def add(store: Store) -> str:
            await store.add_token(args.name, token_hash(token), departments)
            return wire.key_to_text((await store.signing_key()).public_key())

        key = asyncio.run(_with_store(data_dir, redis_url, add))
        url = args.url or read_url_file(data_dir) or DEFAULT_URL
        link = build_link(url, token, key)
        if args.json:
            print(json.dumps({"name": args.name, "token": token, "link": link, "key": key,
                              "departments": list(departments)}))
        else:
            print(f"token for {args.name} (shown only once): {token}")
            if departments:
                print(f"scoped to the departments {', '.join(departments)} (and unassigned events)")
            print(f"connection link: {link}")
        return 0
    if args.token_command == "list":
        rows = asyncio.run(_with_store(data_dir, redis_url, lambda s: s.list_tokens()))
        if args.json:
            print(json.dumps([{"name": r.name, "created_at": r.created_at, "revoked_at": r.revoked_at,
                               "departments": list(r.departments)} for r in rows]))
        elif not rows:
            print("no tokens")
        else:
            for r in rows:
                state = f"revoked {r.revoked_at}" if r.revoked_at else "active"
                scope = f"\tdepartments {', '.join(r.departments)}" if r.departments else ""
                print(f"{r.name}\tcreated {r.created_at}\t{state}{scope}")
        return 0
    revoked = asyncio.run(_with_store(data_dir, redis_url, lambda s: s.revoke_token(args.name)))
    if args.json:
        print(json.dumps({"name": args.name, "revoked": revoked}))
    elif revoked:
        print(f"revoked {args.name}")
    else:
        print(f"no active token named {args.name}", file=sys.stderr)
    return 0 if revoked else 1


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "serve":
            from .server import run

            options = {name: getattr(args, name) for name in (flag[2:].replace("-", "_") for flag, _, _ in SERVE_FLAGS)}
            options = {name: None if value is False else value for name, value in options.items()}
            config = cfg.from_args(
                data_dir=args.data_dir, secret_file=args.secret_file, event_table=args.event_table,
                redis_url=redis_url_from(args.redis_url), **options,
            )
            config.require_secret()
            return run(config)
        if args.command == "token":
            return _token(args)
        if args.command == "simulate":
            from .simulator import run_simulator

            return int(run_simulator(args.url, args.secret, args.interval, args.count))
    except BridgeError as exc:
        print(f"trayapp-bridge: {logs.redact(exc.reason)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 2


if __name__ == "__main__":
    logging.basicConfig(stream=sys.stderr)
    sys.exit(main())
