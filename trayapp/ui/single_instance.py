"""One running app per user: a second launch hands its arguments to the first and exits.

The first instance listens on a ``QLocalServer``; a later launch connects, sends its arguments as one JSON line and
waits for ``ok``. The arguments may carry a connection link (a token), so the channel is private to the user:

- **Where**: a Unix socket in a directory only the user can enter — ``$XDG_RUNTIME_DIR`` when it is the user's own
  and 0700, else ``<user cache dir>/run`` created 0700 (:func:`rendezvous_dir`). Never a predictable name in ``/tmp``.
  On Windows a named pipe whose name carries the user's SID and the logon session
  (``trayapp-S-1-5-21-…-s1``), created by Qt with an ACL for the user only.
- **Who**: before argv is sent or a reply trusted, the peer must be the same user — ``SO_PEERCRED`` on Linux,
  ``LOCAL_PEERCRED`` on macOS/BSD, the pipe server's process token on Windows (:func:`peer_is_me`). The first
  instance checks the connecting launch the same way before it reads anything.

A socket still in the way when nobody trustworthy answers (a crash, or a squatter) is removed and listened on anew.
"""

from __future__ import annotations

import json
import logging
import os
import stat
import struct
import sys
from pathlib import Path

from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtNetwork import QLocalServer, QLocalSocket

log = logging.getLogger(__name__)

_TIMEOUT_MS = 2000


class InstanceError(OSError):
    """No private place for the rendezvous (e.g. the cache dir belongs to another user)."""


def _private_enough(path: Path) -> bool:
    try:
        st = path.stat()
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid() and stat.S_IMODE(st.st_mode) & 0o077 == 0


def rendezvous_dir() -> Path:
    """A directory only this user can enter (POSIX): the runtime dir, else ``<cache>/run`` (created 0700).
    Raises :class:`InstanceError` when even that is not private (it belongs to someone else)."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and _private_enough(Path(runtime)):
        return Path(runtime)
    if runtime:
        log.warning("single instance: $XDG_RUNTIME_DIR %s is not private to this user: not used", runtime)
    import platformdirs

    from trayapp.private_files import private_dir

    path = Path(platformdirs.user_cache_dir("trayapp", appauthor=False)) / "run"
    try:
        private_dir(path)
    except OSError as exc:
        raise InstanceError(f"cannot create {path}: {exc}") from exc
    if not _private_enough(path):
        raise InstanceError(f"{path} is not private to this user (owner or mode)")
    return path


def server_name(suffix: str = "") -> str:
    """The rendezvous: a socket path in :func:`rendezvous_dir` (POSIX), a pipe name bound to the user's SID and
    session (Windows). Raises :class:`InstanceError` (POSIX) when there is no private place for it."""
    base = f"trayapp-{suffix}" if suffix else "trayapp"
    if sys.platform == "win32":
        return f"{base}-{_windows_identity()}"
    return str(rendezvous_dir() / f"{base}.sock")


# --- who is at the other end --------------------------------------------------------------------------------


def _peer_uid(fd: int) -> int | None:
    """The uid of the process at the other end of Unix socket ``fd`` (``None``: the platform cannot tell)."""
    import socket

    sock = socket.fromfd(fd, socket.AF_UNIX, socket.SOCK_STREAM)  # a duplicate: closing it leaves ``fd`` open
    try:
        if hasattr(socket, "SO_PEERCRED"):  # Linux: struct ucred {pid_t pid; uid_t uid; gid_t gid;}
            _pid, uid, _gid = struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                                                  struct.calcsize("3i")))
            return int(uid)
        if sys.platform == "darwin" or "bsd" in sys.platform:  # struct xucred {u_int version; uid_t uid; ...}
            sol_local, local_peercred = 0, 1
            _version, uid = struct.unpack("Ii", sock.getsockopt(sol_local, local_peercred, 76)[:8])
            return int(uid)
        return None
    finally:
        sock.close()


def peer_is_me(socket: QLocalSocket, expected_uid: int | None = None) -> bool:
    """Whether the process at the other end of a connected ``socket`` runs as this user."""
    handle = int(socket.socketDescriptor())
    if handle in (-1, 0):
        return False
    try:
        if sys.platform == "win32":
            return _pipe_server_is_me(handle)
        uid = _peer_uid(handle)
    except OSError as exc:
        log.warning("single instance: cannot check the other end's user: %s", exc)
        return False
    mine = os.getuid() if expected_uid is None else expected_uid
    if uid != mine:
        log.warning("single instance: the other end runs as uid %s, not %s: not trusted", uid, mine)
        return False
    return True


def _windows_identity() -> str:
    """``<SID>-s<session id>`` of this process (Windows)."""
    if sys.platform != "win32":
        raise OSError("only on Windows")
    import ctypes
    from ctypes import wintypes

    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
    session = wintypes.DWORD()
    if not kernel32.ProcessIdToSessionId(kernel32.GetCurrentProcessId(), ctypes.byref(session)):
        raise ctypes.WinError(ctypes.get_last_error())
    return f"{_process_sid(kernel32.GetCurrentProcess())}-s{session.value}"


def _process_sid(process: int) -> str:
    """The user SID (``S-1-5-…``) of a process handle's token (Windows)."""
    if sys.platform != "win32":
        raise OSError("only on Windows")
    import ctypes
    from ctypes import wintypes

    advapi32 = ctypes.WinDLL("advapi32", use_last_error=True)
    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
    token_query, token_user = 0x0008, 1
    token = wintypes.HANDLE()
    if not advapi32.OpenProcessToken(wintypes.HANDLE(process), token_query, ctypes.byref(token)):
        raise ctypes.WinError(ctypes.get_last_error())
    try:
        size = wintypes.DWORD()
        advapi32.GetTokenInformation(token, token_user, None, 0, ctypes.byref(size))
        buffer = ctypes.create_string_buffer(size.value)
        if not advapi32.GetTokenInformation(token, token_user, buffer, size, ctypes.byref(size)):
            raise ctypes.WinError(ctypes.get_last_error())
        sid = ctypes.cast(buffer, ctypes.POINTER(ctypes.c_void_p))[0]  # TOKEN_USER.User.Sid comes first
        text = wintypes.LPWSTR()
        if not advapi32.ConvertSidToStringSidW(ctypes.c_void_p(sid), ctypes.byref(text)):
            raise ctypes.WinError(ctypes.get_last_error())
        try:
            return str(text.value)
        finally:
            kernel32.LocalFree(text)
    finally:
        kernel32.CloseHandle(token)


def _pipe_server_is_me(pipe: int) -> bool:
    """Whether the process serving a connected named pipe runs as this user (Windows)."""
    if sys.platform != "win32":
        raise OSError("only on Windows")
    import ctypes
    from ctypes import wintypes

    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
    pid = wintypes.ULONG()
    if not (kernel32.GetNamedPipeServerProcessId(wintypes.HANDLE(pipe), ctypes.byref(pid))
            or kernel32.GetNamedPipeClientProcessId(wintypes.HANDLE(pipe), ctypes.byref(pid))):
        raise ctypes.WinError(ctypes.get_last_error())
    if pid.value == kernel32.GetCurrentProcessId():  # our own end (the server asking about itself)
        kernel32.GetNamedPipeClientProcessId(wintypes.HANDLE(pipe), ctypes.byref(pid))
    process_query_limited_information = 0x1000
    process = kernel32.OpenProcess(process_query_limited_information, False, pid.value)
    if not process:
        raise ctypes.WinError(ctypes.get_last_error())
    try:
        return _process_sid(process) == _process_sid(kernel32.GetCurrentProcess())
    finally:
        kernel32.CloseHandle(process)


# --- the two ends --------------------------------------------------------------------------------------------


def send_to_running(argv: list[str], name: str, expected_uid: int | None = None) -> bool:
    """Hand ``argv`` to a running instance; True when one (running as this user) took it."""
    socket = QLocalSocket()
    socket.connectToServer(name)
    if not socket.waitForConnected(_TIMEOUT_MS):
        return False
    if not peer_is_me(socket, expected_uid):
        socket.abort()
        log.warning("single instance: %s is held by another user's program: arguments not sent", name)
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
        arguments_received(list): a later launch's arguments (only from a process of this user).
    """

    arguments_received = Signal(list)

    def __init__(self, name: str, parent: QObject | None = None, expected_uid: int | None = None) -> None:
        super().__init__(parent)
        self.name = name
        self._expected_uid = expected_uid
        self._server = QLocalServer(self)
        self._server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        self._server.newConnection.connect(self._on_connection)

    def listen(self) -> bool:
        """Start listening. Call after :func:`send_to_running` found nobody trustworthy: a socket still in the
        way is then stale (a crash) or a squatter's, and is removed."""
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
            if not peer_is_me(socket, self._expected_uid):
                log.warning("single instance: a connection from another user was refused")
                socket.abort()
                socket.deleteLater()
                continue
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
