"""One running app per user: a second launch hands its arguments to the first and exits.

The first instance listens on a ``QLocalServer`` (a Unix socket in the runtime dir, a named pipe
on Windows). A later launch connects, sends its arguments as one JSON line and waits for
``ok``. A stale socket left by a crash is removed when nobody answers on it.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import logging
import os
import sys

from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtNetwork import QLocalServer, QLocalSocket

log = logging.getLogger(__name__)

_TIMEOUT_MS = 2000


def server_name(suffix: str = "") -> str:
    """A per-user name; a full socket path in ``$XDG_RUNTIME_DIR`` on Linux when it exists."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # pragma: no cover - no passwd entry
        user = str(os.getuid()) if hasattr(os, "getuid") else "user"
    tag = hashlib.sha256(f"{user}:{suffix}".encode()).hexdigest()[:12]
    name = f"trayapp-{tag}"
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if sys.platform.startswith("linux") and runtime and os.path.isdir(runtime):
        return os.path.join(runtime, name)
    return name


def send_to_running(argv: list[str], name: str) -> bool:
    """Hand ``argv`` to a running instance; True when one took it."""
    socket = QLocalSocket()
    socket.connectToServer(name)
    if not socket.waitForConnected(_TIMEOUT_MS):
        return False
    socket.write(json.dumps(argv).encode() + b"\n")
    socket.waitForBytesWritten(_TIMEOUT_MS)
    reply = b""
    while b"\n" not in reply and socket.waitForReadyRead(_TIMEOUT_MS):
        reply += bytes(socket.readAll().data())
    reply += bytes(socket.readAll().data())
    socket.abort()
    log.debug("single instance: the running app answered %r", reply)
    return reply.strip() == b"ok"


class SingleInstance(QObject):
    """The first instance's listener.

    Signals:
        arguments_received(list): a later launch's arguments.
    """

    arguments_received = Signal(list)

    def __init__(self, name: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.name = name
        self._server = QLocalServer(self)
        self._server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        self._server.newConnection.connect(self._on_connection)

    def listen(self) -> bool:
        """Start listening. Call after :func:`send_to_running` found nobody: a socket still in the
        way is then stale (a crash) and is removed."""
        if self._server.listen(self.name):
            return True
        QLocalServer.removeServer(self.name)
        if self._server.listen(self.name):
            return True
        log.warning("single instance: cannot listen on %s: %s", self.name, self._server.errorString())
        return False

    def close(self) -> None:
        self._server.close()

    @Slot()
    def _on_connection(self) -> None:
        while (socket := self._server.nextPendingConnection()) is not None:
            socket.readyRead.connect(lambda s=socket: self._read(s))
            socket.disconnected.connect(socket.deleteLater)

    def _read(self, socket: QLocalSocket) -> None:
        if not socket.canReadLine():
            return
        line = bytes(socket.readLine().data())
        try:
            argv = json.loads(line)
        except ValueError:
            argv = None
        if isinstance(argv, list) and all(isinstance(a, str) for a in argv):
            socket.write(b"ok\n")
            socket.flush()
            log.info("another launch handed over %d argument(s)", len(argv))
            self.arguments_received.emit(argv)
        else:
            socket.disconnectFromServer()
        # otherwise the launcher closes the socket once it has read "ok"
