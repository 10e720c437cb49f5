"""The hub's fan-out and its replay buffer: a client that resumes gets, event for event, the
messages a client connected all along got, its own redactions included."""

from __future__ import annotations

import asyncio
import json
from collections import deque

import pytest
from sqlalchemy import create_engine

from app.domain import commands as c
from app.domain.engine import replay
from app.domain.model import MeetingState, Role, Settings
from app.rooms.broker import MemoryBroker
from app.rooms.connection import Connection, SendQueue
from app.rooms.hub import Hub, Room
from app.rooms.writer import Writer
from tests.factories import START_MS, Log, opened, roster

VIEWERS = ("f", "m1", "m2", "m3", "m4")


class _NoHtml:
    def regions(self, state: MeetingState, viewer: str, *, now_ms: int, announce: str = "") -> str:
        raise AssertionError("no HTML sockets here")

    def announcement(self, before: MeetingState | None, after: MeetingState) -> str:
        return ""


def _hub() -> Hub:
    return Hub(
        engine=create_engine("sqlite://"),
        broker=MemoryBroker(),
        renderer=_NoHtml(),
        clock=lambda: START_MS,
    )


def _conn(participant: str) -> Connection:
    role = Role.FACILITATOR if participant.startswith("f") else Role.MEMBER
    return Connection(id=f"c-{participant}", participant=participant, role=role, mode="json")


def _drain(conn: Connection) -> list[str]:
    out = []
    while not conn.queue.empty():
        message = conn.queue.get_nowait()
        assert message is not None
        out.append(message)
    return out


def _meeting() -> Log:
    log = Log(
        opened(
            people=roster(members=4),
            settings=Settings(anonymous_questions=True, questions_to_set=False),
        )
    )
    log.do(c.StartMeeting(), "f")
    log.do(c.GotoPhase(phase_id="p3"), "f")
    log.do(c.Allot(member="m1", minutes=10), "f")
    log.do(c.NextPhase(), "f")
    log.do(c.NextStage(), "f")
    log.do(c.AskQuestion(text="What is in your way?"), "m2")
    log.do(c.AskQuestion(text="Who benefits if nothing changes?", anonymous=True), "m3")
    log.do(c.FlagAdvice(question_id=log.state.questions[0].id), "f")
    return log


def test_a_resumed_client_gets_what_a_connected_one_got() -> None:
    log = _meeting()
    hub = _hub()
    first = log.events[:1]
    room = Room(
        meeting_id=log.meeting_id,
        state=replay(log.meeting_id, first),
        recent=deque((Hub._kept(s) for s in first), maxlen=500),
    )
    live = {p: _conn(p) for p in VIEWERS}
    for conn in live.values():
        hub.attach(room, conn)
        _drain(conn)  # the welcome
    for stamped in log.events[1:]:
        assert hub.deliver(room, [stamped])
    assert room.state == log.state
    for p in VIEWERS:
        resumed = Connection(id=f"r-{p}", participant=p, role=live[p].role, mode="json")
        hub.attach(room, resumed, since=1)
        opening, *events = _drain(resumed)
        assert json.loads(opening)["op"] == "resume"
        assert events == _drain(live[p])
        assert len(events) == len(log.events) - 1
    # Only the questions are kept as events, each viewer's redaction made at resume.
    asked = [kept for _, kept in room.recent if not isinstance(kept, str)]
    assert len(asked) == 2


def test_an_anonymous_question_names_its_author_only_to_the_author() -> None:
    log = _meeting()
    hub = _hub()
    room = Room(
        meeting_id=log.meeting_id,
        state=log.state,
        recent=deque((Hub._kept(s) for s in log.events), maxlen=500),
    )
    for p in VIEWERS:
        conn = _conn(p)
        hub.attach(room, conn, since=0)
        messages = [json.loads(m) for m in _drain(conn)[1:]]
        anonymous = next(
            m
            for m in messages
            if m["event"]["type"] == "question_asked" and m["event"]["question"]["anonymous"]
        )
        assert anonymous["actor"] == ("m3" if p == "m3" else None)


def test_the_send_queue_is_bounded_and_wakes_its_reader() -> None:
    async def scenario() -> None:
        queue = SendQueue(2)
        reader = asyncio.create_task(queue.get())
        await asyncio.sleep(0)
        queue.put_nowait("a")
        assert await reader == "a"
        queue.put_nowait("b")
        queue.put_nowait(None)
        with pytest.raises(asyncio.QueueFull):
            queue.put_nowait("c")
        assert [await queue.get(), await queue.get()] == ["b", None]
        assert queue.empty()

    asyncio.run(scenario())


def test_a_socket_too_slow_for_its_queue_is_dropped() -> None:
    conn = Connection(id="x", participant="m1", role=Role.MEMBER, mode="json", limit=3)
    for i in range(5):
        conn.send(str(i))
    assert conn.dropped
    assert conn.queue.get_nowait() is None and conn.queue.empty()


def test_the_writer_returns_what_the_call_returned_or_raised() -> None:
    writer = Writer(threads=2)

    def refuse() -> int:
        raise ValueError("no")

    async def scenario() -> None:
        assert await writer.run(lambda: 41 + 1) == 42
        with pytest.raises(ValueError, match="no"):
            await writer.run(refuse)
        results = await asyncio.gather(*(writer.run(lambda i=i: i) for i in range(50)))
        assert results == list(range(50))

    try:
        asyncio.run(scenario())
    finally:
        writer.close()
