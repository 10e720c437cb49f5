"""Prometheus metrics of one worker, served at /metrics.

Each app has its own registry, built by create_app (nothing at import time). With several
uvicorn workers in one process group, a scrape reaches whichever worker accepts it: run one
worker per container or host (as compose.yaml does) and scrape each, or sum over instances.
prometheus-client's multiprocess mode is not used: it needs an environment variable set before
import and a shared directory, and gauges that read live state do not work in it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from app.domain import events as e

CONTENT_TYPE = CONTENT_TYPE_LATEST
Via = Literal["local", "log"]

_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._connections = Gauge(
            "setroom_connections_open",
            "Room WebSockets open on this worker.",
            registry=self.registry,
        )
        self._rooms = Gauge(
            "setroom_rooms_live",
            "Meetings this worker holds live (someone here is connected).",
            registry=self.registry,
        )
        self._broker = Gauge(
            "setroom_broker_healthy",
            "1 while the broker is subscribed and answering, else 0.",
            registry=self.registry,
        )
        self.events = Counter(
            "setroom_events_appended",
            "Events this worker appended to meeting logs; events per second is its rate.",
            registry=self.registry,
        )
        self.broadcast = Histogram(
            "setroom_broadcast_latency_seconds",
            "From an event's commit to its fan-out queued for this worker's sockets. via=local: "
            "the committing worker (monotonic clock); via=log: events another worker committed, "
            "read from the log after a broker message, timed from the event's own timestamp "
            "(taken just before its commit, so this includes the commit).",
            ["via"],
            buckets=_BUCKETS,
            registry=self.registry,
        )

        self._local = self.broadcast.labels(via="local")
        self._via_log = self.broadcast.labels(via="log")

    def watch(
        self,
        *,
        connections: Callable[[], float],
        rooms: Callable[[], float],
        broker_healthy: Callable[[], bool],
    ) -> None:
        """Gauges read at scrape time from the hub and the broker."""
        self._connections.set_function(connections)
        self._rooms.set_function(rooms)
        self._broker.set_function(lambda: float(broker_healthy()))

    def committed(self, events: int, seconds: float) -> None:
        """A command's events were appended and fanned out here `seconds` after the commit."""
        self.events.inc(events)
        self._local.observe(seconds)

    def caught_up(self, batch: Sequence[e.Stamped], now_ms: int) -> None:
        """Events committed elsewhere were fanned out here at `now_ms`."""
        observe = self._via_log.observe
        for stamped in batch:
            observe(max(0, now_ms - stamped.at) / 1000)

    def render(self) -> bytes:
        return generate_latest(self.registry)
