"""The seam between workers. A broker message says only "meeting M has events up to N"; each
worker's hub then reads what it lacks from the event log, so a lost message costs nothing but a
little delay. Chosen by URL: memory:// (one worker) or redis:// (several, see RedisBroker).

A broker that lost messages (a dropped connection, a Redis restart) calls `on_resync` once it is
subscribed again, and the hub then brings every live room up to date from the log."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

OnMessage = Callable[[str, int], Awaitable[None]]
OnResync = Callable[[], Awaitable[None]]


class Broker(Protocol):
    worker_id: str
    """This worker's name among the others; its connections' ids start with it and a dot."""

    async def start(self, on_message: OnMessage, on_resync: OnResync | None = None) -> None: ...
    async def stop(self) -> None: ...
    async def publish(self, meeting_id: str, seq: int) -> None: ...
    async def subscribe(self, meeting_id: str) -> None: ...
    async def unsubscribe(self, meeting_id: str) -> None: ...

    @property
    def healthy(self) -> bool: ...

    def problem(self) -> str | None:
        """What keeps the broker from working, in a sentence for /readyz; None if nothing."""
        ...

    async def lapsed_workers(self) -> set[str]:
        """Other workers known to have stopped (their heartbeat lapsed), to be swept."""
        ...

    async def forget_workers(self, workers: set[str]) -> None: ...


class MemoryBroker:
    """One process: publishing is calling this worker's hub."""

    def __init__(self) -> None:
        self.worker_id = "local"
        self._on_message: OnMessage | None = None
        self._subscribed: set[str] = set()

    async def start(self, on_message: OnMessage, on_resync: OnResync | None = None) -> None:
        self._on_message = on_message  # nothing is ever missed in one process

    async def stop(self) -> None:
        self._on_message = None
        self._subscribed.clear()

    async def publish(self, meeting_id: str, seq: int) -> None:
        if self._on_message is not None and meeting_id in self._subscribed:
            await self._on_message(meeting_id, seq)

    async def subscribe(self, meeting_id: str) -> None:
        self._subscribed.add(meeting_id)

    async def unsubscribe(self, meeting_id: str) -> None:
        self._subscribed.discard(meeting_id)

    @property
    def healthy(self) -> bool:
        return self._on_message is not None

    def problem(self) -> str | None:
        return None if self.healthy else "not started"

    async def lapsed_workers(self) -> set[str]:
        return set()  # the only worker: app.main sweeps what a crash left at start instead

    async def forget_workers(self, workers: set[str]) -> None:
        return None


def make_broker(
    url: str,
    *,
    ping_interval: float = 5.0,
    ping_timeout: float = 3.0,
    command_timeout: float = 2.0,
    heartbeat_interval: float = 3.0,
    lapse_after: float = 15.0,
) -> Broker:
    """The broker `url` names; the times (seconds) are the Redis broker's, see RedisBroker."""
    if url.startswith("memory://"):
        return MemoryBroker()
    if url.startswith(("redis://", "rediss://", "unix://")):
        from app.rooms.redis_broker import RedisBroker  # here: it imports this module

        return RedisBroker(
            url,
            ping_interval=ping_interval,
            ping_timeout=ping_timeout,
            command_timeout=command_timeout,
            heartbeat_interval=heartbeat_interval,
            lapse_after=lapse_after,
        )
    raise ValueError(f"Unsupported broker URL scheme: {url.split(':', 1)[0]}")
