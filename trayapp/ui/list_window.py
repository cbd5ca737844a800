"""The event list window: what happened, newest first; opening an event opens its conversation."""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import ClassVar

from PySide6.QtCore import QModelIndex, QPoint, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QAction, QCloseEvent, QGuiApplication, QIcon, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMenu,
    QPushButton,
    QTableView,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from trayapp.core.event import AGENT_STATUSES, ReceivedEvent
from trayapp.model.describe import NOTIFY_KEYS
from trayapp.ui.list_model import EVENT_ID_ROLE, RECEIVED_ROLE, Column, HistoryFilterProxy, HistoryModel

LinkBuilder = Callable[[ReceivedEvent], str | None]

SEARCH_DELAY_MS = 200

#: Filter choices: label -> notify keys (``None`` = everything).
FILTERS: dict[str, frozenset[str] | None] = {
    "All kinds": None,
    "Waiting (new, pending, queue)": frozenset({"case.new", "chat.status/pending", "chat.status/queue"}),
    **{label: frozenset({key}) for key, label in NOTIFY_KEYS.items()},
}


def alerts(count: int) -> str:
    """``1 alert``, ``3 alerts``."""
    return f"{count} alert{'s' if count != 1 else ''}"


class Banner(QFrame):
    """A coloured strip with a message and, optionally, a close button.

    Signals:
        dismissed(): the user closed it.
    """

    dismissed = Signal()

    STYLES: ClassVar[dict[str, str]] = {
        "warning": "background:#fff4ce; color:#3d2e00; border:1px solid #e0b300;",
        "error": "background:#fde7e9; color:#5c0010; border:1px solid #d13438;",
        "info": "background:#e5f1fb; color:#00264d; border:1px solid #5b9bd5;",
    }

    def __init__(self, level: str = "warning", closable: bool = True, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName(f"banner-{level}")
        self.setStyleSheet(f"#banner-{level} {{ {self.STYLES[level]} border-radius:4px; }}"
                           f"#banner-{level} QLabel {{ border:none; background:transparent; }}")
        layout = self.row = QHBoxLayout(self)
        layout.setContentsMargins(10, 6, 6, 6)
        self.label = QLabel(self)
        self.label.setWordWrap(True)
        self.label.setTextFormat(Qt.TextFormat.PlainText)  # reasons may quote what a bridge or visitor sent
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.label.setAccessibleName(f"{level} message text")
        layout.addWidget(self.label, 1)
        if closable:
            close = QToolButton(self)
            close.setText("✕")
            close.setAutoRaise(True)
            close.setToolTip("Dismiss")
            close.setAccessibleName("Dismiss message")
            close.clicked.connect(self._dismiss)
            layout.addWidget(close, 0, Qt.AlignmentFlag.AlignTop)
        self.setAccessibleName(f"{level} message")
        self.hide()

    def show_message(self, text: str) -> None:
        self.label.setText(text)
        self.setAccessibleDescription(text)
        self.show()

    @Slot()
    def _dismiss(self) -> None:
        self.hide()
        self.dismissed.emit()


class ListWindow(QMainWindow):
    """The list of events.

    Signals:
        open_requested(str): open this event's conversation (Enter, double-click, context menu).
        mark_read_requested(list): mark these event ids read.
        mark_all_read_requested(): mark every event read.
        quit_requested(): the window was closed while it is the main window (no system tray).
        test_alert_requested(): the welcome strip's *Send me a test alert* (the demo's first screen).
    """

    open_requested = Signal(str)
    mark_read_requested = Signal(list)
    mark_all_read_requested = Signal()
    quit_requested = Signal()
    test_alert_requested = Signal()

    def __init__(self, model: HistoryModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._model = model
        self._link_for: LinkBuilder = lambda _received: None
        self._main_window_mode = False
        self._gaps = 0
        self._dropped = 0
        self._unreadable = 0
        self._not_popped = 0
        self.setObjectName("ListWindow")
        self.resize(900, 520)

        self.proxy = HistoryFilterProxy(self)
        self.proxy.setSourceModel(model)

        central = QWidget(self)
        layout = QVBoxLayout(central)
        layout.setContentsMargins(8, 8, 8, 4)
        layout.setSpacing(6)

        self.no_tray_banner = Banner("info", closable=False, parent=central)
        self.warning_banner = Banner("warning", parent=central)
        self.warning_banner.dismissed.connect(self._reset_warnings)
        self.welcome_banner = Banner("info", parent=central)
        self.welcome_button = QPushButton(self.welcome_banner)
        self.welcome_button.setAccessibleName("Send me a test alert")
        self.welcome_button.clicked.connect(self.test_alert_requested)
        self.welcome_banner.row.insertWidget(1, self.welcome_button)
        self.welcome_result = QLabel(self.welcome_banner)
        self.welcome_result.setTextFormat(Qt.TextFormat.PlainText)
        self.welcome_result.setWordWrap(True)
        self.welcome_result.setAccessibleName("Test alert result")
        self.welcome_result.hide()
        self.welcome_banner.row.insertWidget(2, self.welcome_result, 1)
        layout.addWidget(self.no_tray_banner)
        layout.addWidget(self.welcome_banner)
        layout.addWidget(self.warning_banner)
        self.only_bar = QWidget(central)  # "Showing only …  [Show all]" (the catch-up summary's click)
        only_layout = QHBoxLayout(self.only_bar)
        only_layout.setContentsMargins(0, 0, 0, 0)
        self.only_label = QLabel(self.only_bar)
        self.only_label.setAccessibleName("List restriction")
        self.only_label.setTextFormat(Qt.TextFormat.PlainText)
        self.show_all_button = QPushButton("Show a&ll events", self.only_bar)
        self.show_all_button.setAccessibleName("Show all events")
        self.show_all_button.clicked.connect(self.show_all)
        only_layout.addWidget(self.only_label, 1)
        only_layout.addWidget(self.show_all_button)
        self.only_bar.hide()
        layout.addWidget(self.only_bar)

        self.state_label = QLabel(central)
        self.state_label.setAccessibleName("Connection state")
        self.state_label.setTextFormat(Qt.TextFormat.RichText)
        layout.addWidget(self.state_label)

        bar = QHBoxLayout()
        self.filter_combo = QComboBox(central)
        self.filter_combo.addItems(list(FILTERS))
        self.filter_combo.setAccessibleName("Filter by kind or status")
        self.filter_combo.currentTextChanged.connect(self._on_filter_changed)
        self.search = QLineEdit(central)
        self.search.setPlaceholderText("Search case, contact, title…  (Ctrl+F)")
        self.search.setClearButtonEnabled(True)
        self.search.setAccessibleName("Search events")
        self._search_timer = QTimer(self)  # type-ahead: search once typing pauses (the whole history is searched)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(SEARCH_DELAY_MS)
        self._search_timer.timeout.connect(self.apply_search)
        self.search.textChanged.connect(self._search_timer.start)
        self.unread_only = QCheckBox("&Unread only", central)
        self.unread_only.setAccessibleName("Show unread events only")
        self.unread_only.toggled.connect(self.proxy.set_unread_only)
        self.mark_all_button = QPushButton("Mark &all read", central)
        self.mark_all_button.setAccessibleName("Mark all events read")
        self.mark_all_button.clicked.connect(self.mark_all_read_requested)
        bar.addWidget(self.filter_combo)
        bar.addWidget(self.search, 1)
        bar.addWidget(self.unread_only)
        bar.addWidget(self.mark_all_button)
        layout.addLayout(bar)

        self.search_hint = QLabel(central)  # "Searching the whole history…" / "Showing the newest N matches"
        self.search_hint.setAccessibleName("Search status")
        self.search_hint.setTextFormat(Qt.TextFormat.PlainText)  # may quote what was searched for
        self.search_hint.setStyleSheet("color: palette(mid);")
        self.search_hint.hide()
        layout.addWidget(self.search_hint)

        self.empty_label = QLabel(
            "No alerts yet. New cases and chat status changes will appear here as they happen.", central)
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_label.setWordWrap(True)
        self.empty_label.setStyleSheet("color: palette(mid); padding: 24px;")
        layout.addWidget(self.empty_label)

        self.table = QTableView(central)
        self.table.setModel(self.proxy)
        self.table.setAccessibleName("Events, newest first")
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.setShowGrid(False)
        self.table.setWordWrap(False)
        self.table.setSortingEnabled(False)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self.table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 8)
        header = self.table.horizontalHeader()
        header.setHighlightSections(False)
        widths = {Column.TIME: 130, Column.KIND: self._kind_width(), Column.CASE: 80, Column.CONTACT: 170}
        for column, width in widths.items():
            header.resizeSection(column, width)
        header.setStretchLastSection(True)
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.table.customContextMenuRequested.connect(self._context_menu)
        self.table.activated.connect(self._on_activated)
        layout.addWidget(self.table, 1)
        self.setCentralWidget(central)

        self.count_label = QLabel(self)
        self.statusBar().addPermanentWidget(self.count_label)

        self.open_action = QAction("&Open conversation", self)
        self.open_action.setShortcuts([QKeySequence(Qt.Key.Key_Return), QKeySequence(Qt.Key.Key_Enter)])
        self.open_action.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        self.open_action.triggered.connect(self.open_current)
        self.copy_action = QAction("&Copy link", self)
        self.copy_action.setShortcut(QKeySequence("Ctrl+C"))
        self.copy_action.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        self.copy_action.triggered.connect(self.copy_link)
        self.mark_read_action = QAction("&Mark read", self)
        self.mark_read_action.setShortcut(QKeySequence("Ctrl+M"))
        self.mark_read_action.triggered.connect(self.mark_selected_read)
        self.mark_all_action = QAction("Mark a&ll read", self)
        self.mark_all_action.setShortcut(QKeySequence("Ctrl+Shift+M"))
        self.mark_all_action.triggered.connect(self.mark_all_read_requested)
        self.search_action = QAction("&Search", self)
        self.search_action.setShortcut(QKeySequence("Ctrl+F"))
        self.search_action.triggered.connect(self._focus_search)
        self.close_action = QAction("&Close window", self)
        self.close_action.setShortcuts([QKeySequence("Ctrl+W"), QKeySequence(Qt.Key.Key_Escape)])
        self.close_action.triggered.connect(self._close_unless_main)
        self.table.addActions([self.open_action, self.copy_action])
        self.addActions([self.mark_read_action, self.mark_all_action, self.search_action, self.close_action])

        self.view_menu = self.menuBar().addMenu("&Events")
        self.view_menu.addActions([self.open_action, self.copy_action, self.mark_read_action, self.mark_all_action])
        self.view_menu.addSeparator()
        self.view_menu.addActions([self.search_action, self.close_action])

        model.unread_changed.connect(self._update_counts)
        model.rowsInserted.connect(self._update_counts)
        model.modelReset.connect(self._update_counts)
        model.counts_changed.connect(self._update_counts)
        model.search_status_changed.connect(self._update_search_hint)
        model.search_status_changed.connect(self._update_empty)
        for signal in (self.proxy.rowsInserted, self.proxy.rowsRemoved, self.proxy.modelReset,
                       self.proxy.layoutChanged):
            signal.connect(self._update_empty)
        self._update_counts()

    def _kind_width(self) -> int:
        """Wide enough for every kind/status label the list shows (and its header)."""
        metrics = self.fontMetrics()
        labels = [*NOTIFY_KEYS.values(), *(f"Agent {s}" for s in AGENT_STATUSES), "Kind / status"]
        return max(metrics.horizontalAdvance(label) for label in labels) + 24

    # --- configuration from the composition root ---------------------------------------------

    def set_link_builder(self, link_for: LinkBuilder) -> None:
        """How to turn an event into its conversation URL (for *Copy link*)."""
        self._link_for = link_for

    def add_app_menu(self, menu: QMenu) -> None:
        """Put the app's menu (settings, do not disturb, reconnect, quit) into the menu bar."""
        self.menuBar().insertMenu(self.view_menu.menuAction(), menu)

    def set_main_window_mode(self, reason: str) -> None:
        """There is no system tray: this window is the app, and says why."""
        self._main_window_mode = True
        self.no_tray_banner.show_message(
            f"{reason} This window is trayapp's main window: alerts still pop up while it is open "
            "(or minimised). Closing it quits trayapp.")

    def show_welcome(self, text: str, button: str) -> None:
        """A first-screen strip with a button (the demo: *Send me a test alert*)."""
        self.welcome_button.setText(button)
        self.welcome_banner.show_message(text)

    def show_welcome_result(self, ok: bool, words: str) -> None:
        """What came of the welcome strip's button (only while the strip is shown)."""
        if self.welcome_banner.isHidden():
            return
        self.welcome_result.setStyleSheet("color:#107c10;" if ok else "color:#c42b1c;")
        self.welcome_result.setText(("✔ " if ok else "✘ ") + words)
        self.welcome_result.show()

    @property
    def main_window_mode(self) -> bool:
        return self._main_window_mode

    # --- state shown -------------------------------------------------------------------------

    STATE_COLOURS: ClassVar[dict[str, str]] = {
        "connected": "#17874f", "connecting": "#c98a00", "offline": "#c62828", "error": "#b3261e", "dnd": "#5a5f9a"}

    @Slot(str)
    def set_state_text(self, text: str, look: str = "") -> None:
        """The connection state in words; ``look`` (connected/connecting/offline/error/dnd) colours its dot (an
        error gets a cross: another shape, not only another colour)."""
        colour = self.STATE_COLOURS.get(look)
        mark = "✖" if look == "error" else "●"
        dot = f'<span style="color:{colour}; font-size:large">{mark}</span>&nbsp;' if colour else ""
        self.state_label.setText(dot + html.escape(text))
        self.state_label.setAccessibleDescription(text)

    @Slot(object)
    def show_gap(self, gap: object = None) -> None:
        """Some events could not be recovered after a reconnect."""
        self._gaps += 1
        self._show_warnings()

    @Slot(str)
    def show_verification_failed(self, reason: str) -> None:
        """An event failed its signature check and was dropped."""
        self._dropped += 1
        self._last_drop_reason = reason
        self._show_warnings()

    def _show_warnings(self) -> None:
        parts = []
        if self._gaps:
            parts.append("Some alerts could not be recovered after the connection was interrupted"
                         + (f" ({self._gaps} times)." if self._gaps > 1 else ".")
                         + " Check Acquire directly for anything that arrived meanwhile.")
        if self._dropped:
            parts.append(f"{self._dropped} alert{'s' if self._dropped != 1 else ''} failed verification and "
                         f"{'were' if self._dropped != 1 else 'was'} ignored ({self._last_drop_reason}). "
                         "If this keeps happening, ask your admin for a new connection link.")
        if self._unreadable:
            parts.append(f"{alerts(self._unreadable)} could not be shown: "
                         f"{'they' if self._unreadable != 1 else 'it'} arrived but could not be read or saved. "
                         "Check Acquire directly; the log says why.")
        if self._not_popped:
            parts.append(f"{alerts(self._not_popped)} could not be shown as a popup; "
                         f"{'they are' if self._not_popped != 1 else 'it is'} in this list.")
        self.warning_banner.show_message("\n".join(parts))

    @Slot(str)
    def show_event_skipped(self, reason: str = "") -> None:
        """An event arrived but could not be stored or read (the client dropped it): it is not in the list."""
        self._unreadable += 1
        self._show_warnings()

    @Slot()
    def show_not_popped(self) -> None:
        """An alert could not be shown as a popup (it is in the list)."""
        self._not_popped += 1
        self._show_warnings()

    @Slot()
    def _reset_warnings(self) -> None:
        self._gaps = 0
        self._dropped = 0
        self._unreadable = 0
        self._not_popped = 0

    def clear_warnings(self) -> None:
        """Their cause is gone (e.g. a new link is in use): take the warning strip away."""
        self._reset_warnings()
        self.warning_banner.hide()

    @Slot()
    def _close_unless_main(self) -> None:
        """Ctrl+W / Escape: close the list, except when it is the app's main window (that would quit)."""
        if not self._main_window_mode:
            self.close()

    @Slot()
    def _update_counts(self) -> None:
        unread = self._model.unread_count
        total = self._model.total
        # The desktop adds " — trayapp" (the application's display name) itself.
        self.setWindowTitle(f"{unread} unread" if unread else "Alerts")
        self.count_label.setText(f"{total} event{'s' if total != 1 else ''}, {unread} unread")
        self.mark_all_button.setEnabled(unread > 0)
        self.mark_all_action.setEnabled(unread > 0)
        self._update_empty()

    @Slot()
    def _update_empty(self) -> None:
        """No events at all, or none that match: say which, instead of a blank table."""
        if self._model.total == 0 and self._model.rowCount() == 0:
            text = "No alerts yet. New cases and chat status changes will appear here as they happen."
        elif self.proxy.rowCount() == 0 and not self._model.searching:
            text = "No events match " + self._filter_words() + ". Clear the search or pick another filter."
        else:
            text = ""
        self.empty_label.setText(text)
        self.empty_label.setVisible(bool(text))

    def _filter_words(self) -> str:
        parts = []
        if self.search.text().strip():
            parts.append(f"“{self.search.text().strip()}”")
        if self.filter_combo.currentIndex() > 0:
            parts.append(f"the filter “{self.filter_combo.currentText()}”")
        if self.unread_only.isChecked():
            parts.append("“Unread only”")
        if self.only_bar.isVisible():
            parts.append("this selection")
        return " and ".join(parts) or "this view"

    @Slot()
    def _update_search_hint(self) -> None:
        results = self._model.results
        if self._model.searching:
            text = "Searching the whole history…"
        elif results is not None and results[1]:
            text = (f"Showing the newest {results[0]:,} matches from the whole history. "
                    "Refine the search to find older ones.")
        elif results is not None:
            text = f"{results[0]:,} match{'es' if results[0] != 1 else ''} in the whole history."
        else:
            text = ""
        self.search_hint.setText(text)
        self.search_hint.setVisible(bool(text))

    # --- actions -----------------------------------------------------------------------------

    def selected_ids(self) -> list[str]:
        rows = self.table.selectionModel().selectedRows()
        if not rows and self.table.currentIndex().isValid():
            rows = [self.table.currentIndex()]
        return [str(index.data(EVENT_ID_ROLE)) for index in rows]

    def _current_received(self) -> ReceivedEvent | None:
        index = self.table.currentIndex()
        value = index.siblingAtColumn(0).data(RECEIVED_ROLE) if index.isValid() else None
        return value if isinstance(value, ReceivedEvent) else None

    @Slot(QModelIndex)
    def _on_activated(self, index: QModelIndex) -> None:
        event_id = index.siblingAtColumn(0).data(EVENT_ID_ROLE)
        if event_id:
            self.open_requested.emit(str(event_id))

    @Slot()
    def open_current(self) -> None:
        received = self._current_received()
        if received is not None:
            self.open_requested.emit(received.id)

    @Slot()
    def copy_link(self) -> None:
        received = self._current_received()
        if received is None:
            return
        url = self._link_for(received)
        if url:
            QGuiApplication.clipboard().setText(url)
            self.statusBar().showMessage("Link copied", 3000)
        else:
            self.statusBar().showMessage("This event has no conversation link", 5000)

    @Slot()
    def mark_selected_read(self) -> None:
        ids = [i for i in self.selected_ids() if self._model.is_unread(i)]
        if ids:
            self.mark_read_requested.emit(ids)

    def show_only(self, ids: list[str], words: str) -> None:
        """Restrict the list to these events (the catch-up summary), saying so, with a way back."""
        self.proxy.set_ids(ids)
        self.only_label.setText(f"Showing {words}.")
        self.only_bar.show()

    @Slot()
    def show_all(self) -> None:
        self.proxy.set_ids(None)
        self.only_bar.hide()

    @Slot()
    def apply_search(self) -> None:
        """Filter by the search text now (normally a short pause after typing)."""
        self._search_timer.stop()
        self.proxy.set_text(self.search.text())

    @Slot()
    def _focus_search(self) -> None:
        self.search.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.search.selectAll()

    @Slot(str)
    def _on_filter_changed(self, label: str) -> None:
        self.proxy.set_keys(FILTERS.get(label))

    def context_menu(self) -> QMenu:
        """The menu a right click on a row shows (built fresh each time)."""
        menu = QMenu(self)
        received = self._current_received()
        menu.addAction(self.open_action)
        copy = menu.addAction(self.copy_action.text())
        copy.triggered.connect(self.copy_link)
        copy.setEnabled(received is not None and self._link_for(received) is not None)
        menu.addAction(self.mark_read_action)
        self.mark_read_action.setEnabled(any(self._model.is_unread(i) for i in self.selected_ids()))
        menu.addSeparator()
        menu.addAction(self.mark_all_action)
        return menu

    @Slot(QPoint)
    def _context_menu(self, pos: QPoint) -> None:
        if not self.table.indexAt(pos).isValid():
            return
        menu = self.context_menu()
        menu.exec(self.table.viewport().mapToGlobal(pos))
        menu.deleteLater()
        self.mark_read_action.setEnabled(True)

    def bring_to_front(self) -> None:
        """Show, un-minimise and raise the window."""
        if self.isMinimized():
            self.setWindowState(self.windowState() & ~Qt.WindowState.WindowMinimized)
        self.show()
        self.raise_()
        self.activateWindow()

    def closeEvent(self, event: QCloseEvent) -> None:
        if self._main_window_mode:
            self.quit_requested.emit()
        super().closeEvent(event)

    def set_icon(self, icon: QIcon) -> None:
        self.setWindowIcon(icon)
