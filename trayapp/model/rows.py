"""A stored event as the list sees it (:class:`HistoryRow`) and the list's filter (:class:`RowFilter`)."""

from __future__ import annotations

from dataclasses import dataclass

from trayapp.core.event import ReceivedEvent
from trayapp.model.describe import event_key, kind_label


@dataclass(frozen=True, slots=True)
class HistoryRow:
    """One event of the local history and whether the agent has read it."""

    event: ReceivedEvent
    read: bool


@dataclass(frozen=True)
class RowFilter:
    """What the list shows while a filter or search is active; also the predicate a history search runs in the
    client's worker thread (pure: immutable fields, no Qt). ``trayapp.client.history.filter_sql`` is its SQL
    pre-filter over the history's columns."""

    keys: frozenset[str] | None = None
    needle: str = ""  # casefolded
    unread_only: bool = False
    ids: frozenset[str] | None = None

    @property
    def active(self) -> bool:
        return self.keys is not None or bool(self.needle) or self.unread_only or self.ids is not None

    @property
    def needs_history(self) -> bool:
        """Rows outside the GUI's window can match (the catch-up restriction names recent events only)."""
        return self.ids is None and (self.keys is not None or bool(self.needle) or self.unread_only)

    def accepts(self, received: ReceivedEvent, unread: bool) -> bool:
        event = received.event
        if self.unread_only and not unread:
            return False
        if self.ids is not None and received.id not in self.ids:
            return False
        if self.keys is not None and event_key(event) not in self.keys:
            return False
        if self.needle:
            needle = self.needle
            for part in (event.case_id, event.contact_name, event.title, event.text, event.channel,
                         event.agent_name):
                if part and needle in part.casefold():
                    return True
            return needle in kind_label(event).casefold()
        return True

    def __call__(self, row: HistoryRow) -> bool:
        return self.accepts(row.event, not row.read)
