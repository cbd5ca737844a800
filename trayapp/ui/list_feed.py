"""The client's rows into the list's model, in order and in batches.

Live events reach the list in batches — one insertion per turn of the event loop — so a backlog of thousands does not
repaint the list thousands of times. Every other answer of the client (the loaded window, counts, search results,
read states) first puts the batch in, so the model always sees the client's answers in the order they came.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, QTimer, Slot

from trayapp.model.rows import HistoryRow
from trayapp.ui.list_model import HistoryModel


class ListFeed(QObject):
    def __init__(self, model: HistoryModel, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self._incoming: list[HistoryRow] = []
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(0)
        self._timer.timeout.connect(self.flush)

    def add(self, row: HistoryRow) -> None:
        """A live event for the list (inserted on the next turn of the event loop, with the others by then)."""
        self._incoming.append(row)
        if not self._timer.isActive():
            self._timer.start()

    @Slot()
    def flush(self) -> None:
        """Put the events received so far into the list now."""
        self._timer.stop()
        rows, self._incoming = self._incoming, []
        if rows:
            self.model.add_rows(rows)

    @Slot(list)
    def on_history(self, rows: list[Any]) -> None:
        self.flush()
        self.model.set_rows(rows)

    @Slot(int, int)
    def on_counts(self, total: int, unread: int) -> None:
        self.flush()  # the counts include the events queued for the list
        self.model.set_counts(total, unread)

    @Slot(int, list, bool)
    def on_search_finished(self, request: int, rows: list[Any], more: bool) -> None:
        self.flush()
        self.model.add_search_results(request, rows, more)

    @Slot(list, bool)
    def on_read_changed(self, ids: list[str], read: bool) -> None:
        self.flush()
        self.model.set_read(ids, read)
