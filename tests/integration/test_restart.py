"""Nothing lives only in a process: a restarted server carries on from the log."""

from __future__ import annotations

import asyncio

import pytest

from tests.harness import RoomClient, SeededSet, Server, session_cookie


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


@pytest.mark.faults
def test_the_room_survives_a_killed_server(server: Server, seeded: SeededSet) -> None:
    async def scenario() -> None:
        fac = await _client(server, seeded, seeded.facilitator).connect()
        member = await _client(server, seeded, seeded.members[0]).connect()
        await fac.command("start_meeting")
        await fac.command("timer_start", seconds=600)
        await member.command("raise_hand")
        before = fac.state
        assert before is not None

        server.stop(kill=True)
        server.start()

        await fac.close()
        await member.close()
        await fac.reconnect()
        await member.reconnect()
        # The connections of the killed process are closed in the log: only the two new ones.
        both = {seeded.facilitator, seeded.members[0]}
        after = await fac.wait_for(lambda s: s.online == both and len(s.connections) == 2)
        assert after.phase == before.phase
        assert after.speaker == before.speaker
        assert after.hands == before.hands
        assert after.timer.deadline_ms == before.timer.deadline_ms
        await fac.command("call_next")
        await member.wait_for(lambda s: s.speaker == seeded.members[0])
        await fac.close()
        await member.close()

    asyncio.run(scenario())
