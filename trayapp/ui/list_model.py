"""The event list's model and its filter proxy.

Rows are kept oldest-first internally (appending a live event is O(1)) and shown newest-first.
Only the newest ``exposed`` rows are visible to views; ``fetchMore`` exposes more as the user
scrolls, so 100k stored events cost nothing until looked at. Live events are inserted at the
top with ``beginInsertRows`` — never a model reset.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any, Protocol

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
from trayapp.ui.describe import case_label, event_key, kind_label

ModelIndex = QModelIndex | QPersistentModelIndex

#: How many rows each ``fetchMore`` exposes.
BATCH = 500


class RowLike(Protocol):
    """What the model needs of a ``client.history.HistoryRow``."""

    @property
    def event(self) -> ReceivedEvent: ...

    @property
    def read(self) -> bool: ...


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


class HistoryModel(QAbstractTableModel):
    """The events the app has stored, newest first.

    Signals:
        unread_changed(int): the number of unread events changed.
    """

    unread_changed = Signal(int)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._events: list[ReceivedEvent] = []  # oldest first
        self._position: dict[str, int] = {}  # event id -> index in _events
        self._unread: set[str] = set()
        self._exposed = 0
        self._bold = QFont()
        self._bold.setBold(True)

    # --- feeding -----------------------------------------------------------------------------

    def set_rows(self, rows: Sequence[RowLike]) -> None:
        """The stored history, newest first (the client's ``history_loaded``)."""
        live = list(self._events)
        live_unread = set(self._unread)
        self.beginResetModel()
        self._events = []
        self._position = {}
        self._unread = set()
        for row in reversed(rows):
            self._append(row.event, not row.read)
        for received in live:  # events that arrived live before the history (unusual)
            if received.id not in self._position:
                self._append(received, received.id in live_unread)
        self._exposed = min(len(self._events), BATCH)
        self.endResetModel()
        self.unread_changed.emit(len(self._unread))

    def add_row(self, row: RowLike, replaying: bool = False) -> bool:
        """One event just stored; shown at the top. Returns False for a duplicate id."""
        return self.add_rows([row]) == 1

    def add_rows(self, rows: Sequence[RowLike]) -> int:
        """Events just stored, oldest first; shown at the top in one insertion. Returns how many were new."""
        fresh: list[RowLike] = []
        seen: set[str] = set()
        for row in rows:
            event_id = row.event.id
            if event_id not in self._position and event_id not in seen:
                seen.add(event_id)
                fresh.append(row)
        if not fresh:
            return 0
        self.beginInsertRows(QModelIndex(), 0, len(fresh) - 1)
        for row in fresh:
            self._append(row.event, not row.read)
        self._exposed += len(fresh)
        self.endInsertRows()
        if any(not row.read for row in fresh):
            self.unread_changed.emit(len(self._unread))
        return len(fresh)

    def expose_all(self) -> None:
        """Make every held event visible to views (a filter or search must see the whole history)."""
        if self._exposed < len(self._events):
            self.beginInsertRows(QModelIndex(), self._exposed, len(self._events) - 1)
            self._exposed = len(self._events)
            self.endInsertRows()

    def _append(self, received: ReceivedEvent, unread: bool) -> None:
        self._position[received.id] = len(self._events)
        self._events.append(received)
        if unread:
            self._unread.add(received.id)

    def set_read(self, ids: Iterable[str], read: bool = True) -> None:
        """Read state changed (the client's ``read_changed``)."""
        changed = []
        for event_id in ids:
            if event_id not in self._position:
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
        self.unread_changed.emit(len(self._unread))

    def set_all_read(self) -> None:
        self.set_read(list(self._unread), True)

    # --- queries -----------------------------------------------------------------------------

    @property
    def unread_count(self) -> int:
        return len(self._unread)

    @property
    def total(self) -> int:
        """Every event held, exposed to views or not."""
        return len(self._events)

    def unread_ids(self) -> list[str]:
        return list(self._unread)

    def is_unread(self, event_id: str) -> bool:
        return event_id in self._unread

    def received(self, row: int) -> ReceivedEvent:
        """The event shown in ``row`` (0 = newest)."""
        return self._events[len(self._events) - 1 - row]

    def find(self, event_id: str) -> ReceivedEvent | None:
        pos = self._position.get(event_id)
        return None if pos is None else self._events[pos]

    def row_of(self, event_id: str) -> int | None:
        """The row showing this event, or ``None`` (unknown, or not exposed yet)."""
        pos = self._position.get(event_id)
        if pos is None:
            return None
        row = len(self._events) - 1 - pos
        return row if row < self._exposed else None

    # --- Qt model API ------------------------------------------------------------------------

    def rowCount(self, parent: ModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else self._exposed

    def columnCount(self, parent: ModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else _COLUMNS

    def canFetchMore(self, parent: ModelIndex) -> bool:
        return not parent.isValid() and self._exposed < len(self._events)

    def fetchMore(self, parent: ModelIndex) -> None:
        if parent.isValid():
            return
        more = min(BATCH, len(self._events) - self._exposed)
        if more <= 0:
            return
        self.beginInsertRows(QModelIndex(), self._exposed, self._exposed + more - 1)
        self._exposed += more
        self.endInsertRows()

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return HEADERS.get(Column(section)) if 0 <= section < len(Column) else None
        return None

    def data(self, index: ModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role not in _ROLES or not index.isValid() or not 0 <= index.row() < self._exposed:
            return None  # the delegate asks for ~10 roles per cell while painting: answer the rest fast
        received = self.received(index.row())
        event = received.event
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            column = index.column()
            if column == Column.TIME:
                if role == Qt.ItemDataRole.ToolTipRole:
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
                if role == Qt.ItemDataRole.ToolTipRole:
                    return "\n".join(p for p in (event.title, event.text, event.channel) if p) or None
                if event.title or event.text:
                    return event.title or event.text
                return f"agent {event.agent_name}" if event.agent_name else (event.department or "")
            return None
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
    """Filters the list by notify key(s), free text and unread state. It does not sort: the
    source is already newest first. While a filter is active the whole history is exposed.

    Signals: only those of ``QSortFilterProxyModel``.
    """

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._keys: frozenset[str] | None = None
        self._needle = ""
        self._unread_only = False
        self._ids: frozenset[str] | None = None
        self.setDynamicSortFilter(False)

    def _history(self) -> HistoryModel:
        model = self.sourceModel()
        assert isinstance(model, HistoryModel)
        return model

    def _change(self, **values: Any) -> None:
        self.beginFilterChange()
        for name, value in values.items():
            setattr(self, name, value)
        if self.active:  # a filter or search looks at the whole history, not only the rows shown so far
            self._history().expose_all()
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def set_keys(self, keys: Iterable[str] | None) -> None:
        """Show only these notify keys; ``None`` shows every kind."""
        new = None if keys is None else frozenset(keys)
        if new != self._keys:
            self._change(_keys=new)

    def set_text(self, text: str) -> None:
        """Show only rows whose case, contact, title, text, channel, agent or kind contains ``text``."""
        needle = text.strip().casefold()
        if needle != self._needle:
            self._change(_needle=needle)

    def set_unread_only(self, unread_only: bool) -> None:
        if unread_only != self._unread_only:
            self._change(_unread_only=unread_only)

    def set_ids(self, ids: Iterable[str] | None) -> None:
        """Show only these event ids (e.g. the catch-up summary's events); ``None``: no such restriction."""
        new = None if ids is None else frozenset(ids)
        if new != self._ids:
            self._change(_ids=new)

    @property
    def ids(self) -> frozenset[str] | None:
        return self._ids

    @property
    def active(self) -> bool:
        return self._keys is not None or bool(self._needle) or self._unread_only or self._ids is not None

    def filterAcceptsRow(self, source_row: int, source_parent: ModelIndex) -> bool:
        if not self.active:
            return True
        model = self._history()
        received = model.received(source_row)
        event = received.event
        if self._unread_only and not model.is_unread(received.id):
            return False
        if self._ids is not None and received.id not in self._ids:
            return False
        if self._keys is not None and event_key(event) not in self._keys:
            return False
        if self._needle:
            needle = self._needle
            for part in (event.case_id, event.contact_name, event.title, event.text, event.channel,
                         event.agent_name):
                if part and needle in part.casefold():
                    return True
            return needle in kind_label(event).casefold()
        return True
