"""The token buckets behind the bad-signature throttle (a fake clock, no sleeping)."""

from __future__ import annotations

from trayapp.bridge.limits import TokenBuckets


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_burst_then_retry_after_then_refill() -> None:
    clock = Clock()
    b = TokenBuckets(rate=0.5, burst=3, clock=clock)
    assert b.retry_after("1.2.3.4") == 0
    for _ in range(3):
        assert b.retry_after("1.2.3.4") == 0
        b.take("1.2.3.4")
    assert b.retry_after("1.2.3.4") == 2  # one token at 0.5/s
    assert b.retry_after("5.6.7.8") == 0  # per address
    clock.now += 1.0
    assert b.retry_after("1.2.3.4") == 1
    clock.now += 1.0
    assert b.retry_after("1.2.3.4") == 0
    clock.now += 3600
    for _ in range(3):  # refilled up to the burst, not beyond
        b.take("1.2.3.4")
    assert b.retry_after("1.2.3.4") > 0


def test_disabled_and_bounded() -> None:
    off = TokenBuckets(rate=1.0, burst=0)
    for _ in range(100):
        off.take("a")
    assert off.retry_after("a") == 0 and len(off) == 0
    small = TokenBuckets(rate=1.0, burst=1, max_keys=100)
    for i in range(1000):
        small.take(f"10.0.{i // 256}.{i % 256}")
    assert len(small) == 100  # the least recently seen addresses are forgotten
    assert small.retry_after("10.0.3.231") > 0  # the last one is still throttled
