"""core/reconnect.py: when to connect again — a pure policy, the clock given by the test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from trayapp.core.reconnect import Ending, ReconnectPolicy


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def doubling() -> Iterator[float]:
    delay = 1.0
    while True:
        yield delay
        delay = min(delay * 2, 60.0)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def policy(clock: Clock) -> ReconnectPolicy:
    return ReconnectPolicy(clock, healthy_after=30.0, refused_retry=300.0, delays=doubling)


def attempts(policy: ReconnectPolicy, clock: Clock, *endings: Ending, lasting: float = 1.0) -> list[float]:
    out = []
    for ending in endings:
        policy.attempt()
        clock.now += lasting
        out.append(policy.ended(ending))
    return out


def test_short_failures_back_off_and_a_healthy_connection_starts_again(policy: ReconnectPolicy, clock: Clock) -> None:
    assert attempts(policy, clock, *[Ending.LOST] * 8) == [1, 2, 4, 8, 16, 32, 60, 60]
    assert attempts(policy, clock, Ending.LOST, lasting=30.0) == [1]  # it was up long enough
    assert attempts(policy, clock, Ending.LOST) == [2]
    policy.attempt()
    assert policy.ended(Ending.LOST, healthy=True) == 1  # it caught up: healthy however short


def test_refused_waits_long_and_leaves_the_backoff(policy: ReconnectPolicy, clock: Clock) -> None:
    assert attempts(policy, clock, Ending.LOST, Ending.REFUSED, Ending.REFUSED, Ending.LOST) == [1, 300, 300, 2]


def test_slow_consumer_resumes_at_once_but_not_twice_in_a_row(policy: ReconnectPolicy, clock: Clock) -> None:
    assert attempts(policy, clock, Ending.SLOW_CONSUMER, Ending.SLOW_CONSUMER, Ending.SLOW_CONSUMER,
                    Ending.LOST, Ending.SLOW_CONSUMER) == [0, 1, 2, 4, 0]


def test_failed_backs_off_and_a_wake_is_at_once(policy: ReconnectPolicy, clock: Clock) -> None:
    assert attempts(policy, clock, Ending.FAILED, Ending.FAILED) == [1, 2]
    policy.attempt()
    assert policy.ended(Ending.REFUSED, woken=True) == 0
    policy.attempt()
    assert policy.ended(Ending.LOST) == 4  # the wake did not reset the backoff


def test_default_delays_are_core_backoff(clock: Clock) -> None:
    policy = ReconnectPolicy(clock, healthy_after=30.0, refused_retry=300.0)
    first = attempts(policy, clock, Ending.LOST, Ending.LOST)
    assert 0.5 <= first[0] <= 1.0 and 1.0 <= first[1] <= 2.0
