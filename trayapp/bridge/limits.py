"""Throttles against hostile clients (per process; with several bridges each enforces its own).

- :class:`TokenBuckets`: one token bucket per client address for **bad webhook signatures**. Every 401 for a
  missing / wrong signature takes one token; buckets refill at ``rate`` tokens per second up to ``burst``. While an
  address's bucket is empty, every webhook from it is answered **429** ``{"error": ...}`` with ``Retry-After``,
  before its body is read (cheap for us, and Acquire retries a 429 like a 503). Good signatures cost nothing.
  At most ``max_keys`` addresses are tracked (least recently seen dropped first), so memory stays bounded when the
  addresses are spoofed or many.
- sockets per token: :class:`~trayapp.bridge.hub.Hub` counts open streams per token; one more than
  ``max_sockets_per_token`` is refused with HTTP **429** before the upgrade (see :mod:`.stream`).

The address is the ASGI ``client`` host: behind a reverse proxy that is the proxy, unless uvicorn is told to trust
its ``X-Forwarded-For`` (``FORWARDED_ALLOW_IPS``; 127.0.0.1 is trusted by default).
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable

DEFAULT_BAD_SIGNATURE_BURST = 20
DEFAULT_BAD_SIGNATURE_RATE = 1.0  # tokens per second
DEFAULT_MAX_SOCKETS_PER_TOKEN = 20


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

    def retry_after(self, key: str) -> int:
        """0 if ``key`` may go on, else the whole seconds until its bucket holds one token again."""
        if not self.enabled or key not in self._buckets:
            return 0
        level = self._level(key, self.clock())
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
