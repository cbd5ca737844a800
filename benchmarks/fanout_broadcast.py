"""The bridge with websockets' own ``broadcast()`` as its fan-out, for ``scripts/bench-bridge --fanout broadcast``.

Run as ``python -m benchmarks.fanout_broadcast serve ...`` (the arguments of ``trayapp-bridge``): the same bridge,
except that the hub's fan-out to idle live sockets hands each event to ``websockets.asyncio.server.broadcast`` (which
asks every connection's sans-I/O protocol to frame the message, then writes that connection's bytes) instead of
writing the frames it encoded once (the product's ``trayapp.fast_send`` path). Sockets that are not idle get their
frames queued for their pump, as in the product. Only for measuring: nothing in the product imports this.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from typing import Any

from websockets.asyncio.server import broadcast

from trayapp.bridge import hub as hub_mod
from trayapp.bridge.store import StoredEvent


class _Connection:
    """What ``broadcast()`` needs of a connection, over uvicorn's sans-I/O WebSocket protocol."""

    __slots__ = ("_proto", "logger", "protocol", "send_in_progress")

    def __init__(self, proto: Any) -> None:
        self._proto = proto
        self.protocol = proto.conn
        self.logger = proto.logger
        self.send_in_progress = None

    def send_data(self) -> None:
        self._proto.transport.write(b"".join(self.protocol.data_to_send()))


def _flush(self: hub_mod.Hub) -> None:
    events: Sequence[StoredEvent]
    events, self._outbox, self._flush_scheduled = self._outbox, [], False
    if not events:
        return
    started = time.perf_counter()
    first, last = events[0].seq, events[-1].seq
    live: list[_Connection] = []
    written = 0
    for sub in self.subscribers:
        if (sub.idle and sub.direct is not None and sub.scope is None and not sub.pending and not sub.close_code
                and sub.last + 1 == first):
            live.append(_Connection(sub.direct.__self__))  # type: ignore[attr-defined]  # fast_send's protocol
            written += last - sub.last
            sub.last = last
        elif sub.last >= last and sub.idle:
            continue
        elif not sub.push(events):
            self.metrics.slow_consumer_closes.inc()
    for ev in events:
        broadcast(live, ev.frame)
    if written:
        self.metrics.events_sent.inc(written)
    self.metrics.fanout_seconds.observe(time.perf_counter() - started)


def main() -> int:
    hub_mod.Hub._flush = _flush  # type: ignore[method-assign]
    from trayapp.bridge.cli import main as bridge_main

    return int(bridge_main(sys.argv[1:]))


if __name__ == "__main__":
    sys.exit(main())
