"""The event list's model and its filter proxy.

The model holds a window of the newest events (a few thousand), shown newest first; views see the
newest ``exposed`` of them and ``fetchMore`` exposes more as the user scrolls, then pages older
rows in from the client's history, so 100k stored events cost nothing until looked at. Live
events are inserted at the top with ``beginInsertRows`` — never a model reset. Counts, filters
and search cover the whole history (see :class:`HistoryModel`).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime
from functools import lru_cache
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
    Signal,
)
from PySide6.QtGui import QFont

from trayapp.core.event import ReceivedEvent
from trayapp.model.describe import case_label, event_key, kind_label
from trayapp.model.rows import HistoryRow, RowFilter
from trayapp.ui.plain import CELL_CHARS, TOOLTIP_CHARS, clean, rich_plain

ModelIndex = QModelIndex | QPersistentModelIndex

#: How many held rows each ``fetchMore`` exposes.
BATCH = 500
#: How many older rows each ``fetchMore`` past the window asks the client for.
PAGE = 500
#: How many matches a search over the whole history shows (the newest).
SEARCH_LIMIT = 1000


class Column(enum.IntEnum):
    TIME = 0
    KIND = 1
    CASE = 2
    CONTACT = 3
    TITLE = 4


_COLUMNS = len(Column)

HEADERS = {
    Column.TIME: "Time",
    Column.KIND: "Kind / status",
    Column.CASE: "Case",
    Column.CONTACT: "Contact",
    Column.TITLE: "Title",
}

EVENT_ID_ROLE = Qt.ItemDataRole.UserRole + 1
RECEIVED_ROLE = Qt.ItemDataRole.UserRole + 2
UNREAD_ROLE = Qt.ItemDataRole.UserRole + 3
KEY_ROLE = Qt.ItemDataRole.UserRole + 4
_ROLES = frozenset({
    Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole, Qt.ItemDataRole.FontRole,
    Qt.ItemDataRole.AccessibleTextRole, EVENT_ID_ROLE, RECEIVED_ROLE, UNREAD_ROLE, KEY_ROLE,
})


@lru_cache(maxsize=4096)
def parse_time(received_at: str) -> datetime | None:
    """The local time of an ISO-8601 timestamp, or ``None`` when it is not one."""
    try:
        value = datetime.fromisoformat(received_at)
    except ValueError:
        return None
    return value.astimezone() if value.tzinfo else value


def format_time(received_at: str, today: datetime | None = None) -> str:
    """``14:03:22`` for today, ``2026-11-23 09:58`` otherwise."""
    value = parse_time(received_at)
    if value is None:
        return received_at
    today = today or datetime.now().astimezone()
    if value.date() == today.date():
        return value.strftime("%H:%M:%S")
    return value.strftime("%Y-%m-%d %H:%M")


class _Rows:
    """Rows newest first without moving anything: ``newer`` grows at the top (live events, oldest first),
    ``older`` at the bottom (loaded history and older pages, newest first). ``pos``: event id -> index in
    ``newer`` (>= 0) or ``-1 - index`` in ``older``."""

    __slots__ = ("newer", "older", "pos")

    def __init__(self, newest_first: Iterable[ReceivedEvent] = ()) -> None:
        self.newer: list[ReceivedEvent] = []
        self.older: list[ReceivedEvent] = []
        self.pos: dict[str, int] = {}
        for received in newest_first:
            self.add_old(received)

    def __len__(self) -> int:
        return len(self.newer) + len(self.older)

    def __contains__(self, event_id: object) -> bool:
        return event_id in self.pos

    def add_new(self, received: ReceivedEvent) -> None:
        self.pos[received.id] = len(self.newer)
        self.newer.append(received)

    def add_old(self, received: ReceivedEvent) -> None:
        self.pos[received.id] = -1 - len(self.older)
        self.older.append(received)

    def at(self, row: int) -> ReceivedEvent:
        top = len(self.newer)
        return self.newer[top - 1 - row] if row < top else self.older[row - top]

    def row_of(self, event_id: str) -> int | None:
        pos = self.pos.get(event_id)
        if pos is None:
            return None
        return len(self.newer) - 1 - pos  # older[i] has pos -1 - i and shows in row len(newer) + i

    def get(self, event_id: str) -> ReceivedEvent | None:
        pos = self.pos.get(event_id)
        if pos is None:
            return None
        return self.newer[pos] if pos >= 0 else self.older[-1 - pos]

    def oldest(self) -> ReceivedEvent | None:
        if self.older:
            return self.older[-1]
        return self.newer[0] if self.newer else None


class HistoryModel(QAbstractTableModel):
    """The events the app has stored, newest first.

    The model holds a *window* of the newest events (the client's ``history_loaded``, live events on top); views
    see ``BATCH`` more of them per ``fetchMore``; past the window's end ``fetchMore`` asks for ``PAGE`` older rows
    (``older_requested``; one request in flight) and :meth:`add_older` appends them. Counts are the whole
    history's (:meth:`set_counts`, from the client), not the window's. While a filter that could match rows
    outside the window is active, :meth:`apply_filter` asks for the newest ``SEARCH_LIMIT`` matches of the whole
    history (``search_requested``) and :meth:`add_search_results` shows those instead of the window (one reset
    in, one out); live events still appear on top.

    Signals:
        unread_changed(int): the number of unread events (whole history) changed.
        counts_changed(int, int): total and unread events of the whole history.
        older_requested(str, int): load up to ``int`` events stored before this event id.
        search_requested(int, object, int): find the newest ``int`` rows the ``RowFilter`` accepts (request id).
        search_status_changed(): :attr:`searching` / :attr:`results` changed.
    """

    unread_changed = Signal(int)
    counts_changed = Signal(int, int)
    older_requested = Signal(str, int)
    search_requested = Signal(int, object, int)
    search_status_changed = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._window = _Rows()
        self._rows = self._window  # what views see: the window, or search results
        self._unread: set[str] = set()
        self._exposed = 0
        self._window_exposed = 0  # the window's exposed rows while results are shown
        self._db_more = False  # older rows may exist in the history beyond the window
        self._fetching: str | None = None  # the before-id of the older page in flight
        self._fetch_limit = PAGE
        self._counts: tuple[int, int] | None = None  # (total, unread) of the whole history
        self._search_id = 0
        self._searching = False
        self._results: tuple[int, bool] | None = None  # (rows found, more exist) while results are shown
        self._bold = QFont()
        self._bold.setBold(True)

    # --- feeding -----------------------------------------------------------------------------

    def set_rows(self, rows: Sequence[HistoryRow]) -> None:
        """The newest stored events, newest first (the client's ``history_loaded``): the window."""
        live = list(reversed(self._window.newer))  # events that arrived live before the history (unusual)
        live_unread = set(self._unread)
        self.beginResetModel()
        self._window = _Rows()
        self._unread = set()
        for received in live:
            if received.id in live_unread:
                self._unread.add(received.id)
        for row in rows:
            if row.event.id not in self._window:
                self._window.add_old(row.event)
                if not row.read:
                    self._unread.add(row.event.id)
        for received in reversed(live):
            if received.id not in self._window:
                self._window.add_new(received)
        self._rows = self._window
        self._results = None
        self._searching = False
        self._search_id += 1
        self._db_more = bool(rows)
        self._fetching = None
        self._exposed = min(len(self._rows), BATCH)
        self.endResetModel()
        self.unread_changed.emit(self.unread_count)

    def set_counts(self, total: int, unread: int) -> None:
        """The whole history's counts (the client's ``counts_changed``)."""
        was = self.unread_count
        self._counts = (total, unread)
        if total <= len(self._window):
            self._db_more = False
        self.counts_changed.emit(total, unread)
        if unread != was:  # the tray redraws its badge on this
            self.unread_changed.emit(unread)

    def add_row(self, row: HistoryRow, replaying: bool = False) -> bool:
        """One event just stored; shown at the top. Returns False for a duplicate id."""
        return self.add_rows([row]) == 1

    def add_rows(self, rows: Sequence[HistoryRow]) -> int:
        """Events just stored, oldest first; shown at the top in one insertion. Returns how many were new."""
        fresh: list[HistoryRow] = []
        seen: set[str] = set()
        for row in rows:
            event_id = row.event.id
            if event_id not in self._window and event_id not in seen:
                seen.add(event_id)
                fresh.append(row)
        if not fresh:
            return 0
        for row in fresh:
            self._window.add_new(row.event)
            if not row.read:
                self._unread.add(row.event.id)
        shown = fresh
        if self._rows is not self._window:
            shown = [row for row in fresh if row.event.id not in self._rows]
            self._window_exposed += len(fresh)
        if shown:
            self.beginInsertRows(QModelIndex(), 0, len(shown) - 1)
            if self._rows is not self._window:
                for row in shown:
                    self._rows.add_new(row.event)
            self._exposed += len(shown)
            self.endInsertRows()
        unread = sum(1 for row in fresh if not row.read)
        if self._counts is not None:
            self._counts = (self._counts[0] + len(fresh), self._counts[1] + unread)
            self.counts_changed.emit(*self._counts)
        if unread:
            self.unread_changed.emit(self.unread_count)
        return len(fresh)

    def add_older(self, before_id: str, rows: Sequence[HistoryRow]) -> int:
        """An older page arrived (the client's ``older_loaded``), newest first; appended below the window."""
        if before_id != self._fetching:
            return 0  # not asked for (a reset since)
        self._fetching = None
        if len(rows) < self._fetch_limit:
            self._db_more = False
        fresh = [row for row in rows if row.event.id not in self._window]
        if not fresh:
            return 0
        showing = self._rows is self._window and self._exposed == len(self._window)
        if showing:
            self.beginInsertRows(QModelIndex(), self._exposed, self._exposed + len(fresh) - 1)
        for row in fresh:
            self._window.add_old(row.event)
            if not row.read:
                self._unread.add(row.event.id)
        if showing:
            self._exposed += len(fresh)
            self.endInsertRows()
        return len(fresh)

    # --- filters and search over the whole history -------------------------------------------

    @property
    def holds_everything(self) -> bool:
        """The window is the whole history (a filter needs nothing from the database)."""
        return (not self._db_more and self._fetching is None) or (
            self._counts is not None and len(self._window) >= self._counts[0])

    @property
    def searching(self) -> bool:
        return self._searching

    @property
    def results(self) -> tuple[int, bool] | None:
        """``(rows found, more exist)`` while search results are shown instead of the window."""
        return self._results

    def apply_filter(self, row_filter: RowFilter | None) -> None:
        """A filter or search changed (``None``: none). Ask for matches in the whole history when the window does
        not hold everything; meanwhile (and otherwise) the proxy filters the rows held."""
        self._search_id += 1
        was_searching, self._searching = self._searching, False
        if row_filter is None or not row_filter.needs_history or self.holds_everything:
            self._show_window()
            if row_filter is not None and row_filter.active:
                self.expose_all()
        else:
            self.expose_all()
            self._searching = True
            self.search_requested.emit(self._search_id, row_filter, SEARCH_LIMIT)
        if was_searching or self._searching:
            self.search_status_changed.emit()

    def add_search_results(self, request: int, rows: Sequence[HistoryRow], more: bool) -> None:
        """Matches from the whole history (the client's ``search_finished``), newest first: shown instead of the
        window, with live events since the window was loaded on top (the proxy filters them)."""
        if request != self._search_id or not self._searching:
            return  # a newer search or a cleared filter superseded it
        results = _Rows(row.event for row in rows)
        for received in self._window.newer:
            if received.id not in results:
                results.add_new(received)
        for row in rows:
            if row.event.id not in self._window:  # the window's read state is the newer one
                (self._unread.discard if row.read else self._unread.add)(row.event.id)
        self.beginResetModel()
        if self._rows is self._window:
            self._window_exposed = self._exposed
        self._rows = results
        self._exposed = len(results)
        self._searching = False
        self._results = (len(rows), more)
        self.endResetModel()
        self.search_status_changed.emit()

    def _show_window(self) -> None:
        if self._rows is self._window:
            return
        self.beginResetModel()
        for event_id in self._rows.pos:
            if event_id not in self._window:
                self._unread.discard(event_id)
        self._rows = self._window
        self._exposed = min(max(self._window_exposed, BATCH), len(self._window))
        self._results = None
        self.endResetModel()
        self.search_status_changed.emit()

    def expose_all(self) -> None:
        """Make every held event visible to views (a filter or search must see all rows held)."""
        if self._exposed < len(self._rows):
            self.beginInsertRows(QModelIndex(), self._exposed, len(self._rows) - 1)
            self._exposed = len(self._rows)
            self.endInsertRows()

    # --- read state --------------------------------------------------------------------------

    def set_read(self, ids: Iterable[str], read: bool = True) -> None:
        """Read state changed (the client's ``read_changed``, or at once when the agent marks events)."""
        changed = []
        for event_id in ids:
            if event_id not in self._window and event_id not in self._rows:
                continue
            if read and event_id in self._unread:
                self._unread.discard(event_id)
            elif not read and event_id not in self._unread:
                self._unread.add(event_id)
            else:
                continue
            changed.append(event_id)
        if not changed:
            return
        rows = [r for r in (self.row_of(i) for i in changed) if r is not None]
        if rows:
            last = self.columnCount() - 1
            self.dataChanged.emit(self.index(min(rows), 0), self.index(max(rows), last),
                                  [Qt.ItemDataRole.FontRole, UNREAD_ROLE])
        if self._counts is not None:  # at once; the client's counts_changed confirms
            delta = -len(changed) if read else len(changed)
            self._counts = (self._counts[0], max(0, self._counts[1] + delta))
            self.counts_changed.emit(*self._counts)
        self.unread_changed.emit(self.unread_count)

    def set_all_read(self) -> None:
        self.set_read(list(self._unread), True)
        if self._counts is not None and self._counts[1]:
            self._counts = (self._counts[0], 0)
            self.counts_changed.emit(*self._counts)
            self.unread_changed.emit(0)

    # --- queries -----------------------------------------------------------------------------

    @property
    def unread_count(self) -> int:
        """Unread events in the whole history (those held until the client's first ``counts_changed``)."""
        return self._counts[1] if self._counts is not None else len(self._unread)

    @property
    def total(self) -> int:
        """Events in the whole history (those held until the client's first ``counts_changed``)."""
        return self._counts[0] if self._counts is not None else len(self._window)

    @property
    def held(self) -> int:
        """Events held in memory: the window (with the older pages loaded so far)."""
        return len(self._window)

    def unread_ids(self) -> list[str]:
        """Unread events held in memory."""
        return list(self._unread)

    def is_unread(self, event_id: str) -> bool:
        return event_id in self._unread

    def received(self, row: int) -> ReceivedEvent:
        """The event shown in ``row`` (0 = newest)."""
        return self._rows.at(row)

    def find(self, event_id: str) -> ReceivedEvent | None:
        """A held event (window or search results), or ``None``."""
        return self._rows.get(event_id) or self._window.get(event_id)

    def row_of(self, event_id: str) -> int | None:
        """The row showing this event, or ``None`` (not held, or not exposed yet)."""
        row = self._rows.row_of(event_id)
        return row if row is not None and row < self._exposed else None

    # --- Qt model API ------------------------------------------------------------------------

    def rowCount(self, parent: ModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else self._exposed

    def columnCount(self, parent: ModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else _COLUMNS

    def _can_page(self) -> bool:
        return self._rows is self._window and self._db_more and self._fetching is None and len(self._window) > 0

    def canFetchMore(self, parent: ModelIndex) -> bool:
        if parent.isValid():
            return False
        return self._exposed < len(self._rows) or self._can_page()

    def fetchMore(self, parent: ModelIndex) -> None:
        if parent.isValid():
            return
        more = min(BATCH, len(self._rows) - self._exposed)
        if more > 0:
            self.beginInsertRows(QModelIndex(), self._exposed, self._exposed + more - 1)
            self._exposed += more
            self.endInsertRows()
        elif self._can_page():
            oldest = self._window.oldest()
            assert oldest is not None
            self._fetching = oldest.id
            self._fetch_limit = PAGE
            self.older_requested.emit(oldest.id, PAGE)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return HEADERS.get(Column(section)) if 0 <= section < len(Column) else None
        return None

    @staticmethod
    def _cell_text(received: ReceivedEvent, column: int, tooltip: bool = False) -> str:
        """A cell's words (raw: :meth:`data` makes them plain for the role)."""
        event = received.event
        if column == Column.TIME:
            if tooltip:
                value = parse_time(received.received_at)
                return value.strftime("%A %Y-%m-%d %H:%M:%S %Z") if value else received.received_at
            return format_time(received.received_at)
        if column == Column.KIND:
            return kind_label(event)
        if column == Column.CASE:
            return case_label(event)
        if column == Column.CONTACT:
            return event.contact_name or ""
        if column == Column.TITLE:
            if tooltip:
                return "\n".join(p for p in (event.title, event.text, event.channel) if p)
            if event.title or event.text:
                return event.title or event.text or ""
            return f"agent {event.agent_name}" if event.agent_name else (event.department or "")
        return ""

    def data(self, index: ModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role not in _ROLES or not index.isValid() or not 0 <= index.row() < self._exposed:
            return None  # the delegate asks for ~10 roles per cell while painting: answer the rest fast
        received = self.received(index.row())
        event = received.event
        if role == Qt.ItemDataRole.DisplayRole:
            return clean(self._cell_text(received, index.column()), CELL_CHARS, newlines=False)
        if role == Qt.ItemDataRole.ToolTipRole:
            # Qt guesses rich text in tooltips: a visitor's <h1>, <img> or <table> would render. Always plain.
            return rich_plain(self._cell_text(received, index.column(), tooltip=True), TOOLTIP_CHARS)
        if role == Qt.ItemDataRole.FontRole:
            return self._bold if received.id in self._unread else None
        if role == EVENT_ID_ROLE:
            return received.id
        if role == RECEIVED_ROLE:
            return received
        if role == UNREAD_ROLE:
            return received.id in self._unread
        if role == KEY_ROLE:
            return event_key(event)
        if role == Qt.ItemDataRole.AccessibleTextRole:
            return f"{'Unread. ' if received.id in self._unread else ''}{kind_label(event)} {case_label(event)}"
        return None


class HistoryFilterProxy(QSortFilterProxyModel):
    """Filters the list by notify key(s), free text and unread state (a :class:`RowFilter`). It does not sort:
    the source is already newest first. Each change goes to :meth:`HistoryModel.apply_filter`, which exposes all
    held rows and, when the window is not the whole history, searches the history for matches.

    Signals: only those of ``QSortFilterProxyModel``.
    """

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._filter = RowFilter()
        self.setDynamicSortFilter(False)

    def _history(self) -> HistoryModel:
        model = self.sourceModel()
        assert isinstance(model, HistoryModel)
        return model

    def _change(self, **values: Any) -> None:
        self.beginFilterChange()
        self._filter = replace(self._filter, **values)
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)
        self._history().apply_filter(self._filter if self._filter.active else None)

    def set_keys(self, keys: Iterable[str] | None) -> None:
        """Show only these notify keys; ``None`` shows every kind."""
        new = None if keys is None else frozenset(keys)
        if new != self._filter.keys:
            self._change(keys=new)

    def set_text(self, text: str) -> None:
        """Show only rows whose case, contact, title, text, channel, agent or kind contains ``text``."""
        needle = text.strip().casefold()
        if needle != self._filter.needle:
            self._change(needle=needle)

    def set_unread_only(self, unread_only: bool) -> None:
        if unread_only != self._filter.unread_only:
            self._change(unread_only=unread_only)

    def set_ids(self, ids: Iterable[str] | None) -> None:
        """Show only these event ids (e.g. the catch-up summary's events); ``None``: no such restriction."""
        new = None if ids is None else frozenset(ids)
        if new != self._filter.ids:
            self._change(ids=new)

    @property
    def ids(self) -> frozenset[str] | None:
        return self._filter.ids

    @property
    def row_filter(self) -> RowFilter:
        return self._filter

    @property
    def active(self) -> bool:
        return self._filter.active

    def filterAcceptsRow(self, source_row: int, source_parent: ModelIndex) -> bool:
        if not self._filter.active:
            return True
        model = self._history()
        received = model.received(source_row)
        return self._filter.accepts(received, model.is_unread(received.id))
