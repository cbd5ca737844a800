"""Throttles against hostile clients (per process; with several bridges each enforces its own).

- :class:`TokenBuckets`: one token bucket per client address for **bad webhook signatures**. Every 401 for a
  missing / wrong signature takes one token; buckets refill at ``rate`` tokens per second up to ``burst``. While an
  address's bucket is empty, every webhook from it is answered **429** ``{"error": ...}`` with ``Retry-After``,
  before its body is read (cheap for us, and Acquire retries a 429 like a 503). Good signatures cost nothing.
  At most ``max_keys`` addresses are tracked (least recently seen dropped first), so memory stays bounded when the
  addresses are spoofed or many.
- :class:`AddressSlots`: at most ``per_address`` webhooks per address whose signature is **not yet verified**
  (body being read, HMAC being computed). Excess requests wait (up to ``wait`` seconds) for a slot instead of being
  refused -- Acquire's own bursts verify in microseconds, so they only queue briefly -- and the address's bad-signature
  bucket is checked again when a request gets its slot, counting the requests still in flight as already spent
  (``TokenBuckets.retry_after(key, pending)``): N concurrent forgeries cost no more than N sequential ones.
- :class:`ConnectionCaps`: open connections (HTTP and WebSocket) in total and per TCP peer address; one more is
  refused at once (see :mod:`.protocols`). Trusted proxies (``FORWARDED_ALLOW_IPS``) have no per-address cap.
- sockets per token: :class:`~trayapp.bridge.hub.Hub` counts open streams per token; one more than
  ``max_sockets_per_token`` is refused with HTTP **429** before the upgrade (see :mod:`.stream`).

The address is the ASGI ``client`` host: behind a reverse proxy that is the proxy, unless uvicorn is told to trust
its ``X-Forwarded-For`` (``FORWARDED_ALLOW_IPS``; 127.0.0.1 is trusted by default).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import math
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable


class TokenBuckets:
    def __init__(self, rate: float, burst: int, max_keys: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = burst
        self.max_keys = max_keys
        self.clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key -> (tokens, at)

    @property
    def enabled(self) -> bool:
        return self.burst > 0 and self.rate > 0

    def _level(self, key: str, now: float) -> float:
        entry = self._buckets.get(key)
        if entry is None:
            return float(self.burst)
        tokens, at = entry
        return min(float(self.burst), tokens + (now - at) * self.rate)

    def retry_after(self, key: str, pending: int = 0) -> int:
        """0 if ``key`` may go on, else the whole seconds until its bucket holds one token again.

        ``pending``: requests of ``key`` still being verified, counted as if each will take a token."""
        if not self.enabled or (key not in self._buckets and pending < self.burst):
            return 0
        level = self._level(key, self.clock()) - pending
        if level >= 1.0:
            return 0
        return max(1, math.ceil((1.0 - level) / self.rate))

    def take(self, key: str) -> None:
        """One failure by ``key``: take a token (the bucket may go empty)."""
        if not self.enabled:
            return
        now = self.clock()
        level = max(0.0, self._level(key, now) - 1.0)
        self._buckets[key] = (level, now)
        self._buckets.move_to_end(key)
        while len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)

    def __len__(self) -> int:
        return len(self._buckets)


class AddressSlots:
    """At most ``per_address`` holders per key at once; more wait in line (FIFO) for up to ``wait`` seconds.

    Keys are only remembered while someone holds or waits for a slot, so memory follows the open requests.
    ``per_address`` 0: no limit."""

    def __init__(self, per_address: int, wait: float) -> None:
        self.per_address = per_address
        self.wait = wait
        self._slots: dict[str, tuple[asyncio.Semaphore, list[int]]] = {}  # key -> (semaphore, [users, holders])

    def held(self, key: str) -> int:
        entry = self._slots.get(key)
        return entry[1][1] if entry else 0

    @contextlib.asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[bool]:
        """Yields True once a slot is held, False if none came free within ``wait`` (nothing is held then)."""
        if not self.per_address:
            yield True
            return
        entry = self._slots.get(key)
        if entry is None:
            entry = self._slots[key] = (asyncio.Semaphore(self.per_address), [0, 0])
        semaphore, counts = entry
        counts[0] += 1
        try:
            acquired = True
            if counts[1] < self.per_address and not semaphore.locked():
                await semaphore.acquire()  # free: no timer, no extra task (the hot path)
            else:
                try:
                    await asyncio.wait_for(semaphore.acquire(), self.wait)
                except TimeoutError:
                    acquired = False
            if acquired:
                counts[1] += 1
            try:
                yield acquired
            finally:
                if acquired:
                    counts[1] -= 1
                    semaphore.release()
        finally:
            counts[0] -= 1
            if not counts[0]:
                del self._slots[key]

    def __len__(self) -> int:
        return len(self._slots)


def trusted_hosts(spec: str | list[str] | None) -> Callable[[str], bool]:
    """A test for "is this peer address one of ``FORWARDED_ALLOW_IPS``" (uvicorn's syntax: comma-separated
    addresses or networks, ``*`` for all)."""
    items = [s.strip() for s in (spec.split(",") if isinstance(spec, str) else spec or []) if s.strip()]
    if "*" in items:
        return lambda host: True
    networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
    literals: set[str] = set()
    for item in items:
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            literals.add(item)

    def trusted(host: str) -> bool:
        if host in literals:
            return True
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(address in network for network in networks)

    return trusted


class ConnectionCaps:
    """Counts open connections in total and per peer address; ``admit`` answers why one more is refused."""

    def __init__(self, max_total: int, max_per_address: int, exempt: Callable[[str], bool] = lambda host: False
                 ) -> None:
        self.max_total = max_total
        self.max_per_address = max_per_address
        self.exempt = exempt
        self.total = 0
        self.peak = 0  # the most connections open at once since the holder last reset it (memory trimming)
        self._per_address: dict[str, int] = {}

    def admit(self, host: str) -> tuple[int, str] | None:
        """Count one more connection from ``host`` and answer None, or answer (HTTP status, reason) refusing it:
        503 when the process is full, 429 when ``host`` is."""
        if self.max_total and self.total >= self.max_total:
            return 503, f"the bridge holds its maximum of {self.max_total} connections"
        count = self._per_address.get(host, 0)
        if self.max_per_address and count >= self.max_per_address and not self.exempt(host):
            return 429, f"{host} holds its maximum of {self.max_per_address} connections"
        self.total += 1
        self.peak = max(self.peak, self.total)
        self._per_address[host] = count + 1
        return None

    def release(self, host: str) -> None:
        count = self._per_address.get(host, 0)
        if count <= 0:
            return
        self.total -= 1
        if count == 1:
            del self._per_address[host]
        else:
            self._per_address[host] = count - 1

    def per_address(self, host: str) -> int:
        return self._per_address.get(host, 0)
