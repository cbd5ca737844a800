"""``trayapp demo``: the tray app connected to a :class:`~trayapp.demo.bridge.DemoBridge` (an embedded bridge and a
simulator in this process, in a temporary dir); no prompts, nothing written to the user's settings or keyring."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from trayapp.demo.bridge import DemoBridge

log = logging.getLogger(__name__)


def simulate_once_connected(client: Any, bridge: DemoBridge, interval: float) -> None:
    """Start the simulator when the app first reports CONNECTED: a fresh install starts live (it does not replay
    the bridge's backlog), so a webhook posted before that would only reach the list of a later run."""
    from trayapp.model.connection import ConnectionState

    started: list[bool] = []

    def on_state(status: Any) -> None:
        if status.state is ConnectionState.CONNECTED and not started:
            started.append(True)
            bridge.start_simulator(interval)

    client.state_changed.connect(on_state)


def _prove_demo(bridge: DemoBridge) -> Any:
    """*Test connection* in the demo: its own connection (nothing is stored in the user's settings or keyring)."""
    from trayapp.client.connect import prove
    from trayapp.core.link import build_link

    return prove(build_link(bridge.url, bridge.token, bridge.key))


def run_demo(args: argparse.Namespace, argv: list[str]) -> int:
    """A bridge on 127.0.0.1:0 in a temporary dir, a simulator, and the tray connected to it; no prompts,
    nothing written to the user's settings or keyring."""
    import tempfile

    from trayapp.cli import _qapp, _quit_on_signals, _single_instance

    qapp = _qapp()
    handed_over, instance = _single_instance(qapp, argv, "demo")
    if handed_over:
        print("trayapp demo is already running: showing it.", file=sys.stderr)
        return 0
    from trayapp.settings import Settings
    from trayapp.ui.app import TrayApp
    from trayapp.ui.client_service import ClientService

    rc = 1
    with tempfile.TemporaryDirectory(prefix="trayapp-demo-") as tmp:
        bridge = DemoBridge(Path(tmp) / "bridge")
        try:
            bridge.start()
            log.info("demo bridge at %s", bridge.url)
            settings = Settings(bridge_url=bridge.url, key=bridge.key,
                                url_template=bridge.url + "/demo/case/{case_id}", account_id="demo")
            token = bridge.token
            client = ClientService(settings, data_dir=Path(tmp) / "app", token_loader=lambda _url: token)
            app = TrayApp(client, settings, instance=instance, save_settings=lambda _s: None, demo=True,
                          tester=lambda _link: _prove_demo(bridge))
            keep = _quit_on_signals(qapp, app.quit)
            app.start()
            app.handle_arguments(argv, first=True)
            print(f"trayapp demo: bridge at {bridge.url}; "
                  + ("no simulator" if args.no_simulator else f"a simulated webhook every {args.interval:g} s")
                  + ". Quit from the tray menu or with Ctrl+C.", file=sys.stderr, flush=True)
            if not args.no_simulator:
                simulate_once_connected(client, bridge, args.interval)
            rc = int(qapp.exec())
            del keep
        finally:
            bridge.stop()
    return rc
