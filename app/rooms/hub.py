"""This worker's live rooms: the state of each meeting someone here is connected to, its sockets,
and the fan-out of new events to them.

The hub holds caches only: every state is a fold of the event log, and a room that falls behind
(a missed broker message, another worker's write) reads what it lacks from the log.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Protocol

from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from sqlalchemy import Engine

from app.db import eventlog
from app.domain import events as e
from app.domain.engine import apply, replay
from app.domain.errors import DomainError
from app.domain.model import MeetingState
from app.domain.views import PER_VIEWER, redact_stamped, view
from app.metrics import Metrics
from app.rooms.broker import Broker
from app.rooms.connection import CLOSE_POLICY, CLOSE_REPLACED, Connection

log = logging.getLogger(__name__)

Clock = Callable[[], int]
OnDeadline = Callable[[str, int], Awaitable[None]]


class RegionRenderer(Protocol):
    """What the hub needs to send HTML: implemented by app.web.render.RoomRenderer."""

    def regions(
        self,
        state: MeetingState,
        viewer: str,
        *,
        now_ms: int,
        announce: str = "",
        language: str | None = None,
    ) -> str: ...

    def announcement(
        self, before: MeetingState | None, after: MeetingState, *, language: str | None = None
    ) -> str: ...


Kept = tuple[int, str | e.Stamped]
"""One event of a room's replay buffer: its sequence and the message every viewer gets, already
encoded, or the event itself when each viewer sees it redacted their own way (QuestionAsked)."""


@dataclass(eq=False)
class Room:
    meeting_id: str
    state: MeetingState
    recent: deque[Kept]
    """The last events, for a client that resumes (attach's `since`). Encoded messages rather
    than models: a full buffer of strings is a quarter of the memory and has no objects for the
    garbage collector to walk."""
    connections: dict[str, Connection] = field(default_factory=dict)
    write_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    timer_task: asyncio.Task[None] | None = None
    timer_deadline: int | None = None
    users: int = 0
    lobby: dict[str, set[asyncio.Event]] = field(default_factory=dict)
    """Participants waiting to be let into a locked meeting, each socket with its own signal."""
    """Sockets and commands holding the room (Hub.hold); it is released at zero."""


class Hub:
    def __init__(
        self,
        *,
        engine: Engine,
        broker: Broker,
        renderer: RegionRenderer,
        clock: Clock,
        replay_buffer: int = 500,
        metrics: Metrics | None = None,
        max_sockets_per_person: int = 4,
    ) -> None:
        self._engine = engine
        self._broker = broker
        self._renderer = renderer
        self._clock = clock
        self._buffer = replay_buffer
        self._rooms: dict[str, Room] = {}
        self._loading: dict[str, asyncio.Future[Room]] = {}
        self.on_deadline: OnDeadline | None = None
        self._metrics = metrics or Metrics()
        self._max_sockets = max_sockets_per_person
        self.message_limiter = MovingWindowRateLimiter(MemoryStorage())
        """What each socket of this worker has sent lately, keyed by connection id: a moving
        window in memory (a Redis round trip per message would cost more than the message)."""
        self.sockets_closed = 0
        """Sockets detached so far (app.collector thaws the frozen objects after departures)."""

    @property
    def rooms(self) -> dict[str, Room]:
        return self._rooms

    def connection_count(self) -> int:
        return sum(len(r.connections) for r in self._rooms.values())

    @asynccontextmanager
    async def hold(self, meeting_id: str) -> AsyncIterator[Room]:
        """The live room of a meeting, kept loaded while held and released after the last
        holder. Raises LookupError for a meeting with no log."""
        while True:
            room = await self._load(meeting_id)
            # A waiter on someone else's load may resume after that room was released.
            if self._rooms.get(meeting_id) is room:
                break
        room.users += 1
        try:
            yield room
        finally:
            room.users -= 1
            await self._release(room)

    async def _load(self, meeting_id: str) -> Room:
        room = self._rooms.get(meeting_id)
        if room is not None:
            return room
        pending = self._loading.get(meeting_id)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[Room] = asyncio.get_running_loop().create_future()
        self._loading[meeting_id] = future
        try:
            await self._broker.subscribe(meeting_id)
            log_events = await asyncio.to_thread(eventlog.load, self._engine, meeting_id)
            if not log_events:
                raise LookupError(meeting_id)
            room = Room(
                meeting_id=meeting_id,
                state=replay(meeting_id, log_events),
                recent=deque(
                    (self._kept(s) for s in log_events[-self._buffer :]), maxlen=self._buffer
                ),
            )
            self._rooms[meeting_id] = room
            self._watch_timer(room)
            future.set_result(room)
            return room
        except BaseException as error:
            future.set_exception(error)
            future.exception()  # retrieved: waiters re-raise it, nobody logs it as lost
            if meeting_id not in self._rooms:
                await self._broker.unsubscribe(meeting_id)
            raise
        finally:
            del self._loading[meeting_id]

    def attach(self, room: Room, conn: Connection, *, since: int | None = None) -> None:
        """Add a socket to the room and queue what brings it up to date: the events after
        `since` when this room still has them all, else a full snapshot."""
        now = self._clock()
        state = room.state
        room.connections[conn.id] = conn
        if conn.mode == "html":
            conn.send(
                self._renderer.regions(state, conn.participant, now_ms=now, language=conn.language)
            )
            return
        first_kept = room.recent[0][0] if room.recent else state.seq + 1
        if since is not None and 0 <= since <= state.seq and since + 1 >= first_kept:
            conn.send(
                json.dumps(
                    {
                        "op": "resume",
                        "from": since,
                        "seq": state.seq,
                        "server_now": now,
                        "you": self._you(state, conn),
                    }
                )
            )
            # Redaction reads only the roster and settings, which the current state holds.
            for seq, kept in room.recent:
                if seq > since:
                    conn.send(kept if isinstance(kept, str) else self._redacted(kept, conn, state))
            return
        conn.send(self.welcome(state, conn, now))

    @staticmethod
    def _you(state: MeetingState, conn: Connection) -> dict[str, str]:
        person = state.person(conn.participant)
        return {
            "id": conn.participant,
            "role": conn.role.value,
            "name": person.name if person else "",
        }

    def welcome(self, state: MeetingState, conn: Connection, now: int) -> str:
        return json.dumps(
            {
                "op": "welcome",
                "seq": state.seq,
                "server_now": now,
                "you": self._you(state, conn),
                "state": view(state, conn.participant).model_dump(mode="json"),
            }
        )

    def detach(
        self, room: Room, conn: Connection, *, code: int | None = None, reason: str = ""
    ) -> None:
        if room.connections.pop(conn.id, None) is not None:
            self.sockets_closed += 1
        conn.close(code, reason)

    async def _release(self, room: Room) -> None:
        """Forget a room nobody here holds; it reloads from the log when needed."""
        if room.users == 0 and not room.connections and self._rooms.get(room.meeting_id) is room:
            del self._rooms[room.meeting_id]
            self._stop_timer(room)
            await self._broker.unsubscribe(room.meeting_id)

    def deliver(self, room: Room, batch: list[e.Stamped]) -> bool:
        """Apply freshly committed events and fan them out. False when the batch does not follow
        on from this room's state (the caller then catches up from the log)."""
        fresh = [s for s in batch if s.seq > room.state.seq]
        if not fresh:
            return True
        if fresh[0].seq != room.state.seq + 1:
            return False
        before = room.state
        state = before
        json_conns = [c for c in room.connections.values() if c.mode == "json"]
        for stamped in fresh:
            kept = self._kept(stamped)
            if isinstance(kept[1], str):
                message = kept[1]  # one string shared by every socket
                for conn in json_conns:
                    conn.send(message)
            else:
                for conn in json_conns:
                    conn.send(self._redacted(stamped, conn, state))
            state = apply(state, stamped)
            room.recent.append(kept)
        room.state = state
        self._watch_timer(room)
        self._enforce_access(room, fresh)
        html = [c for c in room.connections.values() if c.mode == "html"]
        if html:
            now = self._clock()
            announced: dict[str | None, str] = {}  # each viewer hears it in their own language
            for conn in html:
                try:
                    if conn.language not in announced:
                        announced[conn.language] = self._renderer.announcement(
                            before, state, language=conn.language
                        )
                    regions = self._renderer.regions(
                        state,
                        conn.participant,
                        now_ms=now,
                        announce=announced[conn.language],
                        language=conn.language,
                    )
                except Exception:  # one viewer's broken page must not stop the room
                    log.exception("rendering the room failed; closing that socket")
                    self.detach(room, conn)
                    continue
                conn.send(regions)
        return True

    def wait_in_lobby(self, room: Room, participant: str) -> asyncio.Event:
        """A signal set when `participant` may come into the room."""
        admitted = asyncio.Event()
        room.lobby.setdefault(participant, set()).add(admitted)
        if room.state.may_enter(participant):
            admitted.set()
        return admitted

    def leave_lobby(self, room: Room, participant: str, admitted: asyncio.Event) -> None:
        waiters = room.lobby.get(participant)
        if waiters is not None:
            waiters.discard(admitted)
            if not waiters:
                del room.lobby[participant]

    def _enforce_access(self, room: Room, fresh: list[e.Stamped]) -> None:
        """Close the sockets of people who may no longer be here (a revoked link, removed from
        the set), and let in those waiting in the lobby who now may. A person over their
        number of sockets loses the oldest ones, whichever worker holds them: every worker
        reads the same joins in the same order from the log."""
        revoked = {s.event.participant for s in fresh if isinstance(s.event, e.AccessRevoked)}
        active = {p.id for p in room.state.roster if p.active}
        for conn in list(room.connections.values()):
            if conn.participant in revoked or conn.participant not in active:
                self.detach(room, conn, code=CLOSE_POLICY)
        joined = {s.event.participant for s in fresh if isinstance(s.event, e.MemberJoined)}
        if joined and self._max_sockets > 0:
            self._keep_newest_sockets(room, joined)
        for participant, waiters in room.lobby.items():
            if room.state.may_enter(participant):
                for admitted in waiters:
                    admitted.set()

    def _keep_newest_sockets(self, room: Room, people: set[str]) -> None:
        for person in people:
            theirs = [cid for cid, p in room.state.connections.items() if p == person]
            for cid in theirs[: max(0, len(theirs) - self._max_sockets)]:
                conn = room.connections.get(cid)
                if conn is not None:
                    self.detach(
                        room,
                        conn,
                        code=CLOSE_REPLACED,
                        reason=f"Opened in another window: at most {self._max_sockets} at once.",
                    )

    @staticmethod
    def _kept(stamped: e.Stamped) -> Kept:
        """What the replay buffer keeps of an event: the message all viewers share, or the event
        itself when each viewer gets their own redaction of it."""
        if isinstance(stamped.event, PER_VIEWER):
            return stamped.seq, stamped
        return stamped.seq, json.dumps({"op": "event", **stamped.model_dump(mode="json")})

    @staticmethod
    def _redacted(stamped: e.Stamped, conn: Connection, before: MeetingState) -> str:
        """The event as this socket's person may see it, on the state it applies to (redaction
        reads only the roster and settings)."""
        seen = redact_stamped(stamped, conn.participant, before)
        return json.dumps({"op": "event", **seen.model_dump(mode="json")})

    async def catch_up(self, room: Room) -> None:
        """Read from the log whatever this room has not seen, and fan it out."""
        missing = await asyncio.to_thread(
            eventlog.load, self._engine, room.meeting_id, after=room.state.seq
        )
        if missing:
            fresh = [s for s in missing if s.seq > room.state.seq]
            if self.deliver(room, missing) and fresh:
                self._metrics.caught_up(fresh, now_ms=self._clock())

    async def catch_up_all(self) -> None:
        """Bring every live room up to date from the log: the broker calls this after it
        (re)subscribed, having perhaps missed messages while it was away."""
        rooms = list(self._rooms.values())
        outcomes = await asyncio.gather(*(self.catch_up(r) for r in rooms), return_exceptions=True)
        for room, outcome in zip(rooms, outcomes, strict=True):
            if isinstance(outcome, Exception):
                log.error(
                    "catching a room up failed",
                    extra={"meeting_id": room.meeting_id},
                    exc_info=outcome,
                )

    async def notified(self, meeting_id: str, seq: int) -> None:
        """A broker message: the meeting has events up to `seq`."""
        pending = self._loading.get(meeting_id)
        if pending is not None:
            # The load may have read the log before this event was committed.
            with contextlib.suppress(LookupError):
                await asyncio.shield(pending)
        room = self._rooms.get(meeting_id)
        if room is not None and room.state.seq < seq:
            await self.catch_up(room)

    def _watch_timer(self, room: Room) -> None:
        """Keep one task per room waiting for the running timer's deadline."""
        timer = room.state.timer
        deadline = timer.deadline_ms if timer.running else None
        if deadline == room.timer_deadline:
            return
        self._stop_timer(room)
        room.timer_deadline = deadline
        if deadline is not None and self.on_deadline is not None:
            room.timer_task = asyncio.get_running_loop().create_task(
                self._wait_deadline(room, deadline)
            )

    @staticmethod
    def _stop_timer(room: Room) -> None:
        """Cancel the room's timer task and let go of it: the cancelled task's traceback holds
        its frame, which holds the room, so a room that kept it would be a garbage cycle, its
        replay buffer and state freed only by a full collection (the soak's memory)."""
        if room.timer_task is not None:
            room.timer_task.cancel()
            room.timer_task = None

    async def _wait_deadline(self, room: Room, deadline: int) -> None:
        # The loop's timer may wake a millisecond early by the wall clock: sleep until it has
        # truly passed, or the engine would rightly refuse a time's-up that is not yet due.
        while (left := deadline - self._clock()) >= 0:
            await asyncio.sleep((left + 1) / 1000)
        # From here the task must not be cancelled by the delivery its own command causes.
        room.timer_task, room.timer_deadline = None, None
        for attempt in range(5):
            if self.on_deadline is None:
                return
            try:
                await self.on_deadline(room.meeting_id, deadline)
                return
            except DomainError:
                return  # another worker recorded it first, or the timer changed meanwhile
            except Exception:
                log.warning("recording time's up failed (attempt %d)", attempt + 1, exc_info=True)
                await asyncio.sleep(1)

    async def close(self) -> None:
        for room in list(self._rooms.values()):
            self._stop_timer(room)
            for conn in list(room.connections.values()):
                conn.close()
        self._rooms.clear()
