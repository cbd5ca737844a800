"""The notification router: which events pop up, with which words, and do-not-disturb.

It knows nothing about the back-end: it emits :class:`~trayapp.ui.notify.Notification` values
that the composition root hands to the notifier.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from PySide6.QtCore import QObject, QTimer, Signal, Slot

from trayapp.core.event import Event, ReceivedEvent
from trayapp.settings import notify_key
from trayapp.ui.describe import DEFAULT_NOTIFY, event_key, notification_text
from trayapp.ui.notify.base import LIST_TARGET, Notification, Urgency

log = logging.getLogger(__name__)

CATCH_UP_KEY = "summary:catch-up"
GAP_KEY = "warning:gap"
_MAX_TIMER_MS = 24 * 3600 * 1000


def _now() -> datetime:
    return datetime.now().astimezone()


def notification_key(event: Event, event_id: str) -> str:
    """One popup per case: later events of a case replace its popup."""
    return f"case:{event.case_id}" if event.case_id else f"event:{event_id}"


def tomorrow_morning(now: datetime, hour: int = 8) -> datetime:
    """``hour`` o'clock on the next day, in ``now``'s time zone (the end of "until tomorrow")."""
    nxt = (now + timedelta(days=1)).replace(hour=hour, minute=0, second=0, microsecond=0)
    return nxt


class Presenter(QObject):
    """Decides which events notify and formats them.

    Feed it with :meth:`on_event` (the client's ``event_received``) and :meth:`on_caught_up`.
    Events replayed from the backlog are not popped one by one: after ``caught_up`` one
    notification names the single event, or a summary opens the list.

    Signals:
        notify(object): a :class:`Notification` to show.
        withdraw(str): the key of a notification to take away.
        dnd_changed(object): do-not-disturb now ends at this aware ``datetime``, or ``None`` (off).
    """

    notify = Signal(object)
    withdraw = Signal(str)
    dnd_changed = Signal(object)

    def __init__(
        self,
        enabled: Iterable[str] = DEFAULT_NOTIFY,
        clock: Callable[[], datetime] = _now,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._clock = clock
        self._enabled = frozenset(enabled)
        self._dnd_until: datetime | None = None
        self._backlog: list[ReceivedEvent] = []
        self._dnd_timer = QTimer(self)
        self._dnd_timer.setSingleShot(True)
        self._dnd_timer.timeout.connect(self._check_dnd)

    # --- settings ----------------------------------------------------------------------------

    @property
    def enabled(self) -> frozenset[str]:
        return self._enabled

    def set_enabled(self, keys: Iterable[str]) -> None:
        """The notify keys (``Settings.notify``) that pop up."""
        self._enabled = frozenset(keys)

    def wants(self, event: Event) -> bool:
        """Whether this event's kind/status notifies (ignoring do-not-disturb): a whole kind
        (``"chat.message"``) or one status of it (``"chat.status/pending"``) is enabled."""
        enabled = self._enabled
        return event.kind in enabled or event_key(event) in enabled or notify_key(event) in enabled

    # --- do not disturb ----------------------------------------------------------------------

    @property
    def dnd_until(self) -> datetime | None:
        """When do-not-disturb ends, or ``None`` when it is off."""
        self._check_dnd()
        return self._dnd_until

    @property
    def dnd_active(self) -> bool:
        return self.dnd_until is not None

    @Slot(object)
    def set_dnd_until(self, until: datetime | None) -> None:
        """Turn do-not-disturb on until ``until`` (aware), or off with ``None``."""
        if until is not None and until <= self._clock():
            until = None
        self._dnd_until = until
        self._dnd_timer.stop()
        if until is not None:
            ms = int((until - self._clock()).total_seconds() * 1000) + 50
            self._dnd_timer.start(min(ms, _MAX_TIMER_MS))
        self.dnd_changed.emit(until)

    def dnd_for(self, duration: timedelta) -> None:
        self.set_dnd_until(self._clock() + duration)

    def dnd_until_tomorrow(self) -> None:
        self.set_dnd_until(tomorrow_morning(self._clock()))

    @Slot()
    def _check_dnd(self) -> None:
        if self._dnd_until is None:
            return
        now = self._clock()
        if self._dnd_until <= now:
            self._dnd_until = None
            self._dnd_timer.stop()
            self.dnd_changed.emit(None)
        elif not self._dnd_timer.isActive():  # timers are capped at a day: re-arm
            ms = int((self._dnd_until - now).total_seconds() * 1000) + 50
            self._dnd_timer.start(min(ms, _MAX_TIMER_MS))

    # --- events ------------------------------------------------------------------------------

    def build(self, received: ReceivedEvent) -> Notification:
        """The notification for one event."""
        event = received.event
        title, body = notification_text(event)
        urgency = Urgency.LOW if event_key(event) in ("chat.status/closed", "agent.status", "other") else Urgency.NORMAL
        category = "im.received" if event.kind in ("case.new", "chat.status", "chat.message") else None
        return Notification(
            key=notification_key(event, received.id),
            title=title,
            body=body,
            target=received.id,
            urgency=urgency,
            category=category,
        )

    @Slot(object, bool)
    def on_event(self, row: object, replaying: bool) -> None:
        """A stored event (a ``HistoryRow`` or a bare ``ReceivedEvent``) arrived."""
        received = row.event if not isinstance(row, ReceivedEvent) else row  # type: ignore[attr-defined]
        if getattr(row, "read", False) or not self.wants(received.event):
            return
        if replaying:
            self._backlog.append(received)
            return
        if self.dnd_active:
            log.debug("do not disturb: not showing %s", received.id)
            return
        self.notify.emit(self.build(received))

    @Slot(int)
    def on_caught_up(self, count: int) -> None:
        """The backlog replay ended: one popup for what came in while we were away."""
        backlog, self._backlog = self._backlog, []
        if not backlog or self.dnd_active:
            return
        if len(backlog) == 1:
            self.notify.emit(self.build(backlog[0]))
            return
        newest = backlog[-1]
        lines = [notification_text(r.event)[0] for r in reversed(backlog[-3:])]
        if len(backlog) > 3:
            lines.append(f"and {len(backlog) - 3} more")
        self.notify.emit(
            Notification(
                key=CATCH_UP_KEY,
                title=f"{len(backlog)} alerts while you were away",
                body="\n".join(lines),
                target=LIST_TARGET,
                category="im.received",
                extra_hints={"x-trayapp-newest": newest.id},
            )
        )

    @Slot(object)
    def on_gap(self, gap: object = None) -> None:
        """Some events could not be recovered: say so once (also during do-not-disturb: it is about missed
        customers), the click opens the list."""
        self.notify.emit(
            Notification(
                key=GAP_KEY,
                title="Some alerts could not be recovered",
                body="The connection was interrupted for too long. Check Acquire for cases that arrived meanwhile.",
                target=LIST_TARGET,
                urgency=Urgency.CRITICAL,
            )
        )
