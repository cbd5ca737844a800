"""The alert policy (trayapp/model/alerts.py): plain rules, time given by the test."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.support.rows import make_event
from trayapp.core.event import Event, ReceivedEvent
from trayapp.model.alerts import (
    BURST_KEY,
    CATCH_UP_KEY,
    CATCH_UP_TARGET,
    FOREVER,
    OFFLINE_KEY,
    AlertConfig,
    AlertPolicy,
    Show,
    Withdraw,
)
from trayapp.model.notification import LIST_TARGET, Urgency
from trayapp.settings import DEFAULT_NOTIFY, Settings

T0 = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)  # a Wednesday
S = timedelta(seconds=1)


def ev(seq: int, kind: str = "case.new", status: str | None = "pending", case: str | None = None,
       **fields: object) -> ReceivedEvent:
    return make_event(seq, kind=kind, status=status, case_id=case or str(5000 + seq), **fields)


def chat(seq: int, status: str, case: str = "7") -> ReceivedEvent:
    return ev(seq, "chat.status", status, case)


def shown(actions: list) -> list[tuple[str, str]]:
    return [(a.notification.key, a.notification.title) for a in actions if isinstance(a, Show)]


def withdrawn(actions: list) -> list[str]:
    return [a.key for a in actions if isinstance(a, Withdraw)]


def test_defaults_are_the_issues() -> None:
    config = AlertConfig.from_settings(Settings())
    assert (config.realert_interval_s, config.realert_max, config.burst_size, config.burst_window_s) == (60, 5, 3, 10)
    assert config.catch_up_summary and not config.working_hours_enabled and not config.only_mine
    assert config.offline_alarm_s == 60 and config.sound_volume == 70 and config.sound_enabled
    assert config == AlertConfig()


# --- 1. waiting customers keep calling ---------------------------------------------------------

def test_waiting_case_realerts_every_interval_at_most_max_times_replacing_its_popup() -> None:
    policy = AlertPolicy()
    first = policy.on_event(chat(1, "pending"), T0)
    assert shown(first) == [("case:7", "Chat #7 is waiting — Contact 1")]
    assert policy.next_deadline(T0) == T0 + 60 * S
    assert policy.tick(T0 + 59 * S) == []
    repeats = []
    for n in range(1, 8):
        repeats.append(shown(policy.tick(T0 + 60 * n * S)))
    assert [len(r) for r in repeats] == [1, 1, 1, 1, 1, 0, 0]  # max 5 re-alerts
    assert {r[0][0] for r in repeats[:5]} == {"case:7"}  # same key: the notifier replaces the popup
    assert repeats[0][0][1] == "Chat #7 is waiting — Contact 1 (waiting 1 min)"
    assert repeats[4][0][1].endswith("(waiting 5 min)")
    assert policy.waiting_keys == []


@pytest.mark.parametrize(("stopper", "expected_withdraw"), [
    ("active", []),  # the active event replaces the popup (shown) and ends the calling
    ("closed", ["case:7"]),  # the closed event withdraws the pending alert
])
def test_active_or_closed_stops_the_calling(stopper: str, expected_withdraw: list[str]) -> None:
    policy = AlertPolicy()
    policy.on_event(chat(1, "queue"), T0)
    actions = policy.on_event(chat(2, stopper), T0 + 5 * S)
    assert withdrawn(actions) == expected_withdraw
    assert policy.waiting_keys == []
    assert policy.tick(T0 + 120 * S) == []


def test_opening_the_case_stops_the_calling_and_takes_the_popup_away() -> None:
    policy = AlertPolicy()
    policy.on_event(ev(1, case="9"), T0)
    assert withdrawn(policy.acknowledge([ev(2, "chat.status", "pending", case="9")])) == ["case:9"]
    assert policy.tick(T0 + 60 * S) == []


def test_realert_off_and_non_waiting_events() -> None:
    policy = AlertPolicy(AlertConfig(realert_interval_s=0))
    policy.on_event(chat(1, "pending"), T0)
    assert policy.waiting_keys == []
    policy = AlertPolicy()
    policy.on_event(chat(1, "active"), T0)
    policy.on_event(ev(2, status="active"), T0)
    assert policy.waiting_keys == []


# --- 2. one notification per case ----------------------------------------------------------------

def test_one_popup_per_case_and_closed_withdraws() -> None:
    policy = AlertPolicy()
    keys = [shown(policy.on_event(e, T0 + i * 11 * S)) for i, e in
            enumerate([ev(1, case="7"), chat(2, "pending"), chat(3, "active")])]
    assert [k[0][0] for k in keys] == ["case:7", "case:7", "case:7"]
    assert policy.on_event(chat(4, "closed"), T0 + 40 * S) == [Withdraw("case:7")]
    # a closed case with no popup of ours on screen: a low-urgency "was closed" popup (enabled by default)
    closed_only = policy.on_event(chat(5, "closed", case="8"), T0 + 60 * S)
    assert shown(closed_only) == [("case:8", "Chat #8 was closed — Contact 5")]
    assert closed_only[0].notification.urgency is Urgency.LOW


def test_a_popup_that_went_away_is_not_withdrawn_again() -> None:
    policy = AlertPolicy()
    policy.on_event(chat(1, "pending"), T0)
    policy.dismissed("case:7")
    assert withdrawn(policy.on_event(chat(2, "closed"), T0 + 20 * S)) == []


# --- 3. bursts ------------------------------------------------------------------------------------

def test_more_than_three_within_ten_seconds_become_one_summary() -> None:
    policy = AlertPolicy()
    out = [policy.on_event(ev(i), T0 + i * S) for i in range(1, 6)]
    assert [len(shown(o)) for o in out[:3]] == [1, 1, 1]
    assert withdrawn(out[3]) == ["case:5001", "case:5002", "case:5003"]  # make way for the summary
    assert shown(out[3]) == [(BURST_KEY, "4 new cases")]
    assert out[3][-1].notification.target == LIST_TARGET
    assert out[3][-1].sound  # the summary sounds once...
    assert shown(out[4]) == [(BURST_KEY, "5 new cases")] and not out[4][-1].sound  # ...and updates silently
    assert out[4][-1].notification.body.splitlines() == [
        "New case #5005 — Contact 5", "New case #5004 — Contact 4", "New case #5003 — Contact 3", "and 2 more"]
    # waiting customers do not re-alert during the burst; 10 s of calm ends it
    assert policy.tick(T0 + 14 * S) == []
    assert policy.tick(T0 + 15 * S) == []
    assert shown(policy.on_event(chat(20, "pending", case="20"), T0 + 16 * S)) == [
        ("case:20", "Chat #20 is waiting — Contact 20")]


def test_events_of_one_case_count_once_in_a_burst() -> None:
    policy = AlertPolicy()
    for i, status in enumerate(("pending", "queue", "active", "queue"), start=1):
        assert len(shown(policy.on_event(chat(i, status, case="7"), T0 + i * S))) == 1  # replaces, no summary
    policy.on_event(ev(10), T0 + 5 * S)
    policy.on_event(ev(11), T0 + 6 * S)
    actions = policy.on_event(chat(12, "active", case="7"), T0 + 7 * S)  # case 7 again: still 3 popups
    assert shown(actions) == [("case:7", "Chat #7 is now active — Contact 12")]
    actions = policy.on_event(ev(13), T0 + 8 * S)
    assert shown(actions) == [(BURST_KEY, "4 new alerts")]
    assert sorted(withdrawn(actions)) == ["case:5010", "case:5011", "case:7"]
    actions = policy.on_event(chat(14, "closed", case="7"), T0 + 9 * S)  # its popup is already gone: summarised
    assert shown(actions)[0][1] == "4 new alerts"


def test_mixed_burst_says_alerts_and_burst_grouping_can_be_off() -> None:
    policy = AlertPolicy()
    for i in range(1, 4):
        policy.on_event(ev(i), T0)
    assert shown(policy.on_event(chat(4, "queue", case="44"), T0)) == [(BURST_KEY, "4 new alerts")]
    policy = AlertPolicy(AlertConfig(burst_size=0))
    assert all(len(shown(policy.on_event(ev(i), T0))) == 1 for i in range(1, 10))


# --- 4. catch-up ----------------------------------------------------------------------------------

def test_catch_up_summary_skips_closed_cases() -> None:
    policy = AlertPolicy()
    backlog = [ev(i) for i in range(1, 13)] + [chat(13, "pending", case="99"), chat(14, "closed", case="99")]
    actions = policy.on_backlog(backlog, T0)
    assert shown(actions) == [(CATCH_UP_KEY, "12 events while you were away")]
    assert actions[0].notification.target == CATCH_UP_TARGET
    assert policy.catch_up_ids == [f"evt-{i}" for i in range(1, 13)]
    assert "case:99" not in policy.waiting_keys and "case:5001" in policy.waiting_keys  # still waiting: calls


def test_a_case_closed_while_away_takes_its_popup_away() -> None:
    policy = AlertPolicy()
    policy.on_event(chat(1, "pending"), T0)
    assert policy.on_backlog([chat(2, "closed")], T0 + 90 * S) == [Withdraw("case:7")]
    assert policy.waiting_keys == []


def test_catch_up_of_one_case_or_only_stale_ones() -> None:
    policy = AlertPolicy()
    assert shown(policy.on_backlog([chat(1, "pending"), chat(2, "queue")], T0)) == [
        ("case:7", "Chat #7 is in the queue — Contact 2")]
    assert policy.on_backlog([chat(3, "pending", case="8"), chat(4, "closed", case="8")], T0) == []
    assert policy.on_backlog([], T0) == []


def test_catch_up_without_summary_pops_each_case_once_with_burst_grouping() -> None:
    policy = AlertPolicy(AlertConfig(catch_up_summary=False))
    assert shown(policy.on_backlog([chat(1, "pending"), chat(2, "queue"), ev(3)], T0)) == [
        ("case:7", "Chat #7 is in the queue — Contact 2"), ("case:5003", "New case #5003 — Contact 3")]


# --- 5. quiet time ------------------------------------------------------------------------------

def test_manual_dnd_silences_everything_but_optionally_new_cases() -> None:
    policy = AlertPolicy()
    policy.manual_until = T0 + timedelta(hours=1)
    assert policy.quiet_until(T0) == T0 + timedelta(hours=1)
    assert policy.on_event(ev(1), T0) == [] and policy.on_event(chat(2, "pending"), T0) == []
    assert policy.on_backlog([ev(3), ev(4)], T0) == []
    policy.config = AlertConfig(dnd_allow_new_cases=True)
    actions = policy.on_event(ev(5), T0)
    assert shown(actions) == [("case:5005", "New case #5005 — Contact 5")] and not actions[0].sound  # silent
    assert policy.on_event(chat(6, "pending", case="66"), T0) == []
    policy.manual_until = FOREVER
    assert policy.quiet_until(T0 + timedelta(days=400)) == FOREVER


@pytest.mark.parametrize(("when", "working"), [
    (datetime(2026, 11, 25, 8, 59, tzinfo=UTC), False),  # Wednesday before 9
    (datetime(2026, 11, 25, 9, 0, tzinfo=UTC), True),
    (datetime(2026, 11, 25, 16, 59, tzinfo=UTC), True),
    (datetime(2026, 11, 25, 17, 0, tzinfo=UTC), False),
    (datetime(2026, 11, 28, 12, 0, tzinfo=UTC), False),  # Saturday
])
def test_working_hours(when: datetime, working: bool) -> None:
    policy = AlertPolicy(AlertConfig(working_hours_enabled=True))
    assert policy.working(when) is working
    assert (policy.quiet_until(when) is None) is working
    assert bool(policy.on_event(ev(1), when)) is working


def test_quiet_until_next_working_morning_and_overnight_shifts() -> None:
    policy = AlertPolicy(AlertConfig(working_hours_enabled=True))
    friday_evening = datetime(2026, 11, 27, 18, 0, tzinfo=UTC)
    assert policy.quiet_until(friday_evening) == datetime(2026, 11, 30, 9, 0, tzinfo=UTC)  # Monday 09:00
    assert policy.quiet_reason(friday_evening) == "outside working hours"
    night = AlertPolicy(AlertConfig(working_hours_enabled=True, working_start="22:00", working_end="06:00"))
    assert night.working(datetime(2026, 11, 25, 23, 0, tzinfo=UTC))
    assert night.working(datetime(2026, 11, 26, 5, 0, tzinfo=UTC))  # Thursday early: Wednesday's shift
    assert not night.working(datetime(2026, 11, 25, 12, 0, tzinfo=UTC))
    assert not night.working(datetime(2026, 11, 29, 5, 0, tzinfo=UTC))  # Sunday early: Saturday is off


def test_waiting_customers_do_not_call_during_quiet_time_but_resume_after() -> None:
    policy = AlertPolicy()
    policy.on_event(chat(1, "pending"), T0)
    policy.manual_until = T0 + 10 * 60 * S
    assert policy.tick(T0 + 120 * S) == []
    assert len(shown(policy.tick(T0 + 11 * 60 * S))) == 1


# --- 6. sound -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("config", "event", "sounds"), [
    (AlertConfig(), ev(1), True),
    (AlertConfig(), chat(1, "pending"), True),
    (AlertConfig(), chat(1, "active"), False),  # not a sound kind by default
    (AlertConfig(sound_kinds=frozenset({"chat.status/active"})), chat(1, "active"), True),
    (AlertConfig(sound_enabled=False), ev(1), False),
    (AlertConfig(sound_volume=0), ev(1), False),
])
def test_which_alerts_sound(config: AlertConfig, event: ReceivedEvent, sounds: bool) -> None:
    policy = AlertPolicy(config)
    actions = policy.on_event(event, T0)
    assert [a.sound for a in actions if isinstance(a, Show)] == [sounds]


# --- 7. only what concerns me ---------------------------------------------------------------------

MINE = AlertConfig(only_mine=True, my_agent_id="a-42", my_departments=("Billing",))


@pytest.mark.parametrize(("fields", "kind", "status", "shown_"), [
    ({}, "case.new", "pending", True),  # unassigned new case
    ({"agent_id": "a-7", "agent_name": "Bob"}, "case.new", "active", False),
    ({"agent_id": "a-42"}, "case.new", "active", True),
    ({"agent_name": "A-42"}, "chat.status", "active", True),  # agent name matches too, any case
    ({"agent_id": "a-7"}, "chat.status", "pending", True),  # waiting chats: always
    ({"agent_id": "a-7"}, "chat.status", "queue", True),
    ({"agent_id": "a-7"}, "chat.status", "active", False),
    ({"agent_id": "a-7", "department": "billing"}, "chat.status", "active", True),
    ({"department": "Sales"}, "case.new", "pending", False),  # another department's new case
])
def test_only_mine(fields: dict[str, str], kind: str, status: str, shown_: bool) -> None:
    policy = AlertPolicy(MINE)
    assert bool(shown(policy.on_event(ev(1, kind, status, **fields), T0))) is shown_
    assert AlertPolicy(AlertConfig(only_mine=True)).concerns_me(ev(1, kind, status, **fields).event)  # nothing set


# --- 8. silence is an alarm ------------------------------------------------------------------------

def test_offline_for_a_minute_alarms_once_and_recovery_says_so() -> None:
    policy = AlertPolicy()
    assert policy.connection("CONNECTED", T0, T0) == []
    assert policy.connection("OFFLINE", T0 + 10 * S, T0 + 10 * S) == []
    assert policy.connection("CONNECTING", T0 + 12 * S, T0 + 12 * S) == []  # still down since +10 s
    assert policy.next_deadline(T0 + 12 * S) == T0 + 70 * S
    assert policy.tick(T0 + 69 * S) == []
    alarm = policy.tick(T0 + 70 * S)
    assert shown(alarm) == [(OFFLINE_KEY, "Not receiving case alerts")]
    assert "since 10:00" in alarm[0].notification.body and alarm[0].notification.urgency is Urgency.CRITICAL
    assert policy.offline_alarm and policy.down_since == T0 + 10 * S
    assert policy.tick(T0 + 200 * S) == []  # once
    back = policy.connection("CONNECTED", T0 + 300 * S, T0 + 300 * S)
    assert shown(back) == [(OFFLINE_KEY, "Receiving case alerts again")]
    assert not policy.offline_alarm and policy.down_since is None


def test_short_outage_and_not_configured_do_not_alarm() -> None:
    policy = AlertPolicy()
    policy.connection("OFFLINE", T0, T0)
    assert policy.connection("CONNECTED", T0 + 30 * S, T0 + 30 * S) == []
    assert policy.tick(T0 + 120 * S) == []
    policy.connection("NOT_CONFIGURED", T0, T0)
    assert policy.tick(T0 + 600 * S) == [] and policy.next_deadline(T0) is None


# --- re-alerts share the burst budget ------------------------------------------------------------

def sounds(actions: list) -> int:
    return sum(1 for a in actions if isinstance(a, Show) and a.sound)


def arrive(policy: AlertPolicy, cases: int, start: datetime, spacing: timedelta) -> None:
    for i in range(cases):
        policy.on_event(ev(i + 1), start + i * spacing)


@pytest.mark.parametrize(("cases", "spacing_s", "burst_size", "popups", "summary_title"), [
    # (cases arriving, seconds apart, group threshold) -> individual re-alerts, the summary's title (or None)
    (1, 0, 3, 1, None),
    (3, 1, 3, 3, None),
    (4, 1, 3, 0, "4 customers still waiting, longest 1 min"),
    (12, 0.5, 3, 0, "12 customers still waiting, longest 1 min"),
    (200, 0.01, 3, 0, "200 customers still waiting, longest 1 min"),
    (12, 0.5, 0, 12, None),  # grouping off: every one calls (as "never" in the settings says)
    (5, 30, 3, 1, None),  # far apart: they call one by one, each at its own time
])
def test_realerts_of_many_waiting_cases_become_one_summary_with_one_sound(
        cases: int, spacing_s: float, burst_size: int, popups: int, summary_title: str | None) -> None:
    policy = AlertPolicy(AlertConfig(burst_size=burst_size))
    arrive(policy, cases, T0, spacing_s * S)
    policy.tick(T0 + 59 * S)  # the arrival's own burst (if any) is over
    first_due = policy.next_deadline(T0 + 59 * S)
    assert first_due == T0 + 60 * S
    actions = policy.tick(first_due)
    singles = [key for key, _ in shown(actions) if key.startswith("case:")]
    summaries = [title for key, title in shown(actions) if key == "summary:waiting"]
    assert len(singles) == popups
    assert summaries == ([summary_title] if summary_title else [])
    if summary_title:
        assert sounds(actions) == 1, "one sound for the whole summary"
        summary = next(a.notification for a in actions if isinstance(a, Show))
        assert summary.target == LIST_TARGET
        assert summary.body.splitlines()[0] == "New case #5001 — Contact 1", "the longest waiting first"
        if cases > 3:
            assert summary.body.splitlines()[-1] == f"and {cases - 3} more"
    else:
        assert sounds(actions) == len(singles)


def test_the_waiting_summary_repeats_every_interval_says_the_longest_wait_and_stops_at_the_maximum() -> None:
    policy = AlertPolicy()
    arrive(policy, 12, T0, 0.5 * S)
    titles = []
    for n in range(1, 8):
        titles.append([t for key, t in shown(policy.tick(T0 + 60 * n * S)) if key == "summary:waiting"])
    assert titles[:5] == [[f"12 customers still waiting, longest {n} min"] for n in range(1, 6)]
    assert titles[5:] == [[], []], "at most 5 re-alerts, summarised or not"
    assert policy.waiting_keys == []


def test_an_opened_case_leaves_the_summary_and_settled_cases_stop_calling() -> None:
    policy = AlertPolicy()
    arrive(policy, 6, T0, 1 * S)
    policy.acknowledge([ev(1)])
    policy.on_event(chat(10, "active", case="5002"), T0 + 30 * S)
    assert policy.tick(T0 + 61 * S) == [], "5001 was opened, 5002 is active: nobody is due yet"
    actions = policy.tick(T0 + 62 * S)
    assert shown(actions) == [("summary:waiting", "4 customers still waiting, longest 1 min")]
    assert "#5001" not in actions[-1].notification.body and "#5002" not in actions[-1].notification.body


def test_individual_popups_make_way_for_the_waiting_summary() -> None:
    policy = AlertPolicy(AlertConfig(burst_size=3, burst_window_s=10))
    for i, t in enumerate((0, 15, 30, 45)):  # four cases, never a burst: four popups on screen
        assert len(shown(policy.on_event(ev(i + 1), T0 + t * S))) == 1
    actions = policy.tick(T0 + 200 * S)  # the machine slept through their re-alerts: all four call at once
    assert shown(actions) == [("summary:waiting", "4 customers still waiting, longest 3 min")]
    assert sorted(withdrawn(actions)) == ["case:5001", "case:5002", "case:5003", "case:5004"]
    assert sounds(actions) == 1
    assert withdrawn(policy.acknowledge_all()) == ["summary:waiting"], "mark all read takes the summary away"


def test_a_single_due_case_waits_while_new_alerts_have_spent_the_budget() -> None:
    policy = AlertPolicy(AlertConfig(burst_size=3, burst_window_s=10))
    policy.on_event(ev(1), T0)  # calls again at T0 + 60
    for i in range(3):  # three fresh cases 55-57 s later: the budget of the window is spent
        policy.on_event(ev(10 + i), T0 + (55 + i) * S)
    assert shown(policy.tick(T0 + 60 * S)) == []
    assert policy.next_deadline(T0 + 60 * S) == T0 + 65 * S, "when the oldest of the window's popups leaves it"
    assert shown(policy.tick(T0 + 65 * S)) == [("case:5001", "New case #5001 — Contact 1 (waiting 1 min)")]


def test_quiet_time_and_an_active_burst_still_postpone_the_waiting_summary() -> None:
    policy = AlertPolicy()
    arrive(policy, 6, T0, 0.5 * S)
    policy.manual_until = T0 + 90 * S
    assert shown(policy.tick(T0 + 60 * S)) == []
    assert [k for k, _ in shown(policy.tick(T0 + 120 * S))] == ["summary:waiting"]


@pytest.mark.parametrize(("notify", "event", "wanted"), [
    (DEFAULT_NOTIFY, Event(kind="case.new", acquire_event="case.new", status="pending"), True),
    (DEFAULT_NOTIFY, Event(kind="chat.status", acquire_event="x", status="queue"), True),
    (DEFAULT_NOTIFY, Event(kind="chat.message", acquire_event="x"), False),
    (DEFAULT_NOTIFY, Event(kind="agent.status", acquire_event="x", status="available"), False),
    (DEFAULT_NOTIFY, Event(kind="other", acquire_event="x"), False),
    (DEFAULT_NOTIFY, Event(kind="chat.status", acquire_event="x", status=None), False),
    (frozenset({"agent.status"}), Event(kind="agent.status", acquire_event="x", status="available"), True),
    (frozenset({"other"}), Event(kind="transfer", acquire_event="chat.transferred"), True),
], ids=repr)
def test_wants_the_enabled_kinds_and_statuses(notify: frozenset[str], event: Event, wanted: bool) -> None:
    """(Was ``Settings.notifies``, a second copy of this rule that the app never used.)"""
    assert AlertPolicy(AlertConfig(notify=notify)).wants(event) is wanted
