"""When to connect again: a pure policy with an injected clock (no sleeping, no sockets).

The client tells :class:`ReconnectPolicy` when an attempt starts (:meth:`~ReconnectPolicy.attempt`) and how it ended
(:meth:`~ReconnectPolicy.ended`); the answer is how many seconds to wait before the next one:

- the delays of :func:`trayapp.core.backoff.backoff` (1 s → 60 s, jittered), started again after a healthy
  connection (one that lasted ``healthy_after`` seconds, or that the caller says was healthy: it caught up);
- ``refused_retry`` when the bridge refused the agent (token refused or revoked, wrong key): only a new link helps;
- at once after a first close as a slow consumer (the backlog resumes), the backoff when it happens twice in a row;
- at once when the agent (or a network change) asked for it.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator

from .backoff import backoff


class Ending(enum.Enum):
    """How a connection attempt ended."""

    LOST = "lost"  # closed, lost or unreachable: try again with the backoff
    SLOW_CONSUMER = "slow_consumer"  # the bridge closed us for reading too slowly
    REFUSED = "refused"  # token refused / revoked, key mismatch: needs the agent
    FAILED = "failed"  # a local failure (the history cannot be written, a bug): retry with the backoff


class ReconnectPolicy:
    def __init__(self, clock: Callable[[], float], *, healthy_after: float, refused_retry: float,
                 delays: Callable[[], Iterator[float]] = backoff) -> None:
        self._clock = clock
        self.healthy_after = healthy_after
        self.refused_retry = refused_retry
        self._new_delays = delays
        self._delays = delays()
        self._started = clock()
        self._slow_before = False

    def attempt(self) -> None:
        """A connection attempt starts now."""
        self._started = self._clock()

    def ended(self, ending: Ending, *, healthy: bool = False, woken: bool = False) -> float:
        """Seconds to wait before the next attempt."""
        if healthy or self._clock() - self._started >= self.healthy_after:
            self._delays = self._new_delays()  # a healthy connection starts the backoff again
        slow_again, self._slow_before = self._slow_before, ending is Ending.SLOW_CONSUMER
        if ending is Ending.REFUSED:
            delay = self.refused_retry
        elif ending is Ending.SLOW_CONSUMER and not slow_again:
            delay = 0.0
        else:
            delay = next(self._delays)
        return 0.0 if woken else delay
