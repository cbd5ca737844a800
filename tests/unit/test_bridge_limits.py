"""The token buckets behind the bad-signature throttle (a fake clock, no sleeping)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from trayapp.bridge.limits import AddressSlots, ConnectionCaps, TokenBuckets, trusted_hosts


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


def test_pending_requests_count_as_spent() -> None:
    b = TokenBuckets(rate=1.0, burst=3, clock=Clock())
    assert b.retry_after("a", pending=2) == 0  # 3 - 2 >= 1
    assert b.retry_after("a", pending=3) > 0  # all three would be spent if the ones in flight fail
    b.take("a")
    assert b.retry_after("a", pending=1) == 0
    assert b.retry_after("a", pending=2) > 0
    assert TokenBuckets(rate=1.0, burst=0).retry_after("a", pending=100) == 0  # disabled


async def _until(check: Callable[[], bool]) -> None:
    async with asyncio.timeout(5):
        while not check():
            await asyncio.sleep(0.001)


async def test_address_slots_queue_then_time_out() -> None:
    slots = AddressSlots(per_address=2, wait=0.3)
    order: list[str] = []
    release = asyncio.Event()

    async def holder(name: str) -> None:
        async with slots.hold("a") as ok:
            order.append(f"{name}:{ok}")
            if ok:
                await release.wait()

    try:
        first = [asyncio.create_task(holder(f"h{i}")) for i in range(2)]
        await _until(lambda: slots.held("a") == 2)
        async with slots.hold("b") as ok:  # another address is not held up
            assert ok
        waiter = asyncio.create_task(holder("w"))
        await asyncio.sleep(0.05)
        assert order == ["h0:True", "h1:True"]  # the third waits for a slot ...
        release.set()
        await asyncio.gather(*first, waiter)
        assert order[-1] == "w:True"  # ... and gets one when it comes free
        assert len(slots) == 0 and slots.held("a") == 0  # nothing is remembered once idle
        release.clear()
        blockers = [asyncio.create_task(holder(f"b{i}")) for i in range(2)]
        await _until(lambda: slots.held("a") == 2)
        async with slots.hold("a") as ok:
            assert not ok  # none came free within `wait`
        assert slots.held("a") == 2
        release.set()
        await asyncio.gather(*blockers)
        assert len(slots) == 0
    finally:
        release.set()


@pytest.mark.parametrize(
    ("spec", "trusted", "untrusted"),
    [
        ("127.0.0.1", ["127.0.0.1"], ["127.0.0.2", "::1", "nonsense"]),
        ("10.0.0.0/8, ::1", ["10.1.2.3", "::1"], ["11.0.0.1"]),
        ("*", ["203.0.113.9"], []),
        ("", [], ["127.0.0.1"]),
        (["192.0.2.1", "unix:/run/x"], ["192.0.2.1", "unix:/run/x"], ["192.0.2.2"]),
    ],
)
def test_trusted_hosts(spec: str | list[str], trusted: list[str], untrusted: list[str]) -> None:
    check = trusted_hosts(spec)
    assert all(check(h) for h in trusted)
    assert not any(check(h) for h in untrusted)


def test_connection_caps_total_and_per_address() -> None:
    caps = ConnectionCaps(max_total=5, max_per_address=2, exempt=lambda host: host == "127.0.0.1")
    assert caps.admit("10.0.0.1") is None and caps.admit("10.0.0.1") is None
    assert caps.admit("10.0.0.1") == (429, "10.0.0.1 holds its maximum of 2 connections")
    assert caps.admit("127.0.0.1") is None and caps.admit("127.0.0.1") is None and caps.admit("127.0.0.1") is None
    assert caps.admit("10.0.0.2") == (503, "the bridge holds its maximum of 5 connections")  # total reached
    caps.release("10.0.0.1")
    assert caps.total == 4 and caps.per_address("10.0.0.1") == 1
    assert caps.admit("10.0.0.2") is None
    caps.release("never-seen")  # harmless
    assert caps.total == 5 and caps.peak == 5
