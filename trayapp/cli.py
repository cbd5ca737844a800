"""The ``trayapp`` command.

- ``trayapp``: the tray app; starts quietly in the tray (a first-run dialog when not set up).
- ``trayapp demo``: an embedded bridge, a simulator posting signed webhooks and the tray connected to it.
- ``trayapp listen [--link LINK] ...``: headless, prints verified events as JSON lines (no Qt).
- ``trayapp connect LINK`` (or ``trayapp trayapp://connect?...``, as the URL-scheme handler runs it): use a link.
- ``--version``, ``--debug`` (log at DEBUG, also to stderr).

One instance per user: a second launch hands its arguments to the running one and exits 0.
Qt is imported only by the commands that show something.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any

from trayapp import __version__
from trayapp.logs import setup_logging, setup_stderr_logging

log = logging.getLogger("trayapp")

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="trayapp", description="Acquire case alerts on your desktop.")
    parser.add_argument("--version", action="version", version=f"trayapp {__version__}")
    parser.add_argument("--debug", action="store_true", help="log everything, also to stderr")
    parser.add_argument("--settings", action="store_true", help="open the settings window (of the running app)")
    parser.add_argument("--list", action="store_true", help="open the event list (of the running app)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = sub.add_parser("demo", help="try it: an embedded bridge + simulated Acquire webhooks, no setup")
    demo.add_argument("--interval", type=float, default=6.0, help="seconds between simulated webhooks (default 6)")
    demo.add_argument("--no-simulator", action="store_true", help="do not post webhooks (tests post their own)")
    listen = sub.add_parser("listen", help="headless: print verified events as JSON lines")
    try:
        from trayapp.client.listen import add_listen_arguments

        add_listen_arguments(listen)
    except ImportError:  # pragma: no cover - client not installed
        listen.add_argument("--link")
    connect = sub.add_parser("connect", help="use a connection link (trayapp://connect?...)")
    connect.add_argument("link")
    return parser


_GLOBAL_FLAGS = frozenset({"--debug", "--settings", "--list"})
_COMMANDS = frozenset({"demo", "listen", "connect"})


def _normalise(argv: list[str]) -> list[str]:
    """``trayapp trayapp://connect?...`` (the URL-scheme handler) means ``trayapp connect LINK``."""
    if any(a in _COMMANDS for a in argv):
        return argv  # a command was given: its own arguments may be links (``listen --link LINK``)
    links = [a for a in argv if a.startswith("trayapp://")]
    if links:
        rest = [a for a in argv if not a.startswith("trayapp://")]
        return [*rest, "connect", links[-1]]
    return argv


#: Given by :func:`reexec_without_secrets` to the process it becomes: the fd to read the real arguments from.
ARGS_FD = "--args-fd"
_MAX_HANDED_ARGS = 16 * 1024  # bytes written to a pipe before exec: well within its buffer (links are ~200)


def _secret(arg: str) -> bool:
    """A connection link or anything carrying a token (``trayapp://…``, ``--link=…``, ``…token=…``)."""
    return "trayapp://" in arg or "token=" in arg.lower()


def read_handed_args(argv: list[str]) -> list[str]:
    """``argv`` itself, or — after :func:`reexec_without_secrets` — the real arguments read (once) from the fd
    named by ``--args-fd``."""
    if len(argv) < 2 or argv[0] != ARGS_FD:
        return argv
    fd = int(argv[1])
    with os.fdopen(fd, "rb") as pipe:
        handed = json.loads(pipe.read().decode("utf-8"))
    if not isinstance(handed, list) or not all(isinstance(a, str) for a in handed):
        raise SystemExit("trayapp: bad arguments handed over")
    return handed


def reexec_without_secrets(args: list[str]) -> None:
    """On POSIX, become a process whose command line has no link or token in it (``/proc/PID/cmdline`` is
    readable by every local user): the arguments go through a pipe to the same program, exec'd with
    ``--args-fd N`` and the secrets replaced by ``<link>``. The pid stays the same (the URL handler or the shell
    keep waiting for it). Returns without doing anything when nothing is secret, on Windows (other users cannot
    read a process's command line there), or when the exec fails (then the arguments stay as they were)."""
    if os.name != "posix" or not any(_secret(a) for a in args):
        return
    data = json.dumps(args).encode("utf-8")
    if len(data) > _MAX_HANDED_ARGS:
        log.warning("arguments too long to hand over privately: kept on the command line")
        return
    shown = ["<link>" if _secret(a) else a for a in args]
    if getattr(sys, "frozen", False):
        command = [sys.executable, ARGS_FD, "", *shown]
    else:
        # -P: the current directory does not shadow the installed package (a "trayapp" folder where it was started)
        command = [sys.executable, "-P", "-m", "trayapp", ARGS_FD, "", *shown]
    read_end, write_end = os.pipe()
    try:
        os.write(write_end, data)
        os.close(write_end)
        os.set_inheritable(read_end, True)
        command[command.index(ARGS_FD) + 1] = str(read_end)
        sys.stdout.flush()
        sys.stderr.flush()
        os.execv(command[0], command)
    except OSError as exc:  # pragma: no cover - exec of our own interpreter failed
        print(f"trayapp: cannot restart without the link on the command line: {exc}", file=sys.stderr)
        with contextlib.suppress(OSError):
            os.close(read_end)


def main(argv: Sequence[str] | None = None) -> int:
    if argv is None:  # the real process: its command line must not keep a token
        reexec_without_secrets(sys.argv[1:])
    args_list = _normalise(read_handed_args(list(sys.argv[1:] if argv is None else argv)))
    flags = {a for a in args_list if a in _GLOBAL_FLAGS}  # accepted before or after the command
    args = build_parser().parse_args([a for a in args_list if a not in _GLOBAL_FLAGS])
    for flag in flags:
        setattr(args, flag[2:], True)
    if args.command == "listen":
        from trayapp.client.listen import run_listen

        if args.debug:
            setup_stderr_logging(logging.DEBUG)
        return run_listen(args)
    if args.command == "demo":
        from trayapp.demo.app import run_demo

        setup_logging(args.debug)
        return run_demo(args, args_list)
    from trayapp import settings as settings_mod

    settings = settings_mod.load()
    setup_logging(args.debug, settings.log_level)
    log.info("trayapp %s starting (%s)", __version__, args.command or "tray")
    return run_tray(args_list, link=getattr(args, "link", None))


# --- Qt commands ------------------------------------------------------------------------------


def _qapp() -> Any:
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication
    from PySide6.QtWidgets import QApplication

    QGuiApplication.setHighDpiScaleFactorRoundingPolicy(Qt.HighDpiScaleFactorRoundingPolicy.PassThrough)
    existing = QApplication.instance()
    app = existing if isinstance(existing, QApplication) else QApplication([sys.argv[0] if sys.argv else "trayapp"])
    app.setApplicationName("trayapp")
    app.setApplicationDisplayName("trayapp")
    app.setOrganizationName("trayapp")
    app.setApplicationVersion(__version__)
    app.setDesktopFileName("io.acquire.trayapp")  # packaging/linux/io.acquire.trayapp.desktop
    app.setQuitOnLastWindowClosed(False)
    from trayapp.ui.icons import app_icon

    app.setWindowIcon(app_icon())
    return app


def _quit_on_signals(app: Any, quit_fn: Any) -> Any:
    """SIGINT/SIGTERM quit cleanly: the wakeup fd wakes Qt's loop (no polling timer)."""
    import signal
    import socket

    from PySide6.QtCore import QSocketNotifier

    if not hasattr(signal, "SIGTERM") or sys.platform == "win32":  # pragma: no cover
        return None
    reader, writer = socket.socketpair()
    reader.setblocking(False)
    writer.setblocking(False)
    signal.set_wakeup_fd(writer.fileno())
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: None)
    notifier = QSocketNotifier(reader.fileno(), QSocketNotifier.Type.Read, app)

    def woke() -> None:
        with contextlib.suppress(OSError):
            reader.recv(64)
        log.info("signal received: quitting")
        quit_fn()

    notifier.activated.connect(woke)
    return (reader, writer, notifier)


def _single_instance(app: Any, argv: list[str], suffix: str) -> tuple[bool, Any]:
    """``(True, None)`` when a running instance took ``argv``; else ``(False, listener)`` — the first instance's
    listener, or ``None`` when there is no private place for one."""
    from trayapp.ui.single_instance import InstanceError, SingleInstance, send_to_running, server_name

    try:
        name = server_name(suffix)
    except InstanceError as exc:  # starting matters more than being the only one: alerts must not stop
        log.warning("single instance: %s; starting without handing over to a running app", exc)
        print(f"trayapp: cannot check for a running trayapp ({exc}); starting anyway.", file=sys.stderr)
        return False, None
    if send_to_running(argv, name):
        return True, None
    instance = SingleInstance(name, app)
    instance.listen()
    return False, instance


def run_tray(argv: list[str], link: str | None = None) -> int:
    qapp = _qapp()
    handed_over, instance = _single_instance(qapp, argv, "")
    if handed_over:
        print("trayapp is already running: handed over to it.", file=sys.stderr)
        return 0
    from trayapp import settings as settings_mod
    from trayapp.ui.app import TrayApp
    from trayapp.ui.client_service import ClientService

    settings = settings_mod.load()
    client = ClientService(settings)
    app = TrayApp(client, settings, instance=instance)
    keep = _quit_on_signals(qapp, app.quit)
    app.start()
    app.handle_arguments(argv, first=True)
    if link and "connect" not in argv:
        app.use_link(link)
    rc = int(qapp.exec())
    del keep
    return rc


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
