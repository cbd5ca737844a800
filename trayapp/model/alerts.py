"""The alert policy: which events pop up, when waiting customers call again, bursts, catch-up, quiet hours,
sound, "only what concerns me" and the offline alarm.

Plain Python with an injected clock (every method takes ``now``): no Qt objects, no timers. The Qt adapter
(:class:`trayapp.ui.presenter.Presenter`) feeds it events and clock ticks and carries out the :class:`Show` /
:class:`Withdraw` actions it returns; :meth:`AlertPolicy.next_deadline` tells the adapter when to tick next.

Defaults (``trayapp.settings.Settings``): re-alert every 60 s, at most 5 times; more than 3 alerts within 10 s
become one summary; a backlog is one summary; working hours off (Mon-Fri 09:00-17:00 when on); sound on for new
cases and pending/queued chats at 70 %; "only mine" off; the offline alarm after 60 s.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta

from trayapp.core.event import Event, ReceivedEvent
from trayapp.model.describe import event_key, notification_text
from trayapp.model.notification import LIST_TARGET, Notification, Urgency
from trayapp.settings import Settings, notify_key

CATCH_UP_KEY = "summary:catch-up"
#: The ``target`` of the catch-up summary: the list, filtered to the events of the backlog.
CATCH_UP_TARGET = "list:catch-up"
BURST_KEY = "summary:burst"
#: The summary of re-alerts when more waiting customers call at once than the group threshold.
WAITING_KEY = "summary:waiting"
OFFLINE_KEY = "warning:offline"
_DEFAULTS = Settings()
#: Manual do-not-disturb "until turned off" is stored as this far-away time.
FOREVER = datetime(9999, 12, 31, 0, 0).astimezone()

WAITING_STATUSES = frozenset({"pending", "queue"})
_SETTLED = frozenset({"active", "closed"})


def notification_key(event: Event, event_id: str) -> str:
    """One popup per case: later events of a case replace its popup."""
    return f"case:{event.case_id}" if event.case_id else f"event:{event_id}"


def is_waiting(event: Event) -> bool:
    """A customer is waiting: a new case (not already active/closed) or a chat in pending/queue."""
    if event.kind == "case.new":
        return event.status not in _SETTLED
    return event.kind == "chat.status" and event.status in WAITING_STATUSES


def parse_hhmm(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


def age_words(delta: timedelta) -> str:
    seconds = max(0, int(delta.total_seconds()))
    if seconds < 60:
        return f"{seconds} s"
    return f"{seconds // 60} min"


@dataclass(frozen=True, slots=True)
class AlertConfig:
    """The settings the policy reads (the fields of :class:`~trayapp.settings.Settings` of the same names, with its
    defaults: declared once, there)."""

    notify: frozenset[str] = _DEFAULTS.notify
    realert_interval_s: int = _DEFAULTS.realert_interval_s
    realert_max: int = _DEFAULTS.realert_max
    burst_size: int = _DEFAULTS.burst_size
    burst_window_s: int = _DEFAULTS.burst_window_s
    catch_up_summary: bool = _DEFAULTS.catch_up_summary
    working_hours_enabled: bool = _DEFAULTS.working_hours_enabled
    working_days: tuple[int, ...] = _DEFAULTS.working_days
    working_start: str = _DEFAULTS.working_start
    working_end: str = _DEFAULTS.working_end
    dnd_allow_new_cases: bool = _DEFAULTS.dnd_allow_new_cases
    sound_enabled: bool = _DEFAULTS.sound_enabled
    sound_kinds: frozenset[str] = _DEFAULTS.sound_kinds
    sound_volume: int = _DEFAULTS.sound_volume
    only_mine: bool = _DEFAULTS.only_mine
    my_agent_id: str = _DEFAULTS.my_agent_id
    my_departments: tuple[str, ...] = _DEFAULTS.my_departments
    offline_alarm_s: int = _DEFAULTS.offline_alarm_s

    @classmethod
    def from_settings(cls, settings: Settings) -> AlertConfig:
        return cls(**{name: getattr(settings, name) for name in cls.__dataclass_fields__})


@dataclass(frozen=True, slots=True)
class Show:
    """Show (or replace, same key) a notification; ``sound``: play the alert sound with it."""

    notification: Notification
    sound: bool = False


@dataclass(frozen=True, slots=True)
class Withdraw:
    """Take the notification with this key away."""

    key: str


Action = Show | Withdraw


@dataclass(slots=True)
class _Waiting:
    received: ReceivedEvent
    first_seen: datetime
    next_at: datetime
    count: int = 0


@dataclass(slots=True)
class _Burst:
    titles: dict[str, str] = field(default_factory=dict)  # notification key -> its newest title, oldest first
    kinds: set[str] = field(default_factory=set)


class AlertPolicy:
    """The rules. Every public method takes ``now`` (an aware datetime) and returns the actions to carry out."""

    def __init__(self, config: AlertConfig | None = None) -> None:
        self.config = config or AlertConfig()
        self.manual_until: datetime | None = None
        self._waiting: dict[str, _Waiting] = {}
        self._live: set[str] = set()  # keys of event popups we showed and that are (probably) still on screen
        self._recent: list[tuple[datetime, str, Event]] = []  # alerts popped within the burst window
        self._burst: _Burst | None = None
        self._down_since: datetime | None = None
        self.offline_alarm = False
        self.catch_up_ids: list[str] = []

    # --- filters -------------------------------------------------------------------------------

    def wants(self, event: Event) -> bool:
        """The event's kind/status is enabled in the settings."""
        enabled = self.config.notify
        return event.kind in enabled or event_key(event) in enabled or notify_key(event) in enabled

    def concerns_me(self, event: Event) -> bool:
        """"Only what concerns me": my agent id/name or one of my departments. Unassigned new cases and
        pending/queued chats are always shown; with no agent id and no department set, everything is."""
        cfg = self.config
        if not cfg.only_mine:
            return True
        me = cfg.my_agent_id.strip().casefold()
        departments = {d.strip().casefold() for d in cfg.my_departments if d.strip()}
        if not me and not departments:
            return True
        if event.kind == "chat.status" and event.status in WAITING_STATUSES:
            return True
        if event.kind == "case.new" and not (event.agent_id or event.agent_name) and (
                not event.department or not departments):
            return True
        if me and me in {(event.agent_id or "").casefold(), (event.agent_name or "").casefold()}:
            return True
        return bool(event.department and event.department.casefold() in departments)

    def sounds_for(self, event: Event, now: datetime | None = None) -> bool:
        """Whether an alert for this event plays the sound (never during quiet time, when ``now`` is given)."""
        if now is not None and self.quiet_until(now) is not None:
            return False
        cfg = self.config
        kinds = cfg.sound_kinds
        return cfg.sound_enabled and cfg.sound_volume > 0 and (
            event.kind in kinds or event_key(event) in kinds or notify_key(event) in kinds)

    # --- quiet time: do not disturb and working hours -----------------------------------------

    def working(self, now: datetime) -> bool:
        """Within working hours (always True when working hours are off)."""
        cfg = self.config
        if not cfg.working_hours_enabled:
            return True
        start, end = parse_hhmm(cfg.working_start), parse_hhmm(cfg.working_end)
        t, day = now.timetz().replace(tzinfo=None), now.weekday()
        if start <= end:
            return day in cfg.working_days and start <= t < end
        # overnight shift, e.g. 22:00-06:00: the part after midnight belongs to the previous day's shift
        return (day in cfg.working_days and t >= start) or ((day - 1) % 7 in cfg.working_days and t < end)

    def next_work_start(self, now: datetime) -> datetime | None:
        cfg = self.config
        if not cfg.working_days:
            return None
        start = parse_hhmm(cfg.working_start)
        for days in range(0, 8):
            candidate = (now + timedelta(days=days)).replace(hour=start.hour, minute=start.minute, second=0,
                                                             microsecond=0)
            if candidate > now and candidate.weekday() in cfg.working_days:
                return candidate
        return None  # pragma: no cover - some day within a week matches

    def quiet_until(self, now: datetime) -> datetime | None:
        """When the current quiet time ends (manual do-not-disturb or outside working hours), else ``None``."""
        ends: list[datetime] = []
        if self.manual_until is not None and self.manual_until > now:
            ends.append(self.manual_until)
        if not self.working(now):
            start = self.next_work_start(now)
            ends.append(start or FOREVER)
        return max(ends) if ends else None

    def quiet_reason(self, now: datetime) -> str:
        if self.manual_until is not None and self.manual_until > now:
            return "do not disturb"
        return "outside working hours" if not self.working(now) else ""

    def _may_pop(self, event: Event, now: datetime) -> bool:
        if self.quiet_until(now) is None:
            return True
        return self.config.dnd_allow_new_cases and event.kind == "case.new"

    # --- building notifications ---------------------------------------------------------------

    def build(self, received: ReceivedEvent, waited: timedelta | None = None) -> Notification:
        event = received.event
        title, body = notification_text(event)
        if waited is not None:
            title = f"{title} (waiting {age_words(waited)})"
        low = event_key(event) in ("chat.status/closed", "agent.status", "other")
        category = "im.received" if event.kind in ("case.new", "chat.status", "chat.message") else None
        return Notification(key=notification_key(event, received.id), title=title, body=body, target=received.id,
                            urgency=Urgency.LOW if low else Urgency.NORMAL, category=category)

    # --- live events ----------------------------------------------------------------------------

    def on_event(self, received: ReceivedEvent, now: datetime) -> list[Action]:
        """A live (not replayed) unread event."""
        event = received.event
        key = notification_key(event, received.id)
        actions: list[Action] = []
        if not is_waiting(event):
            self._waiting.pop(key, None)  # active/closed (or anything else) ends the calling
        if event.kind == "chat.status" and event.status == "closed" and key in self._live:
            self._live.discard(key)
            return [Withdraw(key)]  # the customer is gone: take the pending alert away
        if not self.wants(event) or not self.concerns_me(event) or not self._may_pop(event, now):
            return actions
        if is_waiting(event) and self.config.realert_max > 0 and self.config.realert_interval_s > 0:
            first = self._waiting[key].first_seen if key in self._waiting else now
            self._waiting[key] = _Waiting(received, first, now + timedelta(seconds=self.config.realert_interval_s))
        return actions + self._pop(received, now)

    def _pop(self, received: ReceivedEvent, now: datetime) -> list[Action]:
        """One alert, or a burst summary when too many popups would appear at once. A later event of a case that
        is already among the recent alerts replaces its popup: it does not count as one more."""
        event = received.event
        key = notification_key(event, received.id)
        window = timedelta(seconds=self.config.burst_window_s)
        self._recent = [r for r in self._recent if now - r[0] < window and r[1] != key]
        if not self._recent:
            self._burst = None
        limit = self.config.burst_size
        if self._burst is None and (limit <= 0 or len(self._recent) < limit):
            self._recent.append((now, key, event))
            self._live.add(key)
            return [Show(self.build(received), self.sounds_for(event, now))]
        actions: list[Action] = []
        first = self._burst is None
        if first:
            self._burst = _Burst()
            for _, old_key, old_event in self._recent:  # the individual popups of the burst make way for one
                self._burst.titles[old_key] = notification_text(old_event)[0]
                self._burst.kinds.add(old_event.kind)
        burst = self._burst
        assert burst is not None
        self._recent.append((now, key, event))
        burst.titles.pop(key, None)
        burst.titles[key] = notification_text(event)[0]
        burst.kinds.add(event.kind)
        for old_key in burst.titles:
            if old_key in self._live:
                self._live.discard(old_key)
                actions.append(Withdraw(old_key))
        titles = list(burst.titles.values())
        n = len(titles)
        lines = list(reversed(titles[-3:])) + ([f"and {n - 3} more"] if n > 3 else [])
        title = f"{n} new cases" if burst.kinds == {"case.new"} else f"{n} new alerts"
        summary = Notification(key=BURST_KEY, title=title, body="\n".join(lines), target=LIST_TARGET,
                               category="im.received")
        actions.append(Show(summary, first and any(self.sounds_for(e, now) for _, _, e in self._recent)))
        return actions

    def acknowledge(self, events: Iterable[ReceivedEvent]) -> list[Action]:
        """The agent opened (or marked read) these events: their cases stop calling, their popups go."""
        actions: list[Action] = []
        for received in events:
            key = notification_key(received.event, received.id)
            self._waiting.pop(key, None)
            if key in self._live:
                self._live.discard(key)
                actions.append(Withdraw(key))
        return actions

    def acknowledge_all(self) -> list[Action]:
        self._waiting.clear()
        actions: list[Action] = [Withdraw(key) for key in sorted(self._live)]
        self._live.clear()
        return actions

    def dismissed(self, key: str) -> None:
        """A popup went away by itself or was closed: it is no longer on screen (a waiting case still calls)."""
        self._live.discard(key)

    @property
    def waiting_keys(self) -> list[str]:
        return sorted(self._waiting)

    # --- catch-up -------------------------------------------------------------------------------

    def on_backlog(self, backlog: Sequence[ReceivedEvent], now: datetime) -> list[Action]:
        """The replay after a (re)start ended. Cases closed by the end of the backlog are stale: not shown."""
        latest: dict[str, ReceivedEvent] = {}
        for received in backlog:
            latest[notification_key(received.event, received.id)] = received
        closed = {key for key, r in latest.items() if r.event.kind == "chat.status" and r.event.status == "closed"}
        relevant = [r for r in backlog
                    if notification_key(r.event, r.id) not in closed and self.wants(r.event)
                    and self.concerns_me(r.event) and self._may_pop(r.event, now)]
        for received in backlog:  # the newest state of each case decides whether it keeps calling
            if not is_waiting(received.event):
                self._waiting.pop(notification_key(received.event, received.id), None)
        gone: list[Action] = []  # cases closed while we were away: their popups still on screen go
        for key in sorted(closed & self._live):
            self._live.discard(key)
            gone.append(Withdraw(key))
        return gone + self._catch_up(latest, relevant, now)

    def _catch_up(self, latest: dict[str, ReceivedEvent],
                  relevant: list[ReceivedEvent], now: datetime) -> list[Action]:
        if not relevant:
            return []
        relevant_keys = {notification_key(r.event, r.id) for r in relevant}
        cfg = self.config
        for key in relevant_keys:
            newest = latest[key]
            if is_waiting(newest.event) and cfg.realert_max > 0 and cfg.realert_interval_s > 0:
                self._waiting[key] = _Waiting(newest, now, now + timedelta(seconds=cfg.realert_interval_s))
        if not cfg.catch_up_summary:
            actions: list[Action] = []
            for received in relevant:
                if latest[notification_key(received.event, received.id)] is received:
                    actions.extend(self._pop(received, now))
            return actions
        if len(relevant_keys) == 1:  # one case: its own popup (its newest state)
            (only,) = relevant_keys
            self._live.add(only)
            return [Show(self.build(latest[only]), self.sounds_for(latest[only].event, now))]
        self.catch_up_ids = [r.id for r in relevant]
        n = len(relevant)
        lines = [notification_text(r.event)[0] for r in reversed(relevant[-3:])]
        if n > 3:
            lines.append(f"and {n - 3} more")
        summary = Notification(key=CATCH_UP_KEY, title=f"{n} events while you were away", body="\n".join(lines),
                               target=CATCH_UP_TARGET, category="im.received",
                               extra_hints={"x-trayapp-newest": relevant[-1].id})
        return [Show(summary, any(self.sounds_for(r.event, now) for r in relevant))]

    # --- the connection ---------------------------------------------------------------------------

    def connection(self, state: str, since: datetime | None, now: datetime) -> list[Action]:
        """The connection state changed (a ``ConnectionState`` name: ``CONNECTED``, ``OFFLINE``, ...)."""
        state = state.upper()
        if state == "NOT_CONFIGURED":
            self._down_since = None
            self.offline_alarm = False
            return []
        if state != "CONNECTED":
            if self._down_since is None:
                self._down_since = since if since is not None and since <= now else now
            return self._check_offline(now)
        down, self._down_since = self._down_since, None
        if not self.offline_alarm:
            return []
        self.offline_alarm = False
        if self.quiet_until(now) is not None:
            return [Withdraw(OFFLINE_KEY)]
        body = f"Connected again at {now:%H:%M}" + (f" (no alerts since {down:%H:%M})." if down else ".")
        return [Show(Notification(key=OFFLINE_KEY, title="Receiving case alerts again", body=body,
                                  target=LIST_TARGET, urgency=Urgency.LOW))]

    @property
    def down_since(self) -> datetime | None:
        return self._down_since

    def _check_offline(self, now: datetime) -> list[Action]:
        since = self._down_since
        if since is None or self.offline_alarm or now - since < timedelta(seconds=self.config.offline_alarm_s):
            return []
        self.offline_alarm = True
        if self.quiet_until(now) is not None:
            return []  # quiet time: the tray icon and tooltip still say it
        return [Show(Notification(
            key=OFFLINE_KEY, title="Not receiving case alerts",
            body=f"No connection to your team's alert server since {since:%H:%M}. trayapp keeps trying; check that "
                 "this computer is online.",
            target=LIST_TARGET, urgency=Urgency.CRITICAL))]

    # --- the clock ---------------------------------------------------------------------------------

    def tick(self, now: datetime) -> list[Action]:
        """Time passed: re-alert waiting customers, end bursts, raise the offline alarm."""
        actions: list[Action] = []
        window = timedelta(seconds=self.config.burst_window_s)
        if self._recent and now - self._recent[-1][0] >= window:
            self._recent.clear()
            self._burst = None
        actions.extend(self._realert(now))
        actions.extend(self._check_offline(now))
        return actions

    def _realert(self, now: datetime) -> list[Action]:
        """Waiting customers call again. They share the burst budget: the cases due now, together with those due
        within the burst window (cases that arrived together call together), pop up one by one while they and the
        popups of the window stay within the group threshold; more become one summary with one sound."""
        cfg = self.config
        interval = timedelta(seconds=max(1, cfg.realert_interval_s))
        window = timedelta(seconds=cfg.burst_window_s)
        if not any(now >= w.next_at for w in self._waiting.values()):
            return []
        ready: list[tuple[str, _Waiting]] = []
        for key, waiting in self._waiting.items():
            if waiting.next_at > now + window:
                continue
            if not self._may_pop(waiting.received.event, now) or self._burst is not None:
                if now >= waiting.next_at:
                    waiting.next_at = now + interval  # postponed, not counted
                continue
            ready.append((key, waiting))
        recent = [r for r in self._recent if now - r[0] < window]
        limit = cfg.burst_size
        over = limit > 0 and len(ready) + len(recent) > limit
        if over and len(ready) == 1:  # the budget is spent by other popups: this one calls when the window ends
            ready[0][1].next_at = max(ready[0][1].next_at, recent[0][0] + window)
            return []
        actions: list[Action] = []
        for key, waiting in ready:
            waiting.count += 1
            if not over:
                self._live.add(key)
                self._recent.append((now, key, waiting.received.event))
                actions.append(Show(self.build(waiting.received, now - waiting.first_seen),
                                    self.sounds_for(waiting.received.event, now)))
            elif key in self._live:  # its own popup makes way for the summary
                self._live.discard(key)
                actions.append(Withdraw(key))
            if waiting.count >= cfg.realert_max:
                del self._waiting[key]
            else:
                waiting.next_at = now + interval
        if over:
            actions.append(self._waiting_summary([w for _, w in ready], now))
        return actions

    def _waiting_summary(self, waiting: list[_Waiting], now: datetime) -> Show:
        """"12 customers still waiting, longest 6 min": the longest waiting first."""
        waiting = sorted(waiting, key=lambda w: w.first_seen)
        n = len(waiting)
        titles = [notification_text(w.received.event)[0] for w in waiting[:3]]
        lines = titles + ([f"and {n - 3} more"] if n > 3 else [])
        self._live.add(WAITING_KEY)
        summary = Notification(
            key=WAITING_KEY, title=f"{n} customers still waiting, longest {age_words(now - waiting[0].first_seen)}",
            body="\n".join(lines), target=LIST_TARGET, category="im.received")
        return Show(summary, any(self.sounds_for(w.received.event, now) for w in waiting))

    def next_deadline(self, now: datetime) -> datetime | None:
        """When :meth:`tick` has something to do next (``None``: nothing is pending)."""
        times = [w.next_at for w in self._waiting.values()]
        if self._burst is not None and self._recent:
            times.append(self._recent[-1][0] + timedelta(seconds=self.config.burst_window_s))
        if self._down_since is not None and not self.offline_alarm:
            times.append(self._down_since + timedelta(seconds=self.config.offline_alarm_s))
        quiet = self.quiet_until(now)
        if quiet is not None and quiet < FOREVER:
            times.append(quiet)
        elif self.config.working_hours_enabled:
            end = self._next_work_end(now)
            if end is not None:
                times.append(end)
        return min(times) if times else None

    def _next_work_end(self, now: datetime) -> datetime | None:
        end = parse_hhmm(self.config.working_end)
        for days in range(0, 2):
            candidate = (now + timedelta(days=days)).replace(hour=end.hour, minute=end.minute, second=0,
                                                             microsecond=0)
            if candidate > now:
                return candidate
        return None  # pragma: no cover
