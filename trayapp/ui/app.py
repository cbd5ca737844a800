"""The composition root: builds the client, the widgets, the notifier, the presenter and the controllers, and
connects every signal in one place (:meth:`TrayApp._connect_signals`). What each object does lives in its own module:
``settings_control``, ``status_control``, ``event_control``, ``checks``, ``link_flow``, ``list_feed``,
``notifier_control``."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtWidgets import QApplication

from trayapp import autostart
from trayapp import settings as settings_mod
from trayapp.client.proof import ProbeResult
from trayapp.settings import Settings
from trayapp.ui.checks import AlertCheck, ConnectionCheck, probe_connection
from trayapp.ui.client_service import ClientFace
from trayapp.ui.event_control import EventControl
from trayapp.ui.first_run import FirstRunDialog, LinkMode
from trayapp.ui.gui_gc import GuiThreadCollector
from trayapp.ui.icons import app_icon, app_icon_path
from trayapp.ui.link_events import LinkOpenFilter
from trayapp.ui.link_flow import LinkFlow, Prover, Saver, prove_link, save_link
from trayapp.ui.list_feed import ListFeed
from trayapp.ui.list_model import HistoryModel
from trayapp.ui.list_window import ListWindow
from trayapp.ui.notifier_control import NotifierControl
from trayapp.ui.notify import Notifier, create_notifier
from trayapp.ui.notify.factory import open_preferred
from trayapp.ui.notify.tray import TrayMessageNotifier
from trayapp.ui.presenter import Presenter
from trayapp.ui.settings_control import SettingsControl
from trayapp.ui.settings_dialog import SettingsDialog, SettingsValues
from trayapp.ui.sound import SoundPlayer
from trayapp.ui.status_control import StatusControl
from trayapp.ui.tray import TrayController

log = logging.getLogger(__name__)

NO_TRAY_REASON = "No system tray was found on this desktop, so trayapp cannot live in the panel."
DEMO_WELCOME = ("This is the trayapp demo: a simulated Acquire account sends a case every few seconds, and each one "
                "pops up. Check that popups reach you — with sound — before you rely on them:")


class TrayApp(QObject):
    """The running desktop app.

    Signals:
        link_stored(object): a link proved itself and was saved (the new ``Settings``), see :mod:`trayapp.ui.link_flow`.
        url_opened(str): a conversation URL was handed to the browser (:class:`EventControl`).
    """

    link_stored = Signal(object)
    url_opened = Signal(str)

    def __init__(
        self,
        client: ClientFace,
        settings: Settings,
        *,
        use_tray: bool | None = None,
        notifier: Notifier | None = None,
        save_settings: Callable[[Settings], object] = settings_mod.save,
        link_saver: Saver = save_link,
        prover: Prover = prove_link,
        tester: Callable[[str | None], ProbeResult] = probe_connection,
        demo: bool = False,
        instance: QObject | None = None,
        sound: SoundPlayer | None = None,
        clock: Callable[[], datetime] | None = None,
        notifier_factory: Callable[[], Notifier] | None = None,
    ) -> None:
        super().__init__()
        self.client = client
        self.demo = demo
        self.instance = instance  # a ui.single_instance.SingleInstance, when there is one
        self._settings_dialog: SettingsDialog | None = None
        self._quitting = False
        self._gc = GuiThreadCollector(self)  # cyclic garbage is collected in this (the GUI) thread only, until quit()
        self._gc.start()  # before the notifier's and the client's threads exist

        self.model = HistoryModel(self)
        self.feed = ListFeed(self.model, self)
        self.window = ListWindow(self.model)
        self.window.set_icon(app_icon())
        self.tray = TrayController(self, use_tray=use_tray)
        self.window.add_app_menu(self.tray.menu)
        self.sound = sound or SoundPlayer(self)
        self.presenter = (Presenter(settings=settings, parent=self) if clock is None
                          else Presenter(settings=settings, clock=clock, parent=self))
        self.control = SettingsControl(settings, self.presenter, client, save_settings, demo=demo, parent=self)
        self.notifiers = NotifierControl(
            notifier or create_notifier(self.tray.icon, app_icon_path(), app_icon()), self.presenter,
            open_native=notifier_factory or (lambda: open_preferred(app_icon_path())),
            fallback=lambda: TrayMessageNotifier(self.tray.icon, app_icon()), parent=self)
        self.tray.next_work_start = self.presenter.next_work_start
        dialog = lambda: self._settings_dialog  # noqa: E731  (the open settings dialog, or None)
        self.status = StatusControl(self.tray, self.presenter, self.notifiers, self.window, dialog, self)
        self.events = EventControl(client, self.model, self.feed, self.window, self.presenter,
                                   lambda: self.settings, self)
        self.window.set_link_builder(self.events.link_for)
        self.alert_check = AlertCheck(client, self.notifiers, self.sound, self.window, lambda: self.settings, dialog,
                                      self)
        self.connection_check = ConnectionCheck(tester, dialog, self)
        self.links = LinkFlow(lambda: self.settings, self, prover=prover, saver=link_saver)
        self.link_events = LinkOpenFilter(self)
        qapp = QApplication.instance()
        if qapp is not None:
            qapp.installEventFilter(self.link_events)
        self._connect_signals()
        if notifier is None and isinstance(self.notifier, TrayMessageNotifier):
            # No native notifications at start (e.g. the notification service is not up yet at login): the same
            # temporary, visible downgrade as a failure later — they are tried again.
            self.notifiers.start_degraded("not available at start")
            self.tray.set_warning(self.status.warning_text())
        self.control.restore_dnd()
        log.info("notifications via %s; system tray %s", self.notifier.name,
                 "available" if self.tray.available else "missing")

    @property
    def notifier(self) -> Notifier:
        """The notification back-end showing popups now (:class:`NotifierControl` switches it)."""
        return self.notifiers.notifier

    @property
    def settings(self) -> Settings:
        """The settings the app runs with (:class:`SettingsControl` holds them)."""
        return self.control.settings

    @settings.setter
    def settings(self, new: Settings) -> None:
        self.control.settings = new

    # --- wiring ------------------------------------------------------------------------------

    def _connect_signals(self) -> None:
        """Every signal of the app's long-lived objects is connected here, and only here. (Dialogs exist only
        while open: :meth:`show_settings` and the link flow wire them as they create them.)"""
        client, model, window, tray, presenter = self.client, self.model, self.window, self.tray, self.presenter
        status, events, control, alert_check = self.status, self.events, self.control, self.alert_check

        client.state_changed.connect(status.on_state)
        client.state_changed.connect(presenter.on_state)
        client.history_loaded.connect(self.feed.on_history)
        client.event_received.connect(events.on_event)
        client.caught_up.connect(presenter.on_caught_up)
        client.gap.connect(window.show_gap)
        client.gap.connect(presenter.on_gap)
        client.verification_failed.connect(status.on_verification_failed)
        client.event_skipped.connect(status.on_event_skipped)
        client.read_changed.connect(self.feed.on_read_changed)
        client.counts_changed.connect(self.feed.on_counts)
        client.older_loaded.connect(model.add_older)
        client.search_finished.connect(self.feed.on_search_finished)
        client.event_loaded.connect(events.on_event_loaded)
        client.test_alert.connect(alert_check.on_arrived)
        client.config_received.connect(control.on_config)
        client.test_alert_sent.connect(alert_check.on_sent)
        model.older_requested.connect(client.load_older)
        model.search_requested.connect(client.search)
        model.unread_changed.connect(tray.set_unread)

        self.notifiers.activated.connect(events.open_target)
        self.notifiers.dismissed.connect(presenter.on_dismissed)
        self.notifiers.not_shown.connect(status.on_not_shown)
        self.notifiers.degraded_changed.connect(status.show_warning)

        events.list_requested.connect(self.show_list)
        events.settings_requested.connect(self.show_settings)
        events.alert_failed.connect(status.count_unshown)
        events.alert_failed.connect(window.show_not_popped)
        events.url_opened.connect(self.url_opened)
        status.connected.connect(self.links.connected)
        control.message.connect(window.statusBar().showMessage)

        presenter.dnd_changed.connect(tray.set_manual_dnd)
        presenter.dnd_changed.connect(control.store_dnd)
        presenter.quiet_changed.connect(tray.set_quiet)
        presenter.quiet_changed.connect(status.show)
        presenter.offline_alarm.connect(tray.set_offline_alarm)
        presenter.offline_alarm.connect(status.show)
        presenter.play_sound.connect(self.sound.play)

        tray.open_list_requested.connect(self.show_list)
        tray.settings_requested.connect(self.show_settings)
        tray.reconnect_requested.connect(client.reconnect_now)
        tray.quit_requested.connect(self.quit)
        tray.dnd_requested.connect(control.on_dnd)

        window.open_requested.connect(events.open_event)
        window.mark_read_requested.connect(events.mark_read)
        window.mark_all_read_requested.connect(events.mark_all_read)
        window.quit_requested.connect(self.quit)
        window.test_alert_requested.connect(alert_check.send)

        self.link_events.link_opened.connect(self.use_link)
        self.links.stored.connect(self._on_link_stored)
        if self.instance is not None:
            self.instance.arguments_received.connect(self.handle_arguments)  # type: ignore[attr-defined]

    def _wire_settings_dialog(self, dialog: SettingsDialog) -> None:
        """The settings dialog's signals (it exists only while open)."""
        dialog.values_accepted.connect(self.control.apply_values)
        dialog.test_requested.connect(self.connection_check.run)
        dialog.test_alert_requested.connect(self.alert_check.send)
        dialog.new_link_requested.connect(lambda: self.links.open(LinkMode.NEW_LINK))
        dialog.sound_test_requested.connect(self.sound.play)
        dialog.finished.connect(self._settings_closed)

    # --- start / stop ------------------------------------------------------------------------

    def start(self) -> None:
        """Show the tray (or the window, without a tray) and start the client. Starts quietly."""
        if self.tray.available:
            self.tray.show()
            log.info("tray visible")
        else:
            self.window.set_main_window_mode(NO_TRAY_REASON)
            self.window.show()
            log.info("no tray: list window shown")
        self.status.show()
        self.client.start()
        if self.demo:  # the demo's first screen: what it is, and a test alert to try
            self.window.show_welcome(DEMO_WELCOME, "Send me a test al&ert")
            self.show_list()
        elif not self.settings.configured:
            self.show_first_run()

    @Slot()
    def quit(self) -> None:
        if self._quitting:
            return
        self._quitting = True
        log.info("quitting")
        self.alert_check.timer.stop()
        self.tray.hide()
        self.client.stop()
        self.notifiers.shutdown()
        self.window.close()
        self._gc.stop()
        app = QApplication.instance()
        if app is not None:
            app.quit()

    # --- windows -----------------------------------------------------------------------------

    @Slot()
    def show_list(self) -> None:
        self.window.bring_to_front()

    @Slot()
    def show_settings(self) -> None:
        if self._settings_dialog is not None:
            self._settings_dialog.raise_()
            self._settings_dialog.activateWindow()
            return
        values = SettingsValues.from_settings(self.settings)
        login_problem: str | None = None
        if self.demo:
            login_problem = "not in the demo"
        else:
            try:
                values.start_at_login = autostart.is_enabled()
            except autostart.AutostartError as exc:
                login_problem = str(exc)
        dialog = SettingsDialog(values, self.settings.bridge_url, login_problem,
                                admin_template=self.settings.admin_url_template)
        self.control.login_was = values.start_at_login
        dialog.setWindowIcon(app_icon())
        dialog.set_state_text(self.tray.state_text(), self.tray.detail)
        dialog.set_link_actions(new_link=not self.demo, test_alert=self.settings.configured,
                                why="not in the demo" if self.demo else "set up a link first")
        self._wire_settings_dialog(dialog)
        self._settings_dialog = dialog
        dialog.show()

    @Slot()
    def _settings_closed(self) -> None:
        if self._settings_dialog is not None:
            self._settings_dialog.deleteLater()
        self._settings_dialog = None

    @Slot()
    def show_first_run(self) -> None:
        self.links.open(LinkMode.FIRST_RUN)

    @property
    def _first_run(self) -> FirstRunDialog | None:
        """The open link dialog (first run, new link or a link from outside), if any."""
        return self.links.dialog

    # --- links -------------------------------------------------------------------------------

    @Slot(str)
    def use_link(self, text: str) -> None:
        """A link from outside the app (``trayapp connect``, a second launch, macOS's open event): it is shown in
        the link dialog and changes nothing until the agent confirms and it has proven itself."""
        self.links.incoming(text)

    @Slot(object)
    def _on_link_stored(self, stored: Settings) -> None:
        """A link was stored: the connection changes, its old problems go, and the open settings dialog names the
        new alert server."""
        new = self.control.use_link(stored)
        self.status.new_link()
        if self._settings_dialog is not None:  # opened New link… from there: it names the new alert server
            self._settings_dialog.set_bridge(new.bridge_url)
        self.link_stored.emit(new)

    @Slot(list)
    def handle_arguments(self, argv: list[str], first: bool = False) -> None:
        """The command line: this launch's (``first``) or one handed over by a second launch.

        A connection link is used; ``--settings`` / ``--list`` open that window; a second launch
        with nothing else to say shows the list (the user is looking for the app).
        """
        links = [a for a in argv if a.startswith("trayapp://")]
        if links:
            self.use_link(links[-1])
        if "--settings" in argv:
            self.show_settings()
        if "--list" in argv or not (first or links or "--settings" in argv):
            self.show_list()
