"""A command's way through: AUTH and DECIDE (the engine), PERSIST (the log), PUBLISH (the hub
and the broker), in that order, and publish only after the commit."""

from __future__ import annotations

import asyncio
import contextlib
import time
from functools import partial

from sqlalchemy import Engine

from app.db import eventlog, meetings
from app.domain import commands as c
from app.domain import events as e
from app.domain.engine import decide
from app.domain.errors import DomainError, RoomMovedOn
from app.domain.model import Actor
from app.metrics import Metrics
from app.rooms.broker import Broker
from app.rooms.hub import Clock, Hub
from app.rooms.writer import Writer

MAX_ATTEMPTS = 5


class RoomService:
    def __init__(
        self,
        *,
        engine: Engine,
        hub: Hub,
        broker: Broker,
        clock: Clock,
        metrics: Metrics | None = None,
    ) -> None:
        self._engine = engine
        self._metrics = metrics or Metrics()
        self._hub = hub
        self._broker = broker
        self._clock = clock
        self._writer = Writer()
        hub.on_deadline = self._deadline

    def close(self) -> None:
        """Stop the threads that write the log (after what is queued)."""
        self._writer.close()

    async def handle(
        self,
        meeting_id: str,
        actor: Actor,
        command: c.AnyCommand,
        *,
        expect_seq: int | None = None,
    ) -> int:
        """Decide and record `command`; returns the sequence the meeting reached.

        Raises DomainError when refused, and only on the newest state: a refusal on this
        worker's copy is checked again after reading the log. A command that loses a race with
        another worker is decided again on the newer state, unless its sender named the
        sequence it saw (`expect_seq`): then it is refused with "the room moved on".
        """
        async with self._hub.hold(meeting_id) as room, room.write_lock:
            refreshed = False
            for _ in range(MAX_ATTEMPTS):
                state = room.state
                now = self._clock()
                try:
                    events = decide(state, command, actor, now, expect_seq=expect_seq)
                except DomainError:
                    # With several workers this room may lag the log (another worker's write
                    # not announced yet): refuse only what the newest state refuses.
                    if refreshed:
                        raise
                    refreshed = True
                    await self._hub.catch_up(room)
                    if room.state.seq == state.seq:
                        raise
                    continue
                batch = [
                    e.Stamped(
                        seq=state.seq + i,
                        at=now,
                        actor=actor.participant,
                        actor_role=actor.role,
                        event=ev,
                    )
                    for i, ev in enumerate(events, start=1)
                ]
                if not batch:
                    return state.seq
                try:
                    await self._writer.run(
                        partial(
                            eventlog.append,
                            self._engine,
                            meeting_id,
                            state.seq,
                            batch,
                            late_after_ms=state.settings.late_after_minutes * 60_000,
                        )
                    )
                except eventlog.SequenceConflict:
                    await self._hub.catch_up(room)
                    if expect_seq is not None:
                        raise RoomMovedOn() from None
                    continue
                committed = time.perf_counter()
                # The room cannot have moved: this worker writes it under the lock, and a
                # catch-up that read our own events first leaves deliver nothing to do.
                self._hub.deliver(room, batch)
                self._metrics.committed(len(batch), time.perf_counter() - committed)
                await self._broker.publish(meeting_id, batch[-1].seq)
                return batch[-1].seq
        raise RoomMovedOn("The room is busy; try again.")

    async def follow_membership(self, set_id: str, *, revoked: str | None = None) -> None:
        """After a set's membership or links changed: each of its open meetings takes the new
        roster, and the sockets of anyone removed (or whose link was revoked) close."""
        roster = await asyncio.to_thread(meetings.set_roster, self._engine, set_id)
        for meeting_id in await asyncio.to_thread(
            meetings.open_meetings, self._engine, set_id=set_id
        ):
            commands: list[c.AnyCommand] = [c.SetRoster(roster=roster)]
            if revoked is not None:
                commands.append(c.RevokeAccess(participant=revoked))
            for command in commands:
                with contextlib.suppress(DomainError, LookupError):
                    await self.handle(meeting_id, Actor.system(), command)

    async def _deadline(self, meeting_id: str, deadline: int) -> None:
        await self.handle(meeting_id, Actor.system(), c.TimerElapsed(deadline_ms=deadline))
