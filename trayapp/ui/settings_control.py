"""The app's settings while it runs: one :class:`~trayapp.settings.Settings` object, replaced (never changed) and
saved, and told to those who act on it.

:class:`SettingsControl` holds the current settings; :meth:`~SettingsControl.replace` applies a new one (the alert
policy, the log level) and saves it; :meth:`~SettingsControl.apply_values` is the settings dialog's OK (start at
login, then the client); the manual do-not-disturb is kept in the settings too (:meth:`~SettingsControl.store_dnd`,
:meth:`~SettingsControl.restore_dnd`). Signals: ``message(str, int)`` — words for the window's status bar, and for how
many milliseconds (saving failed, start at login was not changed).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from PySide6.QtCore import QObject, Signal, Slot

from trayapp import autostart
from trayapp.settings import Settings

log = logging.getLogger(__name__)


class SettingsControl(QObject):
    message = Signal(str, int)

    def __init__(self, settings: Settings, presenter: Any, client: Any, save: Callable[[Settings], object], *,
                 demo: bool = False, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        self._presenter = presenter
        self._client = client
        self._save = save
        self._demo = demo
        #: Whether start at login was on when the settings dialog opened (what OK compares with).
        self.login_was = settings.start_at_login

    def replace(self, new: Settings) -> None:
        """Apply and save ``new`` (nothing when it equals the current settings)."""
        if new == self.settings:
            return
        old, self.settings = self.settings, new
        self._presenter.apply_settings(new)
        if new.log_level != old.log_level:
            logging.getLogger().setLevel(new.log_level)
        try:
            self._save(new)
        except OSError as exc:
            log.error("cannot save settings: %s", exc)
            self.message.emit(f"Could not save the settings: {exc}", 10000)

    def apply_values(self, values: Any) -> None:
        """OK in the settings dialog (a ``SettingsValues``): start at login first, then everything, then the client."""
        if values.start_at_login != self.login_was and not self._demo:
            try:
                autostart.set_enabled(values.start_at_login)
            except autostart.AutostartError as exc:
                values.start_at_login = self.login_was
                self.message.emit(f"Start at login was not changed: {exc}", 15000)
        self.replace(self.settings.replace(**values.changes()))
        self._client.apply_settings(self.settings)

    @Slot(object)
    def store_dnd(self, until: datetime | None) -> None:
        self.replace(self.settings.replace(dnd_until=until.isoformat() if until else None))

    def restore_dnd(self) -> None:
        """The manual do-not-disturb the settings hold, back in the policy (and working hours applied)."""
        if self.settings.dnd_until:
            try:
                until = datetime.fromisoformat(self.settings.dnd_until)
            except ValueError:
                until = None
            if until is not None and until.tzinfo is not None:
                self._presenter.set_dnd_until(until)  # saving it again is a no-op (same settings)
        self._presenter.refresh()  # working hours: quiet from the start
