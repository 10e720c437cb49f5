"""Nothing lives only in a process: a restarted server carries on from the log, and its
clients come back by themselves."""

from __future__ import annotations

import asyncio
import time

import pytest

from app.domain.model import MeetingState, PhaseKind, Stage
from tests.harness import RoomClient, SeededSet, Server, session_cookie

BACK_WITHIN_S = 5.0
"""Every client is back this soon after the server is: its backoff is capped at 2 s."""


def _client(server: Server, seeded: SeededSet, pid: str) -> RoomClient:
    return RoomClient(server, seeded.meeting_id, session_cookie(server, seeded.tokens[pid]))


def test_a_facilitator_whose_connection_drops_keeps_control(
    server: Server, seeded: SeededSet
) -> None:
    async def scenario() -> None:
        fac = await _client(server, seeded, seeded.facilitator).connect()
        await fac.command("start_meeting")
        await fac.close()
        await fac.reconnect()
        await fac.command("next_phase")
        assert fac.state is not None and fac.state.phase is not None
        assert fac.state.phase.title == "Report-back"
        await fac.close()

    asyncio.run(scenario())


async def _ask_until_cut(client: RoomClient, tag: str, accepted: list[str]) -> None:
    """Ask questions one after another until the connection is cut; `accepted` gets the text
    of each one the server acknowledged (committed to the log)."""
    for n in range(1, 1000):
        text = f"{tag}, question {n}: what would change?"
        sent = asyncio.ensure_future(client.command("ask_question", text=text, anonymous=False))
        cut = asyncio.ensure_future(client.wait_closed())
        done, _ = await asyncio.wait({sent, cut}, return_when=asyncio.FIRST_COMPLETED)
        for pending in (sent, cut):
            pending.cancel()
        await asyncio.gather(sent, cut, return_exceptions=True)
        if sent not in done or sent.cancelled() or sent.exception() is not None:
            return  # cut with this one in flight: it may or may not have been recorded
        accepted.append(text)
        await asyncio.sleep(0.05)  # a person's pace, well under the socket's rate limit


async def _back(client: RoomClient) -> float:
    """What a client does when its connection is cut: reconnect with backoff. When it was back."""
    await client.wait_closed()
    await client.reconnect_with_backoff()
    return time.monotonic()


def _same_moment(after: MeetingState, before: MeetingState) -> None:
    assert after.phase == before.phase
    assert (after.presenter, after.stage, after.speaker) == (
        before.presenter,
        before.stage,
        before.speaker,
    )
    assert after.hands == before.hands
    assert after.timer.running
    assert before.timer.deadline_ms is not None and after.timer.deadline_ms is not None
    assert abs(after.timer.deadline_ms - before.timer.deadline_ms) <= 1000


@pytest.mark.faults
def test_a_server_killed_in_a_presenter_turn_comes_back_with_every_client_and_command(
    server: Server, seeded: SeededSet
) -> None:
    """kill -9 while members are asking questions in a presenter's turn, then start the server
    again: every client reconnects by itself (capped, jittered backoff) within 5 s of the server
    being back, to the same phase, speaker and timer deadline, and every command the server had
    acknowledged is in the room."""
    presenter, asker_a, asker_b, listener = seeded.members[1:5]

    async def scenario() -> None:
        fac = await _client(server, seeded, seeded.facilitator).connect()
        members = {m: await _client(server, seeded, m).connect() for m in seeded.members[1:5]}
        clients = [fac, *members.values()]
        await fac.command("start_meeting")
        await fac.command(
            "set_slots", slots=[{"member": presenter, "minutes": 20, "title": "A restructuring"}]
        )
        turns = next(p for p in fac.state.phases if p.kind is PhaseKind.TURNS)  # type: ignore[union-attr]
        await fac.command("goto_phase", phase_id=turns.id)
        await fac.command("next_stage")
        await members[listener].command("raise_hand")
        before = await fac.wait_for(lambda s: s.stage is Stage.QUESTIONS and bool(s.hands))
        assert before.presenter == presenter and before.timer.running

        accepted: dict[str, list[str]] = {asker_a: [], asker_b: []}
        asking = [
            asyncio.create_task(_ask_until_cut(members[m], f"Q{i}", accepted[m]))
            for i, m in enumerate(accepted)
        ]
        while min(len(a) for a in accepted.values()) < 3:
            await asyncio.sleep(0.02)
        returns = [asyncio.create_task(_back(c)) for c in clients]

        server.stop(kill=True)  # SIGKILL mid-flight: no goodbye to any socket
        await asyncio.gather(*asking)
        await asyncio.to_thread(server.start)
        up = time.monotonic()
        back_at = await asyncio.wait_for(asyncio.gather(*returns), BACK_WITHIN_S + 1)
        assert max(back_at) - up <= BACK_WITHIN_S, [round(t - up, 2) for t in back_at]

        # The connections of the killed process were closed in the log: only the new ones.
        everyone = {seeded.facilitator, *members}
        await fac.wait_for(lambda s: s.online == everyone and len(s.connections) == len(everyone))
        await fac.barrier()  # all the server had sent before now
        target = fac.seq
        for client in clients:
            _same_moment(await client.wait_for(lambda s: s.seq >= target), before)
        asked = {q.text for q in fac.state.questions}  # type: ignore[union-attr]
        for texts in accepted.values():
            missing = [t for t in texts if t not in asked]
            assert not missing, f"acknowledged, then lost: {missing}"

        # And the meeting carries on.
        await fac.command("call_next")
        for client in clients:
            await client.wait_for(lambda s: s.speaker == listener)
        for client in clients:
            await client.close()

    asyncio.run(scenario())
