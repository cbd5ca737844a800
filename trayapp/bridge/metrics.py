"""Prometheus metrics of one bridge (its own registry, so several bridges can live in one process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4


class Metrics:
    content_type = CONTENT_TYPE_PLAIN_0_0_4

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.accepted = Counter("trayapp_bridge_webhooks_accepted", "Webhooks stored as new events", registry=r)
        self.duplicates = Counter("trayapp_bridge_webhooks_duplicate", "Repeated deliveries answered with the "
                                  "original seq", registry=r)
        self.bad_signatures = Counter("trayapp_bridge_bad_signatures", "Webhooks refused with 401",
                                      ["reason"], registry=r)
        self.rejected = Counter("trayapp_bridge_webhooks_rejected", "Webhooks refused, by HTTP status",
                                ["status"], registry=r)
        self.ingest_seconds = Histogram(
            "trayapp_bridge_ingest_seconds", "Time from request start to durable answer", registry=r,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
        )
        self.clients = Gauge("trayapp_bridge_connected_clients", "Open /v1/stream sockets", registry=r)
        self.slow_consumer_closes = Counter("trayapp_bridge_slow_consumer_closes", "Sockets closed with 4008",
                                            registry=r)
        self.revoked_closes = Counter("trayapp_bridge_revoked_closes", "Sockets closed with 4001", registry=r)
        self.events_sent = Counter("trayapp_bridge_frames_sent", "Event frames written to sockets", registry=r)
        self.fanout_seconds = Histogram(
            "trayapp_bridge_fanout_seconds", "Time to hand newly stored frames to every socket (one flush)",
            registry=r, buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.25),
        )
        self.rejected_streams = Counter("trayapp_bridge_streams_refused_too_many",
                                        "Stream handshakes refused with 429 (too many sockets for one token)",
                                        registry=r)
        self.head = Gauge("trayapp_bridge_head_seq", "Last seq stored", registry=r)

    def render(self) -> bytes:
        return generate_latest(self.registry)
