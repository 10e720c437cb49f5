"""A whole default-template meeting over real WebSockets against a real uvicorn."""

from __future__ import annotations

import asyncio

import httpx
from sqlmodel import Session, select

from app.db import eventlog
from app.db.database import make_engine
from app.db.tables import Attendance, CommitmentRecord, QuestionRecord
from app.domain.engine import replay
from app.domain.events import EVENT_TYPES
from app.domain.model import MeetingState, MeetingStatus, PhaseKind, ReportStatus, Stage
from app.domain.views import view
from tests.harness import (
    CSRF,
    CommandRefused,
    RoomClient,
    SeededSet,
    Server,
    session_cookie,
    sign_in,
)

PRESENTERS = 3


def _client(server: Server, seeded: SeededSet, pid: str) -> RoomClient:
    return RoomClient(server, seeded.meeting_id, session_cookie(server, seeded.tokens[pid]))


def _phase(state: MeetingState) -> PhaseKind | None:
    return state.phase.kind if state.phase else None


async def _run_meeting(
    fac: RoomClient, members: dict[str, RoomClient], during_turn_two: object = None
) -> None:
    """The default template from start to close, as a facilitator and members would run it."""
    ids = list(members)
    await fac.command("add_phase", kind="custom", title="Tea break", minutes=5)
    tea = fac.state.phases[-2].id  # type: ignore[union-attr]
    await fac.command("move_phase", phase_id=tea, to_index=1)
    await fac.command("skip_phase", phase_id=tea)
    await fac.command("start_meeting")
    assert _phase(fac.state) is PhaseKind.CHECK_IN  # type: ignore[arg-type]
    await fac.command("set_order", order=list(reversed(ids)))
    for _ in ids:
        await fac.command("next_speaker")
    assert fac.state.speaker is None  # type: ignore[union-attr]

    await fac.command("next_phase")
    state = fac.state
    assert state is not None and _phase(state) is PhaseKind.REPORT_BACK
    assert list(state.order) == [ids[0], ids[1]]
    for owner in ids[:2]:
        prior = next(p for p in fac.state.prior if p.owner == owner)  # type: ignore[union-attr]
        await members[owner].command(
            "report_back",
            commitment_id=prior.id,
            status="partly",
            learned="Smaller steps work",
            next_step="Try again",
        )
        await fac.command("next_speaker")

    await fac.command("next_phase")
    presenters = ids[2 : 2 + PRESENTERS]
    await members[ids[7]].command("place_bid", minutes=10, title="Changing my mind")
    await members[ids[7]].command("withdraw_bid")
    for n, pid in enumerate(presenters):
        await members[pid].command("place_bid", minutes=15 + n, title=f"Issue {n}")
    for pid in presenters:
        await fac.command("allot", member=pid)

    await fac.command("next_phase")
    for n, presenter in enumerate(presenters):
        state = fac.state
        assert state is not None and state.presenter == presenter
        assert state.stage is Stage.PRESENT and state.speaker == presenter
        await fac.command("timer_pause")
        await fac.command("timer_add", seconds=60)
        await fac.command("timer_resume")
        await fac.command("next_stage")
        askers = [m for m in ids if m != presenter][:3]
        for asker in askers:
            await members[asker].command("raise_hand")
        await members[askers[2]].command("lower_hand")
        await fac.command("call_next")
        assert fac.state.speaker == askers[0]  # type: ignore[union-attr]
        await members[askers[0]].command("ask_question", text=f"What matters most, {n}?")
        await members[askers[1]].command(
            "ask_question", text="You should just resign", anonymous=True, confirmed=True
        )
        if n == 1 and during_turn_two is not None:
            await during_turn_two  # type: ignore[misc]
        questions = [q for q in fac.state.questions if q.presenter == presenter]  # type: ignore[union-attr]
        await fac.command("flag_advice", question_id=questions[1].id)
        await members[presenter].command("star_question", question_id=questions[0].id)
        await members[askers[0]].command("tag_question", question_id=questions[0].id, grow="goal")
        await members[presenter].command("save_note", text=f"A note of my own, turn {n}")
        await fac.command("next_stage")
        await fac.command("next_stage")
        assert fac.state.stage is Stage.COMMITMENT  # type: ignore[union-attr]
        await members[presenter].command(
            "save_commitment",
            what=f"Talk to my team ({n})",
            by_when="in two weeks",
            how_know="They reply",
            support="A check-in call",
        )
        if n == 0:
            mine = next(c for c in fac.state.commitments if c.owner == presenter)  # type: ignore[union-attr]
            await fac.command(
                "save_commitment", commitment_id=mine.id, what="Talk to my whole team (0)"
            )
        await fac.command("next_stage")

    await fac.command("hand_over", member=ids[0])
    await members[ids[0]].command("next_phase")
    assert _phase(fac.state) is PhaseKind.PROCESS_REVIEW  # type: ignore[arg-type]
    await fac.command("take_back")
    await fac.command("timer_start", seconds=1)
    await fac.wait_for(lambda s: s.timer.elapsed, timeout=5)
    await fac.command("next_phase")
    await fac.command("next_phase")
    assert _phase(fac.state) is PhaseKind.CLOSE  # type: ignore[arg-type]
    await fac.command("close_meeting")


def _server_state(db_url: str, meeting_id: str) -> MeetingState:
    engine = make_engine(db_url)
    try:
        return replay(meeting_id, eventlog.load(engine, meeting_id))
    finally:
        engine.dispose()


async def _until_settled(db_url: str, meeting_id: str, *, online: int) -> None:
    """Wait until the server has recorded every departure, leaving `online` connections."""
    for _ in range(100):
        if len(_server_state(db_url, meeting_id).connections) == online:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"the room never settled: {_server_state(db_url, meeting_id).connections}")


def test_a_whole_meeting_with_nine_clients(server: Server, seeded: SeededSet, db_url: str) -> None:
    async def scenario() -> None:
        fac = await _client(server, seeded, seeded.facilitator).connect()
        members = {pid: await _client(server, seeded, pid).connect() for pid in seeded.members}
        dropper = members[seeded.members[7]]

        async def drop_and_return() -> None:
            # One member's network drops mid-turn while the room moves on, then comes back.
            await dropper.close()
            await fac.command("timer_add", seconds=30)
            await members[seeded.members[0]].command("raise_hand")
            await fac.command("call_next")
            await dropper.reconnect()
            assert dropper.snapshots == 1, "a short drop is caught up with events, not a snapshot"

        await _run_meeting(fac, members, drop_and_return())
        everyone = [fac, *members.values()]
        final_seq = fac.seq
        for client in everyone:
            await client.wait_for(lambda s: s.seq == final_seq)

        truth = _server_state(db_url, seeded.meeting_id)
        assert truth.status is MeetingStatus.CLOSED
        for client in everyone:
            assert client.state == view(truth, client.you["id"])
        # What differs between members is only whose anonymous question is whose, and whose
        # private notes are whose.
        shared = {c.state.model_dump_json(exclude={"questions", "notes"}) for c in everyone}  # type: ignore[union-attr]
        assert len(shared) == 1

        for client in everyone:
            await client.close()

    asyncio.run(scenario())

    engine = make_engine(db_url)
    with Session(engine) as session:
        commitments = session.exec(
            select(CommitmentRecord).where(CommitmentRecord.meeting_id == seeded.meeting_id)
        ).all()
        assert sorted(c.owner_id for c in commitments) == sorted(seeded.members[2:5])
        assert any(c.what == "Talk to my whole team (0)" for c in commitments)
        reported = session.exec(
            select(CommitmentRecord).where(
                CommitmentRecord.reported_meeting_id == seeded.meeting_id
            )
        ).all()
        assert {r.report_status for r in reported} == {ReportStatus.PARTLY.value}
        questions = session.exec(
            select(QuestionRecord).where(QuestionRecord.meeting_id == seeded.meeting_id)
        ).all()
        assert len(questions) == 2 * PRESENTERS
        assert sum(q.advice for q in questions) == PRESENTERS
        attended = session.exec(
            select(Attendance).where(Attendance.meeting_id == seeded.meeting_id)
        ).all()
        assert {a.person_id for a in attended} == {seeded.facilitator, *seeded.members}
    engine.dispose()


def test_events_folded_equal_a_fresh_snapshot_for_every_event_type(
    server: Server, seeded: SeededSet, db_url: str
) -> None:
    """Zulip's verify_action, for a whole meeting: a client that folds every event from the
    first ends equal to a fresh snapshot, for each role, and every event type was exercised."""

    async def scenario() -> None:
        watchers = [
            await _client(server, seeded, pid).connect(since=0)
            for pid in (seeded.facilitator, seeded.members[3], seeded.members[6])
        ]
        fac = await _client(server, seeded, seeded.facilitator).connect()
        # The lobby: a newcomer to a locked meeting waits, gives up, comes back, is let in.
        await fac.command("lock_meeting", locked=True)
        late = seeded.members[0]
        waiting = await _client(server, seeded, late).connect()
        await fac.wait_for(lambda s: s.waiting == (late,))
        await waiting.close()
        await fac.wait_for(lambda s: s.waiting == ())
        waiting = await _client(server, seeded, late).connect()
        await fac.wait_for(lambda s: s.waiting == (late,))
        await fac.command("admit", member=late)
        await waiting.wait_for(lambda s: late in s.online)
        await fac.command("lock_meeting", locked=False)
        # Outside the room, the set's pages change the meeting too: a new date, a newcomer to
        # the set (the roster follows), their link revoked.
        account = sign_in(server, seeded.emails[seeded.facilitator])
        async with httpx.AsyncClient(
            auth=CSRF, base_url=server.base, cookies={"setroom_session": account}
        ) as pages:
            dated = await pages.post(
                f"/meetings/{seeded.meeting_id}/schedule",
                data={"day": "2031-01-14", "start": "09:30", "duration": "180", "zone": "UTC"},
            )
            assert dated.status_code == 303
            added = await pages.post(
                f"/sets/{seeded.set_id}/members",
                data={"name": "Nia Newcomer", "organisation": "Brightwater Care"},
            )
            assert added.status_code == 200
            await fac.wait_for(lambda s: any(p.name == "Nia Newcomer" for p in s.roster))
            newcomer = next(p.id for p in fac.state.roster if p.name == "Nia Newcomer")  # type: ignore[union-attr]
            revoked = await pages.post(f"/sets/{seeded.set_id}/people/{newcomer}/revoke")
            assert revoked.status_code == 303
        members = {pid: await _client(server, seeded, pid).connect() for pid in seeded.members}
        await waiting.close()
        await _run_meeting(fac, members)
        for client in [fac, *members.values()]:
            await client.close()
        for remaining, watcher in enumerate(watchers):
            await _until_settled(db_url, seeded.meeting_id, online=len(watchers) - remaining)
            last = _server_state(db_url, seeded.meeting_id).seq
            await watcher.wait_for(lambda s, last=last: s.seq == last)  # type: ignore[misc]
            assert watcher.snapshots == 0
            assert {ev.event.type for ev in watcher.events} == set(EVENT_TYPES)
            fresh = await _client(server, seeded, watcher.you["id"]).connect()
            # The fresh client's own arrival is one more event; compare at the same point.
            await watcher.wait_for(lambda s, seq=fresh.seq: s.seq == seq)  # type: ignore[misc]
            assert watcher.state == fresh.state
            await fresh.close()
            await watcher.close()

    asyncio.run(scenario())


def test_bad_input_gets_an_error_and_changes_nothing(server: Server, seeded: SeededSet) -> None:
    async def scenario() -> None:
        fac = await _client(server, seeded, seeded.facilitator).connect()
        member = await _client(server, seeded, seeded.members[0]).connect()
        before = member.seq
        bad = [
            "not json",
            "[1, 2]",
            '{"op": "command", "command": {"type": "no_such_command"}}',
            '{"op": "command", "command": {"type": "place_bid", "minutes": "many"}}',
            '{"op": "command", "command": {"type": "timer_elapsed", "deadline_ms": 1}}',
            '{"op": "dance"}',
            '{"op": "command", "command": {"type": "raise_hand"}, "expect_seq": "x"}',
        ]  # over the size limit the socket closes (1009): tests/integration/test_ws_hardening.py
        for raw in bad:
            await member.send_raw(raw)
        await member.send_raw(b"\x00\x01")
        for code, kwargs in [
            ("forbidden", {"type_": "start_meeting"}),
            ("moved_on", {"type_": "raise_hand", "expect_seq": 1}),
        ]:
            try:
                await member.command(**kwargs)  # type: ignore[arg-type]
            except CommandRefused as refused:
                assert refused.code == code
            else:
                raise AssertionError(f"{kwargs} was accepted")
        await member.barrier()
        assert len(member.errors) == len(bad) + 3
        assert member.seq == before and fac.seq == before
        await member.close()
        await fac.close()

    asyncio.run(scenario())
