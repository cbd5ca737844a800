"""``trayapp listen``: headless — print every verified event as one JSON line. Imports no Qt.

Entry points for ``trayapp/cli.py``::

    add_listen_arguments(parser: argparse.ArgumentParser) -> None   # adds the options below to a sub-parser
    run_listen(args: argparse.Namespace | Sequence[str] | None = None) -> int   # runs until stopped; exit code

``python -m trayapp.client.listen [options]`` works too. Options:

- ``--link LINK``: connect with this connection link (else the stored settings + the token in the keyring);
- ``--ca-file F``: extra CA / pinned certificate for a ``wss://`` bridge (default: the settings' one);
- ``--data-dir D``: keep a resume cursor in ``D/listen.sqlite3`` (never the tray app's own history), so a restarted
  listener continues where it stopped; without it the cursor lives in memory (reconnects still resume);
- ``--since N``: on the first connection replay the retained events after seq N (``--since 0``: all of them);
- ``--once N``: exit 0 after printing N events; ``--timeout S``: exit 1 after S seconds if not done;
- ``--keep-trying``: when the bridge cannot be reached at start, keep retrying instead of exiting 6.

stdout, one line per verified event, flushed: ``{"seq":N,"id":"...","received_at":"...","event":{...}}`` (the event as
derived from the signed body, ``core.event.Event.to_json()``). stderr: JSON lines with ``"type"`` = ``state`` (with
``problem``), ``gap``, ``caught_up``, ``cases`` (the verified snapshot of every open case, on a first start and after
a gap: ``{"type":"cases","epoch":E,"head":H,"cases":[...],"omitted":N}``), ``verification_failed``,
``event_skipped`` (an alert that could not be shown; the stream goes on), ``exit`` (the code and why), plus log
messages.

Exit codes (:data:`EXIT_CODES`, also in ``--help``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from trayapp.model.connection import ConnectionState, ConnectionStatus, Problem

from ..core import wire
from ..core.cases import Snapshot
from ..core.errors import BadLink
from ..core.event import ReceivedEvent
from ..core.link import parse_link
from ..logs import setup_stderr_logging
from ..model.rows import HistoryRow
from .connection import Connection, ConnectionConfig, EventStore
from .errors import ClientError
from .history import Cursor, History, MemoryCursor

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_TIMEOUT = 1
EXIT_CONFIG = 2
EXIT_REFUSED = 3
EXIT_REVOKED = 4
EXIT_KEY_MISMATCH = 5
EXIT_UNREACHABLE = 6
EXIT_INTERNAL = 7
#: Exit code -> what it means (``--help`` prints this).
EXIT_CODES = {
    EXIT_OK: "stopped (SIGINT/SIGTERM, or --once reached)",
    EXIT_TIMEOUT: "--timeout expired",
    EXIT_CONFIG: "not configured, bad link, or a keyring / data-dir problem",
    EXIT_REFUSED: "token refused: the bridge does not know this token (HTTP 401)",
    EXIT_REVOKED: "revoked: the token was turned off (HTTP 403, or close 4001 while listening)",
    EXIT_KEY_MISMATCH: "key mismatch: the bridge's signed hello does not verify with the link's key",
    EXIT_UNREACHABLE: "unreachable: the bridge could not be reached at start (see --keep-trying)",
    EXIT_INTERNAL: "internal error (a bug, or the --data-dir history cannot be written; see the log)",
}
_EXIT_FOR: dict[Problem | None, int] = {
    Problem.TOKEN_REFUSED: EXIT_REFUSED,
    Problem.REVOKED: EXIT_REVOKED,
    Problem.KEY_MISMATCH: EXIT_KEY_MISMATCH,
    Problem.UNREACHABLE: EXIT_UNREACHABLE,
    Problem.INTERNAL: EXIT_INTERNAL,
}


def add_listen_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--link", help="a trayapp://connect?... link (default: the stored connection)")
    parser.add_argument("--ca-file", help="extra CA / pinned certificate (PEM) for a wss:// bridge")
    parser.add_argument("--data-dir", help="keep the resume cursor in DIR/listen.sqlite3")
    parser.add_argument("--since", type=int, help="first connection: replay retained events after this seq")
    parser.add_argument("--once", type=int, metavar="N", help="exit after N events")
    parser.add_argument("--timeout", type=float, metavar="S", help="exit 1 after S seconds if not done")
    parser.add_argument("--keep-trying", action="store_true",
                        help="keep retrying when the bridge cannot be reached at start (default: exit 6)")
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = "exit codes:\n" + "\n".join(f"  {code}  {words}" for code, words in EXIT_CODES.items())


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="trayapp listen", description="Print verified events as JSON lines.")
    add_listen_arguments(parser)
    parser.add_argument("--debug", action="store_true", help="debug logging on stderr")
    return parser


class _Printer:
    """Listener: events to stdout, everything else to stderr, as JSON lines."""

    def __init__(self, out: TextIO, err: TextIO, once: int | None, done: asyncio.Event,
                 keep_trying: bool = False) -> None:
        self.out, self.err = out, err
        self.once = once
        self.done = done
        self.keep_trying = keep_trying
        self.connected = False
        self.printed = 0
        self.exit_code = EXIT_OK

    @staticmethod
    def _write(stream: TextIO, data: dict[str, Any]) -> None:
        try:
            stream.write(json.dumps(data, ensure_ascii=False) + "\n")
        except UnicodeEncodeError:  # a console that cannot show every character: JSON escapes instead
            stream.write(json.dumps(data) + "\n")
        stream.flush()

    def _err(self, data: dict[str, Any]) -> None:
        self._write(self.err, data)

    def on_state(self, status: ConnectionStatus) -> None:
        problem = status.problem.value if status.problem else None
        self._err({"type": "state", "state": status.state.value, "since": status.since.isoformat(),
                   "detail": status.detail, "problem": problem})
        if status.state is ConnectionState.CONNECTED:
            self.connected = True
        stop = status.state is ConnectionState.ERROR or (
            status.problem is Problem.UNREACHABLE and not self.connected and not self.keep_trying)
        if stop and not self.done.is_set():
            self.exit_code = _EXIT_FOR.get(status.problem, EXIT_INTERNAL)
            self._err({"type": "exit", "code": self.exit_code, "reason": problem or "internal",
                       "detail": status.detail})
            self.done.set()

    def on_event(self, row: HistoryRow, replay: bool) -> None:
        if self.done.is_set():
            return
        received = row.event
        line = {"seq": received.seq, "id": received.id, "received_at": received.received_at}
        line["event"] = received.event.to_json()
        self._write(self.out, line)
        self.printed += 1
        if self.once is not None and self.printed >= self.once:
            self.done.set()

    def on_caught_up(self, count: int) -> None:
        self._err({"type": "caught_up", "count": count})

    def on_gap(self, gap: wire.Gap) -> None:
        self._err(
            {
                "type": "gap",
                "from": gap.first,
                "to": gap.last,
                "reason": gap.reason,
                "message": "some alerts could not be recovered",
            }
        )

    def on_verification_failed(self, reason: str) -> None:
        self._err({"type": "verification_failed", "reason": reason})

    def on_event_skipped(self, event_id: str, reason: str) -> None:
        self._err({"type": "event_skipped", "id": event_id, "reason": reason,
                   "message": "1 alert could not be shown"})

    def on_test_alert(self, received: ReceivedEvent) -> None:
        self._err({"type": "test_alert", "id": received.id, "received_at": received.received_at})

    def on_config(self, conversation_url: str) -> None:
        self._err({"type": "config", "conversation_url": conversation_url})

    def on_cases(self, snapshot: Snapshot) -> None:
        if not self.done.is_set():
            self._err({"type": "cases", **snapshot.to_json()})


def _config(args: argparse.Namespace) -> ConnectionConfig:
    if args.link:
        link = parse_link(args.link)
        return ConnectionConfig(bridge_url=link.url, token=link.token, key=link.key, ca_file=args.ca_file)
    from .. import settings as settings_mod
    from . import credentials

    settings = settings_mod.load()
    if not settings.configured:
        raise ClientError("not connected yet: run `trayapp connect LINK` or pass --link")
    token = credentials.load_token(settings.bridge_url)
    if not token:
        raise ClientError(f"no token for {settings.bridge_url} in the keyring: run `trayapp connect LINK` again")
    return ConnectionConfig(
        bridge_url=settings.bridge_url, token=token, key=settings.key, ca_file=args.ca_file or settings.ca_file
    )


async def listen(
    config: ConnectionConfig,
    store: EventStore,
    *,
    once: int | None = None,
    timeout: float | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
    keep_trying: bool = False,
) -> int:
    """Run until ``once`` events were printed, ``timeout`` expired, the connection needs a new link (exit code by
    :class:`~trayapp.model.connection.Problem`), the bridge cannot be reached at start, or SIGINT/SIGTERM."""
    done = asyncio.Event()
    printer = _Printer(out or sys.stdout, err or sys.stderr, once, done, keep_trying)
    connection = Connection(config, store, printer)
    loop = asyncio.get_running_loop()
    handled: list[signal.Signals] = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(signum, done.set)
            handled.append(signum)
        except (NotImplementedError, RuntimeError, ValueError):  # Windows / not the main thread
            pass
    task = asyncio.create_task(connection.run())
    try:
        try:
            await asyncio.wait_for(done.wait(), timeout)
        except TimeoutError:
            return EXIT_TIMEOUT
        return printer.exit_code
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        for signum in handled:
            loop.remove_signal_handler(signum)


def run_listen(args: argparse.Namespace | Sequence[str] | None = None) -> int:
    """The ``trayapp listen`` command; ``args`` from :func:`add_listen_arguments` (or an argv list)."""
    if args is None or not isinstance(args, argparse.Namespace):
        args = _parser().parse_args(args)
    if not logging.getLogger().handlers:
        setup_stderr_logging(logging.DEBUG if getattr(args, "debug", False) else logging.WARNING)
    try:
        config = _config(args)
        config.check()
    except (ClientError, BadLink) as exc:
        sys.stderr.write(f"trayapp listen: {exc}\n")
        return EXIT_CONFIG
    store: EventStore
    history: History | None = None
    if args.data_dir:
        try:
            history = History(Path(args.data_dir) / "listen.sqlite3")
        except ClientError as exc:
            sys.stderr.write(f"trayapp listen: {exc}\n")
            return EXIT_CONFIG
        store = history
        if args.since is not None and history.cursor() is None:
            history.skip_to("", args.since)
    else:
        store = MemoryCursor(Cursor("", args.since) if args.since is not None else None)
    try:
        return asyncio.run(listen(config, store, once=args.once, timeout=args.timeout,
                                  keep_trying=getattr(args, "keep_trying", False)))
    except KeyboardInterrupt:
        return EXIT_OK
    finally:
        if history is not None:
            history.close()


def main(argv: Sequence[str] | None = None) -> int:
    return run_listen(list(argv) if argv is not None else None)


if __name__ == "__main__":
    sys.exit(main())
