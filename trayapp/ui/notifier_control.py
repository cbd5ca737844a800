"""Which notification back-end shows the popups, and getting the native one back when it fails.

:class:`NotifierControl` owns the current :class:`~trayapp.ui.notify.base.Notifier` and wires the presenter's
``notify`` / ``withdraw`` to it. When the native back-end fails (or is not there at start), popups go out as tray
messages for now (a temporary, visible downgrade: :attr:`degraded` says why) and the native back-end is tried again
after 30 s, 60 s, 120 s, then every 5 min (:data:`NOTIFIER_RETRY_S`); what the failed back-end had accepted but not
shown goes out as tray messages. A back-end that answers (its capabilities) starts the pauses from the shortest.

Signals: ``activated(str)``, ``dismissed(str)``, ``not_shown(object, str)`` — the current back-end's, whichever it
is; ``degraded_changed()`` — :attr:`degraded` changed (the app's warning text).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal, Slot

from trayapp.ui.notify import Notification, Notifier
from trayapp.ui.notify.tray import TrayMessageNotifier

log = logging.getLogger(__name__)

#: Pauses before the native back-end is tried again, in seconds; the last one repeats.
NOTIFIER_RETRY_S = (30, 60, 120, 300)


class NotifierControl(QObject):
    activated = Signal(str)
    dismissed = Signal(str)
    not_shown = Signal(object, str)
    degraded_changed = Signal()

    def __init__(self, notifier: Notifier, presenter: Any, *, open_native: Callable[[], Notifier],
                 fallback: Callable[[], Notifier], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.notifier = notifier
        self._presenter = presenter
        self._open_native = open_native
        self._fallback = fallback
        self._stopped = False
        #: Why popups are tray messages for now ("": native notifications work).
        self.degraded = ""
        self.retry_timer = QTimer(self)
        self.retry_timer.setSingleShot(True)
        self.retry_timer.timeout.connect(self._retry)
        self._retry_delay_s = NOTIFIER_RETRY_S[0]
        self._connect()

    def start_degraded(self, why: str) -> None:
        """Tray messages from the start (no native back-end yet): tried again like after a failure."""
        self.degraded = why
        self._schedule()

    def show(self, notification: Notification) -> None:
        self.notifier.show(notification)

    def withdraw(self, key: str) -> None:
        self.notifier.withdraw(key)

    def shutdown(self) -> None:
        self._stopped = True
        self.retry_timer.stop()
        self.notifier.shutdown()

    def _connect(self) -> None:
        notifier = self.notifier
        self._presenter.notify.connect(notifier.show)
        self._presenter.withdraw.connect(notifier.withdraw)
        notifier.activated.connect(self.activated)
        notifier.dismissed.connect(self.dismissed)
        notifier.failed.connect(self._on_failed)
        notifier.not_shown.connect(self.not_shown)
        caps = getattr(notifier, "capabilities_known", None)
        if caps is not None:
            caps.connect(self._on_working)

    def _schedule(self) -> None:
        self.retry_timer.start(self._retry_delay_s * 1000)
        self._retry_delay_s = next((s for s in NOTIFIER_RETRY_S if s > self._retry_delay_s), NOTIFIER_RETRY_S[-1])

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        if isinstance(self.notifier, TrayMessageNotifier):
            return
        log.warning("native notifications failed (%s): using tray messages until they work again (retry in %d s)",
                    message, self._retry_delay_s)
        old = self.notifier
        self._use(self._fallback())
        for notification in getattr(old, "unsent", []):  # accepted, but the back-end went down before showing it
            self.notifier.show(notification)
        self.degraded = message
        self._schedule()
        self.degraded_changed.emit()

    @Slot()
    def _retry(self) -> None:
        if self._stopped or not self.degraded:
            return
        try:
            new = self._open_native()
        except Exception as exc:
            log.info("native notifications still unavailable (%r): next try in %d s", exc, self._retry_delay_s)
            self._schedule()
            return
        log.info("native notifications (%s) are back", new.name)
        self._use(new)
        self.degraded = ""
        self.degraded_changed.emit()

    @Slot()
    def _on_working(self) -> None:
        """The back-end answered (its capabilities): a later failure starts the retries from the shortest pause."""
        self._retry_delay_s = NOTIFIER_RETRY_S[0]

    def _use(self, new: Notifier) -> None:
        old, self.notifier = self.notifier, new
        for signal, slot in ((self._presenter.notify, old.show), (self._presenter.withdraw, old.withdraw)):
            signal.disconnect(slot)
        for signal in (old.activated, old.dismissed, old.failed, old.not_shown):
            with contextlib.suppress(RuntimeError, TypeError):
                signal.disconnect()
        old.shutdown()
        self._connect()
