"""A bridge inside the current process, on a background thread: for the desktop demo and for tests.

    from trayapp.bridge.embedded import start_embedded
    bridge = start_embedded(data_dir)          # 127.0.0.1, a free port, a fresh secret and token
    bridge.url, bridge.token, bridge.key_text, bridge.secret, bridge.link
    bridge.post(payload)                       # a signed webhook, as Acquire would send it -> (status, answer)
    bridge.stop()                              # sockets closed with 1001; blocks at most a few seconds

The bridge is the real one (same app, store, uvicorn server) with ``demo=True``, so
``<url>/demo/case/{case_id}`` serves the small offline page the demo notifications open. It runs its own event
loop in a daemon thread; signals stay with the host process.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

from trayapp.core.link import build_link

from .config import BridgeConfig
from .protocols import BridgeServer
from .server import make_server
from .store_sqlite import SQLiteStore
from .tokens import new_token, token_hash


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
        from .simulator import post

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
