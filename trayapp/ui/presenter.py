"""The notification router: the Qt adapter of the alert policy (:mod:`trayapp.model.alerts`).

It feeds the policy with events, connection states and clock ticks (one single-shot ``QTimer`` armed for the
policy's next deadline) and turns the policy's decisions into signals. It knows nothing about the back-end:
it emits :class:`~trayapp.ui.notify.Notification` values that the composition root hands to the notifier.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from PySide6.QtCore import QObject, QTimer, Signal, Slot

from trayapp.core.event import Event, ReceivedEvent
from trayapp.core.words import NEEDS_A_LINK
from trayapp.model.alerts import (
    CATCH_UP_KEY,
    CATCH_UP_TARGET,
    FOREVER,
    OFFLINE_KEY,
    Action,
    AlertConfig,
    AlertPolicy,
    Show,
    notification_key,
)
from trayapp.model.describe import DEFAULT_NOTIFY
from trayapp.model.notification import LIST_TARGET, Notification, Urgency
from trayapp.settings import Settings

log = logging.getLogger(__name__)

__all__ = ["CATCH_UP_KEY", "CATCH_UP_TARGET", "FOREVER", "GAP_KEY", "Presenter", "notification_key",
           "tomorrow_morning"]

GAP_KEY = "warning:gap"
_MAX_TIMER_MS = 24 * 3600 * 1000


def _now() -> datetime:
    return datetime.now().astimezone()


def tomorrow_morning(now: datetime, hour: int = 8) -> datetime:
    """``hour`` o'clock on the next day, in ``now``'s time zone (the end of "until tomorrow")."""
    return (now + timedelta(days=1)).replace(hour=hour, minute=0, second=0, microsecond=0)


def _received(row: object) -> ReceivedEvent:
    return row if isinstance(row, ReceivedEvent) else row.event  # type: ignore[attr-defined]


class Presenter(QObject):
    """Decides which events notify (through :class:`AlertPolicy`) and formats them.

    Feed it with :meth:`on_event` (the client's ``event_received``), :meth:`on_caught_up`, :meth:`on_state`,
    :meth:`acknowledge` (the agent opened or marked events read) and :meth:`on_dismissed`.

    Signals:
        notify(object): a :class:`Notification` to show (same key: replaces the one on screen).
        withdraw(str): the key of a notification to take away.
        dnd_changed(object): manual do-not-disturb now ends at this aware ``datetime``, or ``None`` (off).
        quiet_changed(object, str): the effective quiet time (manual DND or outside working hours) ends at this
            ``datetime`` (``None``: alerts pop); the reason in words.
        offline_alarm(object): the connection has been down too long since this ``datetime``; ``None``: over.
        play_sound(int): play the alert sound at this volume (0-100).
    """

    notify = Signal(object)
    withdraw = Signal(str)
    dnd_changed = Signal(object)
    quiet_changed = Signal(object, str)
    offline_alarm = Signal(object)
    play_sound = Signal(int)

    def __init__(
        self,
        enabled: Iterable[str] = DEFAULT_NOTIFY,
        clock: Callable[[], datetime] = _now,
        parent: QObject | None = None,
        settings: Settings | None = None,
    ) -> None:
        super().__init__(parent)
        self._clock = clock
        self.policy = AlertPolicy(
            AlertConfig.from_settings(settings) if settings is not None else AlertConfig(notify=frozenset(enabled))
        )
        self._backlog: list[ReceivedEvent] = []
        self._quiet: tuple[datetime | None, str] = (None, "")
        self._alarm = False
        self._dnd_timer = QTimer(self)
        self._dnd_timer.setSingleShot(True)
        self._dnd_timer.timeout.connect(self._check_dnd)
        #: The policy's clock: armed for its next deadline; tests advance their clock and call :meth:`tick`.
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.timeout.connect(self.tick)

    # --- settings ----------------------------------------------------------------------------

    @property
    def enabled(self) -> frozenset[str]:
        return self.policy.config.notify

    def set_enabled(self, keys: Iterable[str]) -> None:
        """The notify keys (``Settings.notify``) that pop up."""
        self.policy.config = dataclasses.replace(self.policy.config, notify=frozenset(keys))

    def apply_settings(self, settings: Settings) -> None:
        """Every alert setting at once (the settings dialog's OK)."""
        self.policy.config = AlertConfig.from_settings(settings)
        self._after()

    def wants(self, event: Event) -> bool:
        """Whether this event's kind/status notifies (ignoring do-not-disturb): a whole kind
        (``"chat.message"``) or one status of it (``"chat.status/pending"``) is enabled."""
        return self.policy.wants(event)

    @property
    def catch_up_ids(self) -> list[str]:
        """The events the last catch-up summary counted (its click shows the list filtered to them)."""
        return list(self.policy.catch_up_ids)

    # --- do not disturb ----------------------------------------------------------------------

    @property
    def dnd_until(self) -> datetime | None:
        """When manual do-not-disturb ends, or ``None`` when it is off."""
        self._check_dnd()
        return self.policy.manual_until

    @property
    def dnd_active(self) -> bool:
        return self.dnd_until is not None

    @property
    def quiet_until(self) -> datetime | None:
        """When the current quiet time (manual or working hours) ends; ``None``: alerts pop."""
        return self.policy.quiet_until(self._clock())

    @property
    def quiet_reason(self) -> str:
        """``"do not disturb"``, ``"outside working hours"`` or ``""``."""
        return self.policy.quiet_reason(self._clock())

    def refresh(self) -> None:
        """Publish the current quiet state and offline alarm, and arm the timer (e.g. once at start)."""
        self._after()

    @Slot(object)
    def set_dnd_until(self, until: datetime | None) -> None:
        """Turn do-not-disturb on until ``until`` (aware; :data:`FOREVER` = until turned off), or off."""
        if until is not None and until <= self._clock():
            until = None
        self.policy.manual_until = until
        self._dnd_timer.stop()
        if until is not None:
            ms = int((until - self._clock()).total_seconds() * 1000) + 50
            self._dnd_timer.start(min(ms, _MAX_TIMER_MS))
        self.dnd_changed.emit(until)
        self._after()

    def dnd_for(self, duration: timedelta) -> None:
        self.set_dnd_until(self._clock() + duration)

    def next_work_start(self) -> datetime:
        """When the next working day starts (the working days and start time of the Alerts page, also when
        *Pop up only in working hours* is off): the end of "until work starts"."""
        now = self._clock()
        start = self.policy.next_work_start(now)
        if start is not None:
            return start
        hour, minute = (int(part) for part in self.policy.config.working_start.split(":"))
        return tomorrow_morning(now, hour).replace(minute=minute)

    def dnd_until_tomorrow(self) -> None:
        """Quiet until the next working-hours start (:meth:`next_work_start`)."""
        self.set_dnd_until(self.next_work_start())

    def dnd_until_off(self) -> None:
        self.set_dnd_until(FOREVER)

    @Slot()
    def _check_dnd(self) -> None:
        until = self.policy.manual_until
        if until is None:
            return
        now = self._clock()
        if until <= now:
            self.policy.manual_until = None
            self._dnd_timer.stop()
            self.dnd_changed.emit(None)
            self._after()
        elif not self._dnd_timer.isActive():  # timers are capped at a day: re-arm
            ms = int((until - now).total_seconds() * 1000) + 50
            self._dnd_timer.start(min(ms, _MAX_TIMER_MS))

    # --- events ------------------------------------------------------------------------------

    def build(self, received: ReceivedEvent) -> Notification:
        """The notification for one event."""
        return self.policy.build(received)

    @Slot(object, bool)
    def on_event(self, row: object, replaying: bool) -> None:
        """A stored event (a ``HistoryRow`` or a bare ``ReceivedEvent``) arrived."""
        received = _received(row)
        if getattr(row, "read", False):
            return
        if replaying:
            self._backlog.append(received)
            return
        self._run(self.policy.on_event(received, self._clock()))

    @Slot(int)
    def on_caught_up(self, count: int) -> None:
        """The backlog replay ended: one popup for what came in while we were away."""
        backlog, self._backlog = self._backlog, []
        self._run(self.policy.on_backlog(backlog, self._clock()))

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

    def acknowledge(self, events: Iterable[object]) -> None:
        """The agent opened or marked these events (``ReceivedEvent`` or rows) read: their cases stop calling."""
        self._run(self.policy.acknowledge([_received(e) for e in events]))

    def acknowledge_all(self) -> None:
        self._run(self.policy.acknowledge_all())

    @Slot(str)
    def on_dismissed(self, key: str) -> None:
        """The notifier says a popup went away (expired, closed by the user, replaced by the server)."""
        self.policy.dismissed(key)

    @Slot(object)
    def on_state(self, status: object) -> None:
        """The client's ``ConnectionStatus`` (``state``, ``since``, ``problem``)."""
        state = getattr(status, "state", status)
        name = str(getattr(state, "name", state))
        actions = self.policy.connection(name, getattr(status, "since", None), self._clock())
        problem = getattr(getattr(status, "problem", None), "value", None)
        if name.upper() == "ERROR" and problem in NEEDS_A_LINK:
            # The app has said what to do (a new link) at once: no generic "keeps trying; check your network" later.
            self.policy.offline_alarm = True
            actions = [a for a in actions if not (isinstance(a, Show) and a.notification.key == OFFLINE_KEY)]
        self._run(actions)

    # --- the clock -----------------------------------------------------------------------------

    @Slot()
    def tick(self) -> None:
        """Let the policy look at the clock (the timer calls this; tests call it after moving their clock)."""
        self._run(self.policy.tick(self._clock()))

    def _run(self, actions: list[Action]) -> None:
        volume = self.policy.config.sound_volume
        for action in actions:
            if isinstance(action, Show):
                if action.sound:
                    self.play_sound.emit(volume)
                self.notify.emit(action.notification)
            else:
                self.withdraw.emit(action.key)
        self._after()

    def _after(self) -> None:
        """Publish state derived from the policy and arm the timer for its next deadline."""
        now = self._clock()
        quiet = (self.policy.quiet_until(now), self.policy.quiet_reason(now))
        if quiet != self._quiet:
            self._quiet = quiet
            self.quiet_changed.emit(*quiet)
        if self.policy.offline_alarm != self._alarm:
            self._alarm = self.policy.offline_alarm
            self.offline_alarm.emit(self.policy.down_since if self._alarm else None)
        deadline = self.policy.next_deadline(now)
        if deadline is None:
            self.timer.stop()
        else:
            ms = max(0, int((deadline - now).total_seconds() * 1000)) + 20
            self.timer.start(min(ms, _MAX_TIMER_MS))
