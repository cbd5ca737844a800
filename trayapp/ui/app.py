"""The composition root: builds the client, the widgets, the notifier and the presenter, and
connects every signal in one place (:meth:`TrayApp._connect_signals`)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from PySide6.QtCore import QObject, QTimer, QUrl, Signal, Slot
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QApplication

from trayapp import autostart
from trayapp import settings as settings_mod
from trayapp.client.proof import Outcome, ProbeResult
from trayapp.core.event import ReceivedEvent
from trayapp.core.urls import conversation_url, template_problem
from trayapp.model.alerts import CATCH_UP_TARGET
from trayapp.model.connection import ConnectionState, ConnectionStatus
from trayapp.model.describe import notification_text
from trayapp.settings import Settings
from trayapp.ui.client_service import ClientFace
from trayapp.ui.first_run import FirstRunDialog, LinkMode
from trayapp.ui.gui_gc import GuiThreadCollector
from trayapp.ui.icons import app_icon, app_icon_path
from trayapp.ui.link_events import LinkOpenFilter
from trayapp.ui.link_flow import LinkFlow, Prover, Saver, prove_link, save_link
from trayapp.ui.list_feed import ListFeed
from trayapp.ui.list_model import HistoryModel
from trayapp.ui.list_window import ListWindow, alerts
from trayapp.ui.notifier_control import NotifierControl
from trayapp.ui.notify import LIST_TARGET, Notification, Notifier, Urgency, create_notifier
from trayapp.ui.notify.factory import open_preferred
from trayapp.ui.notify.tray import TrayMessageNotifier
from trayapp.ui.presenter import Presenter
from trayapp.ui.settings_control import SettingsControl
from trayapp.ui.settings_dialog import SettingsDialog, SettingsValues
from trayapp.ui.sound import SoundPlayer
from trayapp.ui.tray import DndChoice, TrayController, until_words

log = logging.getLogger(__name__)

NO_TRAY_REASON = "No system tray was found on this desktop, so trayapp cannot live in the panel."
TEST_ALERT_KEY = "test-alert"
ACCESS_KEY = "warning:access"  # the popup that says the connection needs a new link
SETTINGS_TARGET = "settings"
TEST_ALERT_WAIT_MS = 15_000
DEMO_WELCOME = ("This is the trayapp demo: a simulated Acquire account sends a case every few seconds, and each one "
                "pops up. Check that popups reach you — with sound — before you rely on them:")


def _received_of(row: Any) -> Any:
    return getattr(row, "event", row)


def probe_connection(link: str | None) -> ProbeResult:
    """*Test connection*: open the stream and check the key (``client.connect.prove``). Blocking: off the GUI
    thread. ``None``: the stored connection."""
    from trayapp.client.connect import prove

    return prove(link)


class TrayApp(QObject):
    """The running desktop app.

    Signals:
        link_stored(object): a link proved itself and was saved (the new ``Settings``), see :mod:`trayapp.ui.link_flow`.
        test_finished(object): a connection test ended (a ``client.proof.ProbeResult``); from a worker thread.
        url_opened(str): a conversation URL was handed to the browser.
    """

    link_stored = Signal(object)
    test_finished = Signal(object)
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
        self._tester = tester
        self._settings_dialog: SettingsDialog | None = None
        self._quitting = False
        self._gc = GuiThreadCollector(self)  # cyclic garbage is collected in this (the GUI) thread only, until quit()
        self._gc.start()  # before the notifier's and the client's threads exist
        self._dropped = 0
        self._announced = ""  # the words of the "needs a new link" popup on screen
        self._test_alert_arrived = False
        self._unshown = 0  # alerts that could not be shown (a popup failed, or the client dropped the event)
        self._loading: set[str] = set()  # events to open once the client has loaded them
        self._test_alert_timer = QTimer(self)
        self._test_alert_timer.setSingleShot(True)
        self._test_alert_timer.setInterval(TEST_ALERT_WAIT_MS)

        self.model = HistoryModel(self)
        self.feed = ListFeed(self.model, self)
        self.window = ListWindow(self.model)
        self.window.set_icon(app_icon())
        self.window.set_link_builder(self.link_for)
        self.tray = TrayController(self, use_tray=use_tray)
        self.window.add_app_menu(self.tray.menu)
        self.sound = sound or SoundPlayer(self)
        self.presenter = (Presenter(settings=settings, parent=self) if clock is None
                          else Presenter(settings=settings, clock=clock, parent=self))
        self.control = SettingsControl(settings, self.presenter, client, save_settings, demo=demo, parent=self)
        self.control.message.connect(self.window.statusBar().showMessage)
        self.notifiers = NotifierControl(
            notifier or create_notifier(self.tray.icon, app_icon_path(), app_icon()), self.presenter,
            open_native=notifier_factory or (lambda: open_preferred(app_icon_path())),
            fallback=lambda: TrayMessageNotifier(self.tray.icon, app_icon()), parent=self)
        self.tray.next_work_start = self.presenter.next_work_start
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
            self.tray.set_warning(self.warning_text())
        self.control.restore_dnd()
        log.info("notifications via %s; system tray %s", self.notifier.name,
                 "available" if self.tray.available else "missing")

    @property
    def notifier(self) -> Notifier:
        """The notification back-end showing popups now (:class:`NotifierControl` switches it)."""
        return self.notifiers.notifier

    # --- wiring ------------------------------------------------------------------------------

    def _connect_signals(self) -> None:
        """Every signal of the app's long-lived objects is connected here, and only here. (Dialogs exist only
        while open: :meth:`show_settings` and :meth:`show_first_run` wire them as they create them.)"""
        client, model, window, tray, presenter = self.client, self.model, self.window, self.tray, self.presenter

        client.state_changed.connect(self._on_state)
        client.state_changed.connect(presenter.on_state)
        client.history_loaded.connect(self.feed.on_history)
        client.event_received.connect(self._on_event)
        client.caught_up.connect(presenter.on_caught_up)
        client.gap.connect(window.show_gap)
        client.gap.connect(presenter.on_gap)
        client.verification_failed.connect(self._on_verification_failed)
        client.event_skipped.connect(self._on_event_skipped)
        client.read_changed.connect(self.feed.on_read_changed)
        client.counts_changed.connect(self.feed.on_counts)
        client.older_loaded.connect(model.add_older)
        client.search_finished.connect(self.feed.on_search_finished)
        client.event_loaded.connect(self._on_event_loaded)
        client.test_alert.connect(self._on_test_alert)
        client.config_received.connect(self._on_config)
        client.test_alert_sent.connect(self._on_test_alert_sent)
        self._test_alert_timer.timeout.connect(self._test_alert_missing)
        model.older_requested.connect(client.load_older)
        model.search_requested.connect(client.search)

        self.notifiers.activated.connect(self.open_target)
        self.notifiers.dismissed.connect(self.presenter.on_dismissed)
        self.notifiers.not_shown.connect(self._on_not_shown)
        self.notifiers.degraded_changed.connect(self._show_warning)
        model.unread_changed.connect(tray.set_unread)

        presenter.dnd_changed.connect(tray.set_manual_dnd)
        presenter.dnd_changed.connect(self.control.store_dnd)
        presenter.quiet_changed.connect(tray.set_quiet)
        presenter.quiet_changed.connect(self._show_state)
        presenter.offline_alarm.connect(tray.set_offline_alarm)
        presenter.offline_alarm.connect(self._show_state)
        presenter.play_sound.connect(self.sound.play)

        tray.open_list_requested.connect(self.show_list)
        tray.settings_requested.connect(self.show_settings)
        tray.reconnect_requested.connect(client.reconnect_now)
        tray.quit_requested.connect(self.quit)
        tray.dnd_requested.connect(self._on_dnd)

        window.open_requested.connect(self.open_event)
        window.mark_read_requested.connect(self._mark_read)
        window.mark_all_read_requested.connect(self._mark_all_read)
        window.quit_requested.connect(self.quit)
        window.test_alert_requested.connect(self.send_test_alert)

        self.link_events.link_opened.connect(self.use_link)
        self.links.stored.connect(self._on_link_stored)
        self.test_finished.connect(self._on_test_finished)
        if self.instance is not None:
            self.instance.arguments_received.connect(self.handle_arguments)  # type: ignore[attr-defined]

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
        self._show_state()
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
        self._test_alert_timer.stop()
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
        dialog.values_accepted.connect(self.apply_values)
        dialog.test_requested.connect(self.test_connection)
        dialog.test_alert_requested.connect(self.send_test_alert)
        dialog.new_link_requested.connect(lambda: self.links.open(LinkMode.NEW_LINK))
        dialog.set_link_actions(new_link=not self.demo, test_alert=self.settings.configured,
                                why="not in the demo" if self.demo else "set up a link first")
        dialog.sound_test_requested.connect(self.sound.play)
        dialog.finished.connect(self._settings_closed)
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

    # --- client events -----------------------------------------------------------------------

    @Slot(object)
    def _on_state(self, status: ConnectionStatus) -> None:
        self.tray.set_status(status)
        self._announce_problem()
        self._show_state()
        if self.tray.state is ConnectionState.CONNECTED:
            self.links.connected()

    def _announce_problem(self) -> None:
        """A connection that needs a new link (wrong key, revoked, refused) pops up at once, saying what to do;
        the popup goes when the cause is gone."""
        words = self.tray.needs_a_link
        if words == self._announced:
            return
        self._announced = words
        if not words:
            self.notifier.withdraw(ACCESS_KEY)
            return
        log.warning("connection needs a new link: %s (%s)", words, self.tray.detail)
        self.notifier.show(Notification(
            key=ACCESS_KEY, title=words,
            body="No case alerts reach this computer until you use a new link (Settings → New link…).",
            target=SETTINGS_TARGET, urgency=Urgency.CRITICAL))

    @Slot()
    def _show_state(self) -> None:
        text = self.tray.state_text()
        down = self.tray.offline_since
        if down is not None and not self.tray.needs_a_link:  # (those words say it already)
            text += f" · Not receiving case alerts since {down.astimezone():%H:%M}"
        until = self.presenter.quiet_until
        if until is not None:
            working = self.presenter.quiet_reason == "outside working hours"
            quiet = "Outside working hours: quiet" if working else "Do not disturb"
            text += f" · {quiet} {until_words(until)}"
        warning = self.warning_text()
        if warning:
            text += f" · {warning[0].upper()}{warning[1:]}"
        self.window.set_state_text(text, self.tray.look.name.lower())
        if self._settings_dialog is not None:
            self._settings_dialog.set_state_text(text, self.tray.detail)

    @Slot(object, bool)
    def _on_event(self, row: Any, replaying: bool) -> None:
        # The popup decision is immediate; rows reach the list in batches (one insertion per turn of the
        # event loop), so a backlog of thousands does not repaint the list thousands of times.
        try:
            self.presenter.on_event(row, replaying)
        except Exception:  # one event must not stop the others: it is still listed, and counted as not shown
            log.exception("the alert for event %s could not be prepared", getattr(_received_of(row), "id", "?"))
            self._count_unshown()
            self.window.show_not_popped()
        self.feed.add(row)

    @Slot()
    def flush_rows(self) -> None:
        """Put the events received so far into the list now (:class:`ListFeed`)."""
        self.feed.flush()

    @Slot(str)
    def _on_verification_failed(self, reason: str) -> None:
        self._dropped += 1
        self.window.show_verification_failed(reason)
        self._show_warning()

    @Slot(str, str)
    def _on_event_skipped(self, event_id: str, reason: str) -> None:
        """The client received an event it could not store or derive (it moved on past it)."""
        log.warning("an alert could not be shown: the client skipped event %s (%s)", event_id, reason)
        self._count_unshown()
        self.window.show_event_skipped(reason)

    @Slot(object, str)
    def _on_not_shown(self, notification: Notification, reason: str) -> None:
        log.warning("an alert could not be shown: popup %s failed (%s)", notification.key, reason)
        self._count_unshown()
        self.window.show_not_popped()

    def _count_unshown(self) -> None:
        self._unshown += 1
        self._show_warning()

    def warning_text(self) -> str:
        """The problems that are not the connection, in words ("" when there are none)."""
        parts = []
        if self._dropped:
            parts.append(f"{alerts(self._dropped)} failed verification")
        if self._unshown:
            parts.append(f"{alerts(self._unshown)} could not be shown")
        if self.notifiers.degraded:
            parts.append("popups are limited: the desktop's notification service is not answering "
                         "(trying again)")
        return "; ".join(parts)

    def _show_warning(self) -> None:
        self.tray.set_warning(self.warning_text())
        self._show_state()

    # --- opening events ----------------------------------------------------------------------

    def link_for(self, received: ReceivedEvent) -> str | None:
        """The conversation URL of an event, built from the template (the agent's override, else the admin's from
        the bridge's signed config frame; never from the payload); only http(s) on the template's own host."""
        return conversation_url(self.settings.conversation_template, received.event, self.settings.account_id or None)

    @Slot(str)
    def open_target(self, target: str) -> None:
        """A notification was clicked."""
        if target == CATCH_UP_TARGET:
            self.flush_rows()
            ids = self.presenter.catch_up_ids
            self.window.show_only(ids, f"the {len(ids)} events that arrived while you were away")
            self.show_list()
        elif target == SETTINGS_TARGET:
            self.show_settings()
        elif target == LIST_TARGET or target.startswith("list"):
            self.show_list()
        else:
            self.open_event(target)

    @Slot(str)
    def open_event(self, event_id: str) -> None:
        """Open an event's conversation in the browser and mark it read."""
        self.flush_rows()
        received = self.model.find(event_id)
        if received is None:  # older than the rows the list holds: ask the history
            self._loading.add(event_id)
            self.client.load_event(event_id)
            return
        self._open(received)

    @Slot(str, object)
    def _on_event_loaded(self, event_id: str, row: Any) -> None:
        if event_id not in self._loading:
            return
        self._loading.discard(event_id)
        if row is None:
            log.warning("open: unknown event %s", event_id)
            self.show_list()
            return
        self._open(row.event, unread=not row.read)

    def _open(self, received: ReceivedEvent, unread: bool | None = None) -> None:
        event_id = received.id
        url = self.link_for(received)
        self.presenter.acknowledge([received])  # the case stops calling, its popup goes
        if self.model.is_unread(event_id) if unread is None else unread:
            self._mark_read([event_id])
        if url is None:
            title, _ = notification_text(received.event)
            self.show_list()
            self.window.statusBar().showMessage(f"“{title}” has no conversation address to open", 8000)
            return
        log.info("opening conversation of event %s", event_id)
        if not QDesktopServices.openUrl(QUrl(url)):
            self.window.statusBar().showMessage(f"Could not open a browser for {url}", 8000)
        self.url_opened.emit(url)

    @Slot(list)
    def _mark_read(self, ids: list[str]) -> None:
        self.flush_rows()
        self.presenter.acknowledge([r for r in map(self.model.find, ids) if r is not None])
        self.model.set_read(ids, True)  # at once; the client confirms with read_changed
        self.client.mark_read(ids)

    @Slot()
    def _mark_all_read(self) -> None:
        self.flush_rows()
        self.presenter.acknowledge_all()
        self.model.set_all_read()
        self.client.mark_all_read()

    # --- do not disturb ----------------------------------------------------------------------

    @Slot(object)
    def _on_dnd(self, choice: DndChoice) -> None:
        if choice is DndChoice.HOUR:
            self.presenter.dnd_for(timedelta(hours=1))
        elif choice is DndChoice.TOMORROW:
            self.presenter.dnd_until_tomorrow()
        elif choice is DndChoice.UNTIL_OFF:
            self.presenter.dnd_until_off()
        else:
            self.presenter.set_dnd_until(None)

    # --- settings ----------------------------------------------------------------------------

    @property
    def settings(self) -> Settings:
        """The settings the app runs with (:class:`SettingsControl` holds them)."""
        return self.control.settings

    @settings.setter
    def settings(self, new: Settings) -> None:
        self.control.settings = new

    def _replace_settings(self, new: Settings) -> None:
        self.control.replace(new)

    @Slot(object)
    def apply_values(self, values: SettingsValues) -> None:
        """OK in the settings dialog."""
        self.control.apply_values(values)

    @Slot(str)
    def use_link(self, text: str) -> None:
        """A link from outside the app (``trayapp connect``, a second launch, macOS's open event): it is shown in
        the link dialog and changes nothing until the agent confirms and it has proven itself."""
        self.links.incoming(text)

    @Slot(object)
    def _on_link_stored(self, stored: Settings) -> None:
        """A link was stored: only the connection changes (the rest of the settings stays as the app has it)."""
        new = self.settings.replace(bridge_url=stored.bridge_url, key=stored.key)
        self.settings = new
        self.client.apply_settings(new)
        self._dropped = 0  # the old connection's problems are gone with it
        self.window.clear_warnings()
        self.tray.set_warning("")
        self.tray.set_connection(ConnectionState.CONNECTING)
        if self._settings_dialog is not None:  # opened New link… from there: it names the new alert server
            self._settings_dialog.set_bridge(new.bridge_url)
        self._show_state()
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

    # --- test connection ---------------------------------------------------------------------

    @Slot(str)
    def test_connection(self, link_text: str) -> None:
        """*Test connection* in the settings: the pasted link, or the stored connection (off the GUI thread)."""

        def work() -> None:
            try:
                result = self._tester(link_text or None)
            except Exception as exc:  # a bug: say so rather than leave the dialog waiting
                log.exception("connection test failed unexpectedly")
                result = ProbeResult(Outcome.BROKEN, "", type(exc).__name__)
            self.test_finished.emit(result)

        threading.Thread(target=work, name="trayapp-test-connection", daemon=True).start()

    @Slot(object)
    def _on_test_finished(self, result: ProbeResult) -> None:
        if not result.ok:
            log.warning("connection test: %s (%s)", result.outcome.value, result.detail)
        if self._settings_dialog is not None:
            self._settings_dialog.show_test_result(result.ok, result.words, result.detail)

    @Slot(str)
    def _on_config(self, conversation_url: str) -> None:
        """The bridge's signed config frame: the admin's conversation address, kept for when offline."""
        if template_problem(conversation_url):
            log.warning("ignoring the alert server's conversation address %r: %s", conversation_url,
                        template_problem(conversation_url))
            return
        if conversation_url != self.settings.admin_url_template:
            log.info("the alert server's conversation address: %s", conversation_url)
            self._replace_settings(self.settings.replace(admin_url_template=conversation_url))

    # --- test alert --------------------------------------------------------------------------

    @Slot()
    def send_test_alert(self) -> None:
        """*Send me a test alert* (Settings, the demo's first screen): the bridge sends a signed test alert to this
        app's own connection; it pops up when it arrives (:meth:`_on_test_alert`)."""
        log.info("test alert requested")
        self._test_alert_arrived = False
        self.client.send_test_alert()

    @Slot(bool, str, str)
    def _on_test_alert_sent(self, ok: bool, words: str, detail: str) -> None:
        if ok and self._test_alert_arrived:
            return  # the alert itself was faster than the bridge's answer: "arrived" stands
        if ok:
            self._test_alert_timer.start()
        else:
            log.warning("test alert: %s (%s)", words, detail)
        self._say_test_alert(ok, words, detail)

    @Slot(object)
    def _on_test_alert(self, received: ReceivedEvent) -> None:
        """A verified test alert arrived on the stream: pop it up (also when quiet: the agent asked for it)."""
        self._test_alert_timer.stop()
        self._test_alert_arrived = True
        self.notifier.show(Notification(
            key=TEST_ALERT_KEY, title="Test alert — alerts reach you",
            body="Case alerts from your team's alert server pop up here like this one.", target=LIST_TARGET))
        if self.settings.sound_enabled:
            self.sound.play(self.settings.sound_volume)
        self._say_test_alert(True, "The test alert arrived: alerts reach this computer.", f"test alert {received.id}")

    @Slot()
    def _test_alert_missing(self) -> None:
        self._test_alert_timer.stop()
        log.warning("test alert: sent, but nothing arrived within %d s", TEST_ALERT_WAIT_MS // 1000)
        self._say_test_alert(False, "The test alert was sent but did not arrive. Use Reconnect now in the tray menu "
                             "and try again; if it still does not arrive, tell your admin.", "")

    def _say_test_alert(self, ok: bool, words: str, detail: str) -> None:
        if self._settings_dialog is not None:
            self._settings_dialog.show_test_result(ok, words, detail)
        self.window.show_welcome_result(ok, words)
