"""Presence across workers: who is online stays true when a worker dies.

A connection is "online" from its Join to its Leave in the meeting's log, and the worker holding
the socket records both. A worker killed outright (kill -9, a lost host) records no Leave, so
its people would stay online for everyone else. So each connection's id starts with its
worker's id (`<worker>.<random>`), every worker beats a heartbeat in Redis (the broker's), and
each worker sweeps now and then: for every worker whose heartbeat lapsed, it records a Leave
for each of that worker's connections in every open meeting, then drops it from the register.
Several workers may sweep the same one at once; a second Leave is refused and ignored.

A worker that was only cut off from Redis long enough to be swept is still serving its sockets:
it records a Join again for each of its sockets that the log no longer counts (`recount`), when
its broker is back and at every sweep (the others may sweep it just after it came back). No
worker sweeps until it has been back long enough for the others to beat again: after a Redis
outage every heartbeat has lapsed, and the living must not sweep each other.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from sqlalchemy import Engine

from app.db.meetings import open_meetings
from app.domain import commands as c
from app.domain.errors import DomainError
from app.domain.model import Actor
from app.rooms.broker import Broker
from app.rooms.hub import Hub
from app.rooms.service import RoomService

log = logging.getLogger(__name__)


class Presence:
    def __init__(
        self, *, broker: Broker, engine: Engine, hub: Hub, rooms: RoomService, sweep_every: float
    ) -> None:
        self._broker = broker
        self._engine = engine
        self._hub = hub
        self._rooms = rooms
        self._every = sweep_every

    async def keep_sweeping(self) -> None:
        while True:
            await asyncio.sleep(self._every)
            try:
                await self.sweep()
                await self.recount()
            except Exception:
                log.exception("sweeping lapsed workers failed")

    async def sweep(self) -> None:
        """Record a Leave for every connection of every worker whose heartbeat lapsed."""
        lapsed = await self._broker.lapsed_workers()
        if not lapsed:
            return
        prefixes = tuple(f"{worker}." for worker in lapsed)
        left = 0
        for meeting_id in await asyncio.to_thread(open_meetings, self._engine):
            with contextlib.suppress(LookupError):  # a meeting whose first event never landed
                async with self._hub.hold(meeting_id) as room:
                    for connection in list(room.state.connections):
                        if connection.startswith(prefixes):
                            left += await self._record(meeting_id, c.Leave(connection=connection))
        log.warning("swept lapsed workers", extra={"workers": len(lapsed), "connections": left})
        await self._broker.forget_workers(lapsed)

    async def resynced(self) -> None:
        """The broker is back: catch every room up from the log, then recount."""
        await self._hub.catch_up_all()
        await self.recount()

    async def recount(self) -> None:
        """Record a Join for each socket of this worker that the log counts as gone (swept
        while this worker was cut off from Redis)."""
        for room in list(self._hub.rooms.values()):
            for conn in list(room.connections.values()):
                if conn.id in room.state.connections:
                    continue
                join = c.Join(connection=conn.id, participant=conn.participant)
                if await self._record(room.meeting_id, join) and conn.id not in room.connections:
                    # The socket closed (its Leave recorded) while this Join waited its turn.
                    await self._record(room.meeting_id, c.Leave(connection=conn.id))

    async def _record(self, meeting_id: str, command: c.AnyCommand) -> int:
        try:
            await self._rooms.handle(meeting_id, Actor.system(), command)
        except DomainError:
            return 0  # already recorded (another worker swept first), or no longer allowed
        return 1
