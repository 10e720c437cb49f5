"""A locked meeting holds newcomers in the lobby, with nothing of the room, until let in; a
facilitator is never locked out."""

from __future__ import annotations

import asyncio

import httpx

from tests.harness import RoomClient, SeededSet, Server, session_cookie


def _client(server: Server, seeded: SeededSet, pid: str) -> RoomClient:
    return RoomClient(server, seeded.meeting_id, session_cookie(server, seeded.tokens[pid]))


def test_a_locked_meeting_holds_a_newcomer_until_let_in(server: Server, seeded: SeededSet) -> None:
    m1, m2 = seeded.members[0], seeded.members[1]

    async def scenario() -> None:
        fac = await _client(server, seeded, seeded.facilitator).connect()
        inside = await _client(server, seeded, m1).connect()
        await fac.command("lock_meeting", locked=True)
        newcomer = await _client(server, seeded, m2).connect()
        assert newcomer.in_lobby and newcomer.state is None
        await fac.wait_for(lambda s: s.waiting == (m2,))
        # Things happen in the room; the newcomer hears none of it.
        await fac.command("start_meeting")
        await inside.command("raise_hand")
        await newcomer.barrier()
        assert newcomer.state is None and newcomer.events == []
        # Someone already in the room when it locked can come back after a drop.
        await inside.close()
        await inside.reconnect()
        assert not inside.in_lobby
        # A facilitator is never locked out.
        second = await _client(server, seeded, seeded.facilitator).connect()
        assert not second.in_lobby
        await fac.command("admit", member=m2)
        state = await newcomer.wait_for(lambda s: m2 in s.online)
        assert state.hands == (m1,)
        assert not newcomer.in_lobby
        for client in (fac, inside, newcomer, second):
            await client.close()

    asyncio.run(scenario())


def test_the_lobby_page_shows_nothing_of_the_room(server: Server, seeded: SeededSet) -> None:
    async def lock() -> None:
        fac = await _client(server, seeded, seeded.facilitator).connect()
        await fac.command("lock_meeting", locked=True)
        await fac.close()

    asyncio.run(lock())
    cookie = session_cookie(server, seeded.tokens[seeded.members[2]])
    page = httpx.get(
        f"{server.base}/meetings/{seeded.meeting_id}", cookies={"setroom_session": cookie}
    )
    assert page.status_code == 200
    assert "Waiting to come in" in page.text
    for secret in (*seeded.names.values(), f"Set {seeded.set_id}", "Check-in"):
        assert secret not in page.text
