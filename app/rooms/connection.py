"""One socket's side of the room: who it is, how it wants messages, and its own send queue."""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field
from typing import Literal

from app.domain.model import Role

Mode = Literal["json", "html"]
CLOSE_TOO_SLOW = 1013
"""Sent when a client falls so far behind that its queue overflows; it resyncs on reconnect."""
CLOSE_POLICY = 1008
"""The socket may not stay: its person may no longer be in the room, or it would not slow down."""
CLOSE_TOO_BIG = 1009
"""A message over the size limit (settings.max_message_bytes)."""
CLOSE_REPLACED = 4001
"""Its person opened more sockets in this meeting than they may hold; this, the oldest, went.
Clients do not reconnect on it (they would only push another of the person's sockets out)."""


class SendQueue:
    """A bounded queue with one consumer (the socket's sender): asyncio.Queue's put_nowait,
    get_nowait, empty and get, in a fifth of its memory (asyncio.Queue keeps three deques and an
    Event, ~3 KiB, for every socket)."""

    __slots__ = ("_items", "_limit", "_waiter")

    def __init__(self, limit: int) -> None:
        self._items: deque[str | None] = deque()
        self._limit = limit
        self._waiter: asyncio.Future[None] | None = None

    def put_nowait(self, item: str | None) -> None:
        if 0 < self._limit <= len(self._items):
            raise asyncio.QueueFull
        self._items.append(item)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def get_nowait(self) -> str | None:
        if not self._items:
            raise asyncio.QueueEmpty
        return self._items.popleft()

    def empty(self) -> bool:
        return not self._items

    def qsize(self) -> int:
        return len(self._items)

    async def get(self) -> str | None:
        while not self._items:
            waiter = asyncio.get_running_loop().create_future()
            self._waiter = waiter
            try:
                await waiter
            finally:
                self._waiter = None
        return self._items.popleft()


@dataclass(eq=False)
class Connection:
    id: str
    participant: str
    role: Role
    mode: Mode
    limit: int = 1000
    language: str | None = None
    """The language its HTML is rendered in (app.web.language); None: the renderer's default."""
    queue: SendQueue = field(init=False)
    dropped: bool = False
    close_code: int | None = None
    close_reason: str = ""

    def __post_init__(self) -> None:
        self.queue = SendQueue(self.limit)

    def send(self, message: str) -> None:
        """Queue a message without waiting: a slow client never holds up its room. One whose
        queue is full is dropped instead; it will reconnect and get a fresh snapshot."""
        if self.dropped:
            return
        try:
            self.queue.put_nowait(message)
        except asyncio.QueueFull:
            self.dropped = True
            self._stop_now()

    def close(self, code: int | None = None, reason: str = "") -> None:
        """Ask the sender to stop after what is queued, closing the socket with `code`."""
        if code is not None:
            self.close_code, self.close_reason = code, reason
        try:
            self.queue.put_nowait(None)
        except asyncio.QueueFull:
            self._stop_now()

    def stop(self, code: int, reason: str = "") -> None:
        """Close the socket with `code` now, dropping whatever is still queued for it."""
        self.close_code, self.close_reason = code, reason
        self._stop_now()

    def _stop_now(self) -> None:
        while not self.queue.empty():
            self.queue.get_nowait()
        self.queue.put_nowait(None)
