"""org.freedesktop.Notifications through jeepney: native popups with a default action.

Why jeepney and not QtDBus: PySide6's QtDBus cannot marshal ``Notify``'s ``uint32 replaces_id``
(the server rejects the call). Why one connection: the server sends ``ActionInvoked`` and
``NotificationClosed`` only to the connection that called ``Notify``.

Threads: jeepney's router owns a receiver thread that reads the socket; a worker thread of ours
sends the method calls (each waits for its reply there, never in the GUI thread). Both talk to
the GUI thread only through queued Qt signals.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from html import escape
from typing import Any

from jeepney import DBusAddress, MatchRule, Message, MessageType, new_method_call
from jeepney.bus_messages import message_bus
from jeepney.io.threading import DBusRouter, open_dbus_connection
from PySide6.QtCore import Signal, Slot

from trayapp.ui.notify.base import Notification, Notifier

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
    _caps = Signal(list)

    def __init__(self, router: DBusRouter, app_icon: str = "") -> None:
        super().__init__()
        self._router = router
        self._app_icon = app_icon
        self._capabilities: frozenset[str] | None = None
        # GUI-thread state: server id -> (key, target); key -> server id.
        self._by_id: dict[int, tuple[str, str]] = {}
        self._by_key: dict[str, int] = {}
        self._early: dict[int, list[tuple[str, Any]]] = {}
        # Worker-thread state: key -> last server id (used for replaces_id).
        self._worker_ids: dict[str, int] = {}
        self._commands: queue.SimpleQueue[tuple[str, Any] | None] = queue.SimpleQueue()
        self._shown.connect(self._on_shown)
        self._action.connect(self._on_action)
        self._closed.connect(self._on_closed)
        self._call_failed.connect(self._on_call_failed)
        self._caps.connect(self._on_caps)
        self._failed_once = False

        iface = NOTIFICATIONS.interface
        self._filters = [
            router.filter(MatchRule(type="signal", interface=iface, member=member, path=NOTIFICATIONS.object_path),
                          queue=_CallbackQueue(callback))
            for member, callback in (("ActionInvoked", self._receive_action),
                                     ("NotificationClosed", self._receive_closed))
        ]
        self._worker = threading.Thread(target=self._work, name="trayapp-notify", daemon=True)
        self._worker.start()

    @classmethod
    def open(cls, app_icon: str = "", bus: str = "SESSION") -> FreedesktopNotifier:
        """Connect to the session bus (a local socket: quick) and start the threads."""
        conn = open_dbus_connection(bus=bus, auth_timeout=2.0)
        return cls(DBusRouter(conn), app_icon)

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
        self._worker.join(timeout=_CALL_TIMEOUT + 1)
        for handle in self._filters:
            handle.close()
        self._router.close()
        self._router.conn.close()

    # --- worker thread ---------------------------------------------------------------------

    def _call(self, method: str, signature: str | None = None, body: tuple[Any, ...] = ()) -> tuple[Any, ...]:
        msg = new_method_call(NOTIFICATIONS, method, signature, body)
        reply = self._router.send_and_get_reply(msg, timeout=_CALL_TIMEOUT)
        if reply.header.message_type is MessageType.error:
            raise OSError(f"{method}: {reply.header.fields} {reply.body}")
        return tuple(reply.body)

    def _work(self) -> None:
        caps: frozenset[str] = frozenset()
        try:
            rule = MatchRule(type="signal", interface=NOTIFICATIONS.interface, path=NOTIFICATIONS.object_path)
            self._router.send_and_get_reply(message_bus.AddMatch(rule), timeout=_CALL_TIMEOUT)
            caps = frozenset(self._call("GetCapabilities")[0])
            self._caps.emit(sorted(caps))
        except Exception as exc:
            self._call_failed.emit(f"org.freedesktop.Notifications unavailable: {exc!r}")
        while (command := self._commands.get()) is not None:
            what, arg = command
            try:
                if what == "notify":
                    self._notify(arg, caps)
                elif what in ("close", "forget"):
                    key, server_id = arg
                    if self._worker_ids.get(key) == server_id:
                        del self._worker_ids[key]
                    if what == "close":
                        self._call("CloseNotification", "u", (server_id,))
            except Exception as exc:
                self._call_failed.emit(f"{what} failed: {exc!r}")

    def _notify(self, n: Notification, caps: frozenset[str]) -> None:
        body = escape(n.body, quote=False) if "body-markup" in caps else n.body
        hints: dict[str, tuple[str, Any]] = {
            "urgency": ("y", int(n.urgency)),
            "desktop-entry": ("s", DESKTOP_ENTRY),
        }
        if n.category:
            hints["category"] = ("s", n.category)
        for name, value in n.extra_hints.items():
            hints[name] = ("s", value)
        actions = [DEFAULT_ACTION, "Open"] if "actions" in caps or not caps else []
        icon = str(n.icon) if n.icon else self._app_icon
        replaces = self._worker_ids.get(n.key, 0)
        (server_id,) = self._call(
            "Notify", "susssasa{sv}i", (APP_NAME, replaces, icon, n.title, body, actions, hints, -1)
        )
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
