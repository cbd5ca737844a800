"""A bridge inside the current process, on a background thread: for the desktop demo and for tests.

    from trayapp.demo.bridge import start_embedded
    bridge = start_embedded(data_dir)          # 127.0.0.1, a free port, a fresh secret and token
    bridge.url, bridge.token, bridge.key_text, bridge.secret, bridge.link
    bridge.post(payload)                       # a signed webhook, as Acquire would send it -> (status, answer)
    bridge.stop()                              # sockets closed with 1001; blocks at most a few seconds

The bridge is the real one (same app, store, uvicorn server) with ``demo=True``, so
``<url>/demo/case/{case_id}`` serves the small offline page the demo notifications open. It runs its own event
loop in a daemon thread; signals stay with the host process. :class:`DemoBridge` adds the simulator thread.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

from trayapp.bridge.config import BridgeConfig
from trayapp.bridge.protocols import BridgeServer
from trayapp.bridge.server import make_server
from trayapp.bridge.store_sqlite import SQLiteStore
from trayapp.bridge.tokens import new_token, token_hash
from trayapp.core.link import build_link

log = logging.getLogger(__name__)


class EmbeddedBridge:
    def __init__(self, config: BridgeConfig, token: str) -> None:
        self.config = config
        self.token = token
        self.secret = config.secrets[0]
        self.url = ""
        self.key_text = ""
        self._ready = threading.Event()
        self._server: BridgeServer | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    @property
    def link(self) -> str:
        return build_link(self.url, self.token, self.key_text)

    def _run(self) -> None:
        def ready(url: str) -> None:
            self.url = url
            self._ready.set()

        try:
            self._server = make_server(self.config, on_ready=ready, own_logging=False)
            self._server.run()
        except BaseException as exc:  # reported to start()'s caller
            self._error = exc
        finally:
            self._ready.set()

    def start(self, timeout: float = 30.0) -> EmbeddedBridge:
        self._thread = threading.Thread(target=self._run, name="trayapp-embedded-bridge", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout) or not self.url:
            self.stop()
            raise RuntimeError(f"the embedded bridge did not start: {self._error!r}")
        assert self._server is not None
        app: Any = self._server.config.app
        self.key_text = app.bridge.key_text
        return self

    def post(self, payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        from trayapp.bridge.simulator import post

        return post(self.url, self.secret, payload)

    def stop(self, timeout: float = 10.0) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)


def start_embedded(data_dir: Path, *, secret: str | None = None, token_name: str = "demo",
                   demo: bool = True, **options: Any) -> EmbeddedBridge:
    """Start a bridge on 127.0.0.1:0 storing in ``data_dir``; a token named ``token_name`` is created for it."""
    data_dir = Path(data_dir)
    config = BridgeConfig(data_dir=data_dir, secrets=(secret or "whsec_" + secrets.token_hex(16),), host="127.0.0.1",
                          port=0, demo=demo)
    if options:
        config = replace(config, **options)
    token = new_token()

    async def add() -> None:
        store = SQLiteStore(data_dir)
        await store.open()
        try:
            await store.revoke_token(token_name)
            await store.add_token(token_name, token_hash(token))
        finally:
            await store.close()

    asyncio.run(add())
    return EmbeddedBridge(config, token).start()


class DemoBridge:
    """The demo's bridge: the real bridge embedded in this process (:func:`start_embedded`) on 127.0.0.1:0
    in a temporary dir, with a fresh secret and token, plus a simulator thread posting signed webhooks to it
    (``trayapp.bridge.simulator``'s scenario)."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self._bridge: Any = None
        self._stop_simulator: Any = None
        self._simulator: Any = None

    def start(self) -> DemoBridge:
        # $TRAYAPP_DEMO_SECRET: for scripts that post their own signed webhooks (with --no-simulator).
        self._bridge = start_embedded(self.data_dir, secret=os.environ.get("TRAYAPP_DEMO_SECRET") or None)
        return self

    @property
    def url(self) -> str:
        return str(self._bridge.url)

    @property
    def token(self) -> str:
        return str(self._bridge.token)

    @property
    def key(self) -> str:
        return str(self._bridge.key_text)

    def start_simulator(self, interval: float) -> None:
        import threading

        from trayapp.bridge.simulator import Scenario, post

        stop = threading.Event()
        url, secret, scenario = self.url, self._bridge.secret, Scenario()

        def run() -> None:
            while True:
                try:
                    post(url, secret, scenario.next_payload())
                except OSError as exc:
                    log.warning("demo simulator: %s", exc)
                if stop.wait(interval):
                    return

        self._stop_simulator = stop
        self._simulator = threading.Thread(target=run, name="trayapp-demo-simulator", daemon=True)
        self._simulator.start()

    def stop(self) -> None:
        if self._stop_simulator is not None:
            self._stop_simulator.set()
            self._simulator.join(timeout=12)
        if self._bridge is not None:
            self._bridge.stop(timeout=5)
