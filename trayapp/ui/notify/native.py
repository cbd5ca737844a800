"""Each platform's own notification centre through desktop-notifier: Windows toasts, macOS UserNotifications.

desktop-notifier (pinned 6.2.0) wraps WinRT ``ToastNotification`` on Windows, ``UNUserNotificationCenter`` on macOS
and org.freedesktop.Notifications (dbus-fast) on Linux. Unlike ``QSystemTrayIcon.showMessage`` it reports a click
on *that* popup, so a click opens the event's conversation. On Linux the app keeps the jeepney back-end
(:mod:`trayapp.ui.notify.freedesktop`); there this one is used by the tests only.

Threads: desktop-notifier is asyncio. The back-end owns one thread running one event loop; every call to the
library happens there, in order (one command queue). Its callbacks (loop thread on Linux/Windows, a system thread
on macOS) only emit private Qt signals, delivered queued in the GUI thread. The GUI thread never waits, except in
:meth:`NativeNotifier.shutdown` at quit (bounded).

Replacing: a popup of the same key is cleared and a new one sent (desktop-notifier has no replace facility on
every platform; its Linux back-end always sends ``replaces_id`` 0).

What the platforms report: ``dismissed`` when the user closes a popup (desktop-notifier reports only user
dismissals, not expiry) and when :meth:`~NativeNotifier.withdraw` took it away.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Signal, Slot

from trayapp.ui.notify.base import Notification, Notifier, Urgency
from trayapp.ui.plain import BODY_CHARS, TITLE_CHARS, clean, markup_escaped

if TYPE_CHECKING:
    from desktop_notifier import DesktopNotifier

log = logging.getLogger(__name__)

APP_NAME = "trayapp"
_SHUTDOWN_TIMEOUT = 3.0
#: This many failed popups in a row mean the notification centre itself is not working (``failed``).
_FAILURES_MEAN_DOWN = 3


class NativeUnavailable(RuntimeError):
    """desktop-notifier has no usable back-end here (e.g. macOS outside an app bundle)."""


class NativeNotifier(Notifier):
    """Notifications through desktop-notifier. Create it with :meth:`open`.

    Signals:
        activated(str): see :class:`Notifier` (the notification's ``target``).
        dismissed(str): see :class:`Notifier`: the user closed it, or :meth:`withdraw` took it away.
        failed(str): see :class:`Notifier`: the notification centre cannot be reached, authorisation was
            refused, or several popups in a row could not be sent.
        not_shown(object, str): see :class:`Notifier`: one popup could not be sent.
        capabilities_known(list): the platform's capabilities (``desktop_notifier.Capability`` names), once.
    """

    name = "native"
    capabilities_known = Signal(list)

    # Private cross-thread plumbing (emitted in the loop thread or a system thread; delivered queued).
    _sent = Signal(str, str)  # key, identifier
    _clicked = Signal(str, str, str)  # key, target, identifier
    _closed = Signal(str, str)  # key, identifier (the user dismissed it)
    _withdrawn = Signal(str, str)  # key, identifier (cleared by withdraw)
    _error = Signal(str)
    _one_failed = Signal(object, str)
    _caps = Signal(list)

    def __init__(self, notifier: DesktopNotifier, markup_body: bool = False) -> None:
        super().__init__()
        self._dn = notifier
        self._markup_body = markup_body
        self._capabilities: frozenset[str] | None = None
        self._by_key: dict[str, str] = {}  # GUI thread: key -> identifier of the popup on screen
        self._worker_ids: dict[str, str] = {}  # loop thread: key -> identifier of the last popup sent
        self._sent.connect(self._on_sent)
        self._clicked.connect(self._on_clicked)
        self._closed.connect(self._on_closed)
        self._withdrawn.connect(self._on_withdrawn)
        self._error.connect(self._on_error)
        self._one_failed.connect(self._on_one_failed)
        self._caps.connect(self._on_caps)
        self._closing = False
        self._loop = asyncio.new_event_loop()
        self._queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="trayapp-notify-native", daemon=True)
        self._thread.start()

    @classmethod
    def open(cls, app_icon: str = "") -> NativeNotifier:
        """Pick desktop-notifier's back-end for this platform; raise (``ImportError``, :class:`NativeUnavailable`,
        ``OSError``/``RuntimeError`` from the platform) when there is none. Quick: no server round trip."""
        from desktop_notifier import DesktopNotifier, Icon
        from desktop_notifier.main import get_backend_class

        backend = get_backend_class()
        if backend.__name__ == "DummyNotificationCenter":
            raise NativeUnavailable("desktop-notifier has no back-end here (macOS needs an app bundle)")
        icon = Icon(path=Path(app_icon).resolve()) if app_icon else None
        notifier = DesktopNotifier(app_name=APP_NAME, app_icon=icon)
        # org.freedesktop servers may read the body as markup; toasts and macOS show it as plain text.
        return cls(notifier, markup_body=backend.__name__ == "DBusDesktopNotifier")

    # --- Notifier API (GUI thread) ---------------------------------------------------------

    @property
    def supports_actions(self) -> bool:
        return self._capabilities is None or "ON_CLICKED" in self._capabilities

    @property
    def capabilities(self) -> frozenset[str] | None:
        """The platform's capabilities (``Capability`` names), or ``None`` until they are known."""
        return self._capabilities

    def show(self, notification: Notification) -> None:
        self._post("show", notification)

    def withdraw(self, key: str) -> None:
        self._post("withdraw", key)

    def shutdown(self) -> None:
        if self._closing:
            return
        self._closing = True
        self._post("stop", None, force=True)
        self._thread.join(timeout=_SHUTDOWN_TIMEOUT)
        if self._thread.is_alive():
            log.warning("the notification thread did not stop in %.0f s", _SHUTDOWN_TIMEOUT)
            return
        self._loop.close()

    def _post(self, what: str, arg: Any, force: bool = False) -> None:
        if self._closing and not force:
            return
        self._ready.wait()  # the loop exists at once (set before the first await); not a wait on I/O
        with contextlib.suppress(RuntimeError):  # the loop is closed
            self._loop.call_soon_threadsafe(self._queue.put_nowait, (what, arg))

    # --- loop thread -----------------------------------------------------------------------

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._ready.set()
        try:
            self._loop.run_until_complete(self._serve())
        finally:
            pending = asyncio.all_tasks(self._loop)
            for task in pending:
                task.cancel()
            self._loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            self._loop.run_until_complete(self._loop.shutdown_asyncgens())

    async def _serve(self) -> None:
        try:
            if not await self._dn.request_authorisation():
                self._error.emit("the system does not allow this app to show notifications")
            caps = await self._dn.get_capabilities()
            self._caps.emit(sorted(c.name for c in caps))
        except Exception as exc:
            self._error.emit(f"native notifications unavailable: {exc!r}")
        failures = 0
        try:
            while True:
                what, arg = await self._queue.get()
                if what == "stop":
                    break
                try:
                    if what == "show":
                        try:
                            await self._show(arg)
                        except Exception as exc:
                            failures += 1
                            self._one_failed.emit(arg, repr(exc))
                            if failures >= _FAILURES_MEAN_DOWN:  # not that popup: the notification centre
                                self._error.emit(f"{failures} popups in a row failed, the last: {exc!r}")
                        else:
                            failures = 0
                    elif what == "withdraw":
                        await self._withdraw(arg)
                    elif what == "forget":
                        await self._withdraw(*arg)
                except Exception as exc:
                    self._error.emit(f"{what} failed: {exc!r}")
        finally:
            await self._disconnect()

    async def _show(self, n: Notification) -> None:
        from desktop_notifier import Icon
        from desktop_notifier import Notification as DNotification
        from desktop_notifier import Urgency as DUrgency

        old = self._worker_ids.pop(n.key, None)
        if old is not None:
            await self._clear(old)
        urgency = {Urgency.LOW: DUrgency.Low, Urgency.NORMAL: DUrgency.Normal,
                   Urgency.CRITICAL: DUrgency.Critical}[n.urgency]
        dispatched = threading.Event()
        key, target, ident = n.key, n.target, str(uuid.uuid4())
        note = DNotification(
            title=clean(n.title, TITLE_CHARS, newlines=False),
            message=markup_escaped(n.body, BODY_CHARS) if self._markup_body else clean(n.body, BODY_CHARS),
            urgency=urgency,
            icon=Icon(path=Path(n.icon).resolve()) if n.icon else None,
            on_dispatched=dispatched.set,
            on_clicked=lambda: self._clicked.emit(key, target, ident),
            on_dismissed=lambda: self._closed.emit(key, ident),
            identifier=ident,  # fresh per popup: a late click on a replaced one is told apart
        )
        # desktop-notifier logs and swallows a failed send; only on_dispatched tells that it was delivered.
        await self._dn.send_notification(note)
        if not dispatched.is_set():
            raise OSError(f"the notification centre did not take {n.key!r} (see the desktop_notifier log)")
        self._worker_ids[key] = ident
        self._sent.emit(key, ident)

    async def _withdraw(self, key: str, only: str | None = None) -> None:
        ident = self._worker_ids.get(key)
        if ident is not None and only in (None, ident):
            del self._worker_ids[key]
            await self._clear(ident)
            self._withdrawn.emit(key, ident)

    async def _clear(self, ident: str) -> None:
        # Clearing one the platform already forgot (clicked, closed, expired) raises in some back-ends: skip it.
        if ident in await self._dn.get_current_notifications():
            await self._dn.clear(ident)

    async def _disconnect(self) -> None:
        # The Linux back-end keeps a dbus-fast connection and has no public close: close it, or it leaks a socket.
        bus = getattr(getattr(self._dn, "_backend", None), "bus", None)
        if bus is not None and getattr(bus, "connected", False):
            bus.disconnect()
            try:
                await asyncio.wait_for(bus.wait_for_disconnect(), timeout=2.0)
            except Exception as exc:  # an error ending the connection is still its end
                log.debug("dbus disconnect: %r", exc)

    # --- GUI thread ------------------------------------------------------------------------

    @Slot(str, str)
    def _on_sent(self, key: str, ident: str) -> None:
        self._by_key[key] = ident

    @Slot(str, str, str)
    def _on_clicked(self, key: str, target: str, ident: str) -> None:
        log.debug("notification %s activated", key)
        if self._by_key.get(key) == ident:
            del self._by_key[key]
            # Done with: take it out of the notification centre too (no-op where a click already did). Only
            # this one: a newer popup of the key may be on its way already.
            self._post("forget", (key, ident))
        self.activated.emit(target)

    @Slot(str, str)
    def _on_closed(self, key: str, ident: str) -> None:
        if self._by_key.get(key) == ident:
            del self._by_key[key]
            self.dismissed.emit(key)

    @Slot(str, str)
    def _on_withdrawn(self, key: str, ident: str) -> None:
        if self._by_key.get(key) == ident:
            del self._by_key[key]
            self.dismissed.emit(key)

    @Slot(str)
    def _on_error(self, message: str) -> None:
        log.warning("%s", message)
        self.failed.emit(message)

    @Slot(object, str)
    def _on_one_failed(self, notification: Notification, reason: str) -> None:
        log.warning("notification %s could not be shown: %s", notification.key, reason)
        self.not_shown.emit(notification, reason)

    @Slot(list)
    def _on_caps(self, caps: list[str]) -> None:
        self._capabilities = frozenset(caps)
        log.info("native notification capabilities: %s", ", ".join(caps))
        self.capabilities_known.emit(caps)
