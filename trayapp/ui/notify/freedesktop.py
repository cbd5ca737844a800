"""org.freedesktop.Notifications through jeepney: native popups with a default action.

Why jeepney and not QtDBus: PySide6's QtDBus cannot marshal ``Notify``'s ``uint32 replaces_id``
(the server rejects the call). Why one connection: the server sends ``ActionInvoked`` and
``NotificationClosed`` only to the connection that called ``Notify``.

Threads: jeepney's router owns a receiver thread that reads the socket; a worker thread of ours
sends the method calls (each waits for its reply there, never in the GUI thread). Both talk to
the GUI thread only through queued Qt signals.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

from jeepney import DBusAddress, HeaderFields, MatchRule, Message, MessageType, new_method_call
from jeepney.bus_messages import message_bus
from jeepney.io.blocking import prep_socket
from jeepney.io.common import RouterClosed
from jeepney.io.threading import DBusConnection, DBusRouter, Proxy, ReceiveStopped
from PySide6.QtCore import Signal, Slot

from trayapp.ui.notify.base import Notification, Notifier
from trayapp.ui.plain import BODY_CHARS, TITLE_CHARS, clean, markup_escaped

log = logging.getLogger(__name__)

APP_NAME = "trayapp"
#: The installed desktop entry (packaging/linux/io.acquire.trayapp.desktop), without ".desktop".
DESKTOP_ENTRY = "io.acquire.trayapp"
DEFAULT_ACTION = "default"
_CALL_TIMEOUT = 5.0

NOTIFICATIONS = DBusAddress(
    "/org/freedesktop/Notifications",
    bus_name="org.freedesktop.Notifications",
    interface="org.freedesktop.Notifications",
)


class _Down(Exception):
    """The bus or the notification server cannot be reached (the back-end is down, not one notification)."""


class _Refused(Exception):
    """The server answered a call with an error: about that call only."""


#: A broken connection: reconnect and try again.
_CONNECTION_ERRORS = (OSError, RouterClosed, ReceiveStopped)
#: Error replies that mean nobody serves org.freedesktop.Notifications now.
_SERVER_GONE = frozenset({"org.freedesktop.DBus.Error.ServiceUnknown", "org.freedesktop.DBus.Error.NameHasNoOwner",
                          "org.freedesktop.DBus.Error.NoReply", "org.freedesktop.DBus.Error.Disconnected"})


class _Connection(DBusConnection):  # type: ignore[misc]  # jeepney is untyped
    """A jeepney connection whose loss ends the router's receiver thread quietly and is remembered.

    (jeepney's router thread dies with an uncaught ``ConnectionResetError`` when the bus drops the connection —
    as dbus-daemon does after a NUL in a string — and nothing tells its users; here :attr:`lost` does.)
    """

    lost: str | None = None

    def receive(self, *, timeout: float | None = None) -> Message:
        try:
            return super().receive(timeout=timeout)
        except (OSError, ValueError) as exc:  # EOF (ConnectionResetError), a socket error, a malformed message
            self.lost = repr(exc)
            raise ReceiveStopped(f"connection lost: {exc!r}") from exc


def connect_router(bus: str = "SESSION", auth_timeout: float = 2.0) -> DBusRouter:
    """A router on a new :class:`_Connection` to ``bus`` (what ``open_dbus_connection`` does, with our class)."""
    from jeepney.bus import get_bus

    conn = _Connection(prep_socket(get_bus(bus), False, timeout=auth_timeout))
    try:
        with DBusRouter(conn) as hello_router:
            conn.unique_name = Proxy(message_bus, hello_router, timeout=10).Hello()[0]
    except BaseException:
        conn.close()
        raise
    return DBusRouter(conn)


def _alive(router: DBusRouter) -> bool:
    return getattr(router.conn, "lost", None) is None and router.conn.sock.fileno() != -1


def notify_message(n: Notification, caps: frozenset[str], replaces: int = 0, app_icon: str = "") -> Message:
    """The ``Notify`` call for ``n`` on a server with these capabilities.

    The summary is plain text by the spec; the body is markup wherever the server says "body-markup" (escaping is
    harmless elsewhere: those show it as is). Every string is cleaned: a lone surrogate cannot be encoded by
    jeepney, and a NUL in a string makes dbus-daemon drop the whole connection.
    """
    title = clean(n.title, TITLE_CHARS, newlines=False)
    body = markup_escaped(n.body, BODY_CHARS) if "body-markup" in caps else clean(n.body, BODY_CHARS)
    hints: dict[str, tuple[str, Any]] = {
        "urgency": ("y", int(n.urgency)),
        "desktop-entry": ("s", DESKTOP_ENTRY),
    }
    if n.category:
        hints["category"] = ("s", clean(n.category))
    for name, value in n.extra_hints.items():
        hints[clean(name)] = ("s", clean(value, BODY_CHARS))
    actions = [DEFAULT_ACTION, "Open"] if "actions" in caps or not caps else []
    icon = clean(str(n.icon) if n.icon else app_icon)
    return new_method_call(NOTIFICATIONS, "Notify", "susssasa{sv}i",
                           (APP_NAME, replaces, icon, title, body, actions, hints, -1))


class _CallbackQueue:
    """Stands in for the ``queue.Queue`` a jeepney filter feeds: hands each message to a callback."""

    def __init__(self, callback: Callable[[Message], None]) -> None:
        self._callback = callback

    def put_nowait(self, msg: Message) -> None:
        self._callback(msg)


class FreedesktopNotifier(Notifier):
    """Native notifications on a freedesktop desktop (dunst, GNOME Shell, KDE Plasma, xfce4-notifyd...).

    Create it with :meth:`open`, which fails fast (``OSError``/``ValueError``/``KeyError``)
    when there is no session bus.

    Signals:
        activated(str): see :class:`Notifier`.
        dismissed(str): see :class:`Notifier`.
        failed(str): see :class:`Notifier`; emitted when the server cannot be reached.
        capabilities_known(list): the server's capabilities (``GetCapabilities``), once.
    """

    name = "freedesktop"
    capabilities_known = Signal(list)

    # Private cross-thread plumbing (always delivered queued in the GUI thread).
    _shown = Signal(str, int)
    _action = Signal(int, str)
    _closed = Signal(int, int)
    _call_failed = Signal(str)
    _one_failed = Signal(object, str)
    _caps = Signal(list)

    def __init__(self, router: DBusRouter, app_icon: str = "",
                 reconnect: Callable[[], DBusRouter] | None = None) -> None:
        super().__init__()
        self._router: DBusRouter | None = router
        self._reconnect = reconnect or connect_router
        self._app_icon = app_icon
        self._capabilities: frozenset[str] | None = None
        # GUI-thread state: server id -> (key, target); key -> server id.
        self._by_id: dict[int, tuple[str, str]] = {}
        self._by_key: dict[str, int] = {}
        self._early: dict[int, list[tuple[str, Any]]] = {}
        # Worker-thread state: key -> last server id (used for replaces_id); the filters of the current router.
        self._worker_ids: dict[str, int] = {}
        self._filters: list[Any] = []
        self._caps_seen: frozenset[str] = frozenset()
        self._commands: queue.SimpleQueue[tuple[str, Any] | None] = queue.SimpleQueue()
        self._shown.connect(self._on_shown)
        self._action.connect(self._on_action)
        self._closed.connect(self._on_closed)
        self._call_failed.connect(self._on_call_failed)
        self._one_failed.connect(self._on_one_failed)
        self._caps.connect(self._on_caps)
        self._lock = threading.Lock()  # guards _router between the worker and shutdown()
        self._attach(router)
        self._worker = threading.Thread(target=self._work, name="trayapp-notify", daemon=True)
        self._worker.start()

    @classmethod
    def open(cls, app_icon: str = "", bus: str = "SESSION") -> FreedesktopNotifier:
        """Connect to the session bus (a local socket: quick) and start the threads."""
        return cls(connect_router(bus), app_icon, reconnect=lambda: connect_router(bus))

    # --- Notifier API (GUI thread) ---------------------------------------------------------

    @property
    def supports_actions(self) -> bool:
        return self._capabilities is None or "actions" in self._capabilities

    @property
    def capabilities(self) -> frozenset[str] | None:
        """The server's capabilities, or ``None`` until they are known."""
        return self._capabilities

    def show(self, notification: Notification) -> None:
        self._commands.put(("notify", notification))

    def withdraw(self, key: str) -> None:
        server_id = self._by_key.get(key)
        if server_id is not None:
            self._commands.put(("close", (key, server_id)))

    def shutdown(self) -> None:
        self._commands.put(None)
        self._worker.join(timeout=2 * _CALL_TIMEOUT + 1)
        with self._lock:
            self._detach()

    # --- worker thread ---------------------------------------------------------------------

    def _attach(self, router: DBusRouter) -> None:
        iface = NOTIFICATIONS.interface
        self._router = router
        self._filters = [
            router.filter(MatchRule(type="signal", interface=iface, member=member, path=NOTIFICATIONS.object_path),
                          queue=_CallbackQueue(callback))
            for member, callback in (("ActionInvoked", self._receive_action),
                                     ("NotificationClosed", self._receive_closed))
        ]

    def _detach(self) -> None:
        router, self._router = self._router, None
        for handle in self._filters:
            handle.close()
        self._filters = []
        if router is not None:
            with contextlib.suppress(Exception):  # closing what is already broken
                router.close()
            with contextlib.suppress(Exception):
                router.conn.close()

    def _connected(self) -> DBusRouter:
        """The current router; a new connection (match rule and capabilities again) when the last one broke.
        Raises :class:`_Down` when the bus or the server cannot be reached."""
        with self._lock:
            if self._router is not None and _alive(self._router):
                return self._router
            if self._router is not None:
                log.warning("the D-Bus connection for notifications was lost: reconnecting")
                self._detach()
            try:
                self._attach(self._reconnect())
            except Exception as exc:
                raise _Down(f"cannot connect to the session bus: {exc!r}") from exc
            router = self._router
        assert router is not None
        self._setup()
        return router

    def _setup(self) -> None:
        rule = MatchRule(type="signal", interface=NOTIFICATIONS.interface, path=NOTIFICATIONS.object_path)
        try:
            self._send(message_bus.AddMatch(rule))
            caps = frozenset(self._call("GetCapabilities")[0])
        except (_Refused, *_CONNECTION_ERRORS) as exc:
            raise _Down(f"org.freedesktop.Notifications unavailable: {exc!r}") from exc
        if caps != self._caps_seen:
            self._caps_seen = caps
            self._caps.emit(sorted(caps))

    def _send(self, msg: Message) -> Message:
        router = self._router
        if router is None:
            raise RouterClosed("no connection")
        reply = router.send_and_get_reply(msg, timeout=_CALL_TIMEOUT)
        if reply.header.message_type is MessageType.error:
            name = str(reply.header.fields.get(HeaderFields.error_name, ""))
            if name in _SERVER_GONE:
                raise _Down(f"{name} {reply.body}")
            raise _Refused(f"{name} {reply.body}")
        return reply

    def _call(self, method: str, signature: str | None = None, body: tuple[Any, ...] = ()) -> tuple[Any, ...]:
        return tuple(self._send(new_method_call(NOTIFICATIONS, method, signature, body)).body)

    def _work(self) -> None:
        try:
            self._setup()
        except _Down as exc:
            self._call_failed.emit(str(exc))
        while (command := self._commands.get()) is not None:
            try:
                self._run(*command)
            except _Down as exc:
                if command[0] == "notify":
                    self.unsent.append(command[1])  # before the signal: the app reads it when it gets ``failed``
                self._call_failed.emit(str(exc))

    def _run(self, what: str, arg: Any) -> None:
        """One command; a broken connection is reconnected and the command tried once more on the new one. A
        refusal or a value that cannot be marshalled is about that one notification: reported, nothing else."""
        for attempt in (1, 2):
            try:
                self._connected()
                if what == "notify":
                    self._notify(arg)
                elif what in ("close", "forget"):
                    key, server_id = arg
                    if self._worker_ids.get(key) == server_id:
                        del self._worker_ids[key]
                    if what == "close":
                        self._call("CloseNotification", "u", (server_id,))
                return
            except _CONNECTION_ERRORS as exc:
                log.warning("notification %s: the D-Bus connection failed (%r)", what, exc)
                with self._lock:
                    self._detach()
                if attempt == 2:
                    self._report(what, arg, f"the connection failed twice: {exc!r}")
            except _Down:
                raise
            except Exception as exc:  # _Refused, or jeepney could not marshal it (ValueError, UnicodeError...)
                self._report(what, arg, repr(exc))
                return

    def _report(self, what: str, arg: Any, reason: str) -> None:
        if what == "notify":
            self._one_failed.emit(arg, reason)
        else:
            log.warning("notification %s failed: %s", what, reason)

    def _notify(self, n: Notification) -> None:
        msg = notify_message(n, self._caps_seen, self._worker_ids.get(n.key, 0), self._app_icon)
        (server_id,) = self._send(msg).body
        self._worker_ids[n.key] = server_id
        self._shown.emit(n.key + "\0" + n.target, server_id)

    # --- receiver thread -------------------------------------------------------------------

    def _receive_action(self, msg: Message) -> None:
        server_id, action = msg.body
        self._action.emit(int(server_id), str(action))

    def _receive_closed(self, msg: Message) -> None:
        server_id, reason = msg.body
        self._closed.emit(int(server_id), int(reason))

    # --- GUI thread ------------------------------------------------------------------------

    @Slot(str, int)
    def _on_shown(self, key_target: str, server_id: int) -> None:
        key, target = key_target.split("\0", 1)
        old = self._by_key.get(key)
        if old is not None and old != server_id:
            self._by_id.pop(old, None)
        self._by_key[key] = server_id
        self._by_id[server_id] = (key, target)
        for what, arg in self._early.pop(server_id, []):
            (self._on_action if what == "action" else self._on_closed)(server_id, arg)

    @Slot(int, str)
    def _on_action(self, server_id: int, action: str) -> None:
        entry = self._by_id.get(server_id)
        if entry is None:
            # Possibly ours but the Notify reply has not been processed yet: keep it briefly.
            self._remember_early(server_id, ("action", action))
            return
        if action == DEFAULT_ACTION:
            log.debug("notification %d activated", server_id)
            self.activated.emit(entry[1])
            # Done with: some servers keep a clicked popup (resident, or an action run by a command).
            self.withdraw(entry[0])

    @Slot(int, int)
    def _on_closed(self, server_id: int, reason: int) -> None:
        entry = self._by_id.pop(server_id, None)
        if entry is None:
            self._remember_early(server_id, ("closed", reason))
            return
        key = entry[0]
        if self._by_key.get(key) == server_id:
            del self._by_key[key]
            self._commands.put(("forget", (key, server_id)))
        self.dismissed.emit(key)

    def _remember_early(self, server_id: int, item: tuple[str, Any]) -> None:
        self._early.setdefault(server_id, []).append(item)
        while len(self._early) > 64:  # signals for other apps' ids (broadcasting servers): bounded
            del self._early[next(iter(self._early))]

    @Slot(list)
    def _on_caps(self, caps: list[str]) -> None:
        self._capabilities = frozenset(caps)
        log.info("notification server capabilities: %s", ", ".join(caps))
        self.capabilities_known.emit(caps)

    @Slot(str)
    def _on_call_failed(self, message: str) -> None:
        log.warning("%s", message)
        self.failed.emit(message)

    @Slot(object, str)
    def _on_one_failed(self, notification: Notification, reason: str) -> None:
        log.warning("notification %s could not be shown: %s", notification.key, reason)
        self.not_shown.emit(notification, reason)
