"""One socket's side of the room: who it is, how it wants messages, and its own send queue."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Literal

from app.domain.model import Role

Mode = Literal["json", "html"]
CLOSE_TOO_SLOW = 1013
"""Sent when a client falls so far behind that its queue overflows; it resyncs on reconnect."""


@dataclass(eq=False)
class Connection:
    id: str
    participant: str
    role: Role
    mode: Mode
    limit: int = 1000
    queue: asyncio.Queue[str | None] = field(init=False)
    dropped: bool = False
    close_code: int | None = None

    def __post_init__(self) -> None:
        self.queue = asyncio.Queue(maxsize=self.limit)

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

    def close(self, code: int | None = None) -> None:
        """Ask the sender to stop after what is queued, closing the socket with `code`."""
        if code is not None:
            self.close_code = code
        try:
            self.queue.put_nowait(None)
        except asyncio.QueueFull:
            self._stop_now()

    def _stop_now(self) -> None:
        while not self.queue.empty():
            self.queue.get_nowait()
        self.queue.put_nowait(None)
