"""The desktop client's work on its local history, in the session's loop (``trayapp.client.session``).

:class:`HistoryJobs`: the whole history's counts (adjusted or recounted; one ``counts_changed`` per turn of the
loop, so a backlog of thousands of events tells a handful), marking read and unread, paging older rows, one event
with its body, a search over the whole history in steps (the connection is served between them; a newer search
cancels a running one), and pruning.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Final

from ..model.rows import HistoryRow, RowFilter
from .events import SessionEvents
from .history import History, Search

log = logging.getLogger(__name__)

#: Rows a search reads per step; the worker serves the connection between steps.
SEARCH_CHUNK: Final = 2000


class HistoryJobs:
    def __init__(self, history: History, events: SessionEvents, loop: asyncio.AbstractEventLoop) -> None:
        self.history = history
        self._events = events
        self._loop = loop
        self.counts = (history.count(), history.unread_count())  # (total, unread) of the whole history
        self._counts_due = False
        self._stopped = False
        self._search_task: asyncio.Task[None] | None = None

    def stop(self) -> None:
        """No more work (the session stops): a running search is cancelled, no counts are told."""
        self._stopped = True
        if self._search_task is not None:
            self._search_task.cancel()

    def counts_changed(self, total: int = 0, unread: int = 0, *, recount: bool = False) -> None:
        """Adjust (or recount) the whole history's counts; tell them once per turn of the loop."""
        if recount:
            self.counts = (self.history.count(), self.history.unread_count())
        else:
            self.counts = (self.counts[0] + total, max(0, self.counts[1] + unread))
        if self._counts_due or self._stopped:
            return
        self._counts_due = True

        def emit() -> None:
            self._counts_due = False
            if not self._stopped:
                self._events.counts_changed(*self.counts)

        self._loop.call_soon(emit)

    def prune(self, retention_days: int) -> None:
        if self.history.prune(retention_days):
            self.counts_changed(recount=True)

    def mark(self, ids: list[str], read: bool) -> None:
        if not ids:
            return
        changed = self.history.mark_read(ids, read)
        if changed:
            self._events.read_changed(changed, read)
        self.counts_changed(unread=-len(changed) if read else len(changed))

    def mark_all(self) -> None:
        changed = self.history.mark_all_read()
        if changed:
            self._events.read_changed(changed, True)
        self.counts_changed(recount=True)

    def older(self, before_id: str, limit: int) -> None:
        self._events.older_loaded(before_id, self.history.older(before_id, limit))

    def load(self, event_id: str) -> None:
        self._events.event_loaded(event_id, self.history.get(event_id))

    def search(self, request: int, row_filter: RowFilter, limit: int) -> None:
        if self._search_task is not None:
            self._search_task.cancel()
        self._search_task = self._loop.create_task(self._search(request, row_filter, limit))

    async def _search(self, request: int, row_filter: RowFilter, limit: int) -> None:
        found: list[HistoryRow] = []
        more = False
        try:
            search = Search(self.history, row_filter, limit, chunk=SEARCH_CHUNK)
            while not search.step():
                await asyncio.sleep(0)  # let the connection deliver between pages
            found, more = search.found, search.more
        except Exception:  # a bug in the filter: say "nothing found" rather than stall the list
            log.exception("client: history search failed")
        self._events.search_finished(request, found, more)
