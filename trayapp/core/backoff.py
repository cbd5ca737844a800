"""Reconnect delays: exponential with full jitter, capped; reset by starting a new generator."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator


def backoff(
    initial: float = 1.0,
    maximum: float = 60.0,
    factor: float = 2.0,
    jitter: Callable[[float, float], float] = random.uniform,
) -> Iterator[float]:
    """Yield delays: the n-th lies in [ceiling/2, ceiling] where ceiling = min(initial·factorⁿ, maximum).

    Half-jitter keeps a lower bound (no hammering) while spreading a reconnect storm.
    """
    ceiling = initial
    while True:
        yield jitter(ceiling / 2, ceiling)
        ceiling = min(ceiling * factor, maximum)
