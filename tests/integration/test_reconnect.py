"""A client that drops and comes back names the last sequence it saw (`since`, see
docs/protocol.md): it gets what it missed, once each and in order, or a whole snapshot when
that cannot be served."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

import websockets

from app.domain.model import MeetingState
from tests.harness import RoomClient, SeededSet, Server, session_cookie


def _client(server: Server, seeded: SeededSet, pid: str) -> RoomClient:
    return RoomClient(server, seeded.meeting_id, session_cookie(server, seeded.tokens[pid]))


async def _in_step(reference: RoomClient, *clients: RoomClient) -> None:
    """Until `clients` have seen everything `reference` has, once the server has answered all
    that came before (a ping): no waiting on another client's moving sequence."""
    await reference.barrier()
    target = reference.seq
    for client in clients:
        await client.wait_for(lambda s: s.seq >= target)


def test_a_member_back_from_a_short_drop_gets_exactly_what_they_missed(
    server: Server, seeded: SeededSet
) -> None:
    """The member is offline while the facilitator makes three changes, and comes back with
    the last sequence it saw.

    The 10 s offline of the scenario is kept honestly as "the socket stays closed while the
    changes happen", not as 10 s of wall time: nothing on the server depends on how long a
    client was away (the room keeps its last `replay_buffer` events by count, not by age).
    Besides the three changes the member gets the room's record of its own departure and
    return, which everyone else got too."""
    member = seeded.members[0]

    async def scenario() -> None:
        fac = await _client(server, seeded, seeded.facilitator).connect()
        await fac.command("start_meeting")
        client = await _client(server, seeded, member).connect()
        await fac.wait_for(lambda s: member in s.online)
        await _in_step(fac, client)
        last_seen, received, snapshots = client.seq, len(client.events), client.snapshots

        await client.close()
        await fac.wait_for(lambda s: member not in s.online)  # the server saw it go
        away_from = fac.seq
        for command, fields in (
            ("timer_start", {"seconds": 300}),
            ("timer_add", {"seconds": 60}),
            ("timer_pause", {}),
        ):
            before = fac.seq
            assert await fac.command(command, **fields) == before + 1  # one change, one event
        changes = [s for s in fac.events if s.seq > away_from]
        assert [s.event.type for s in changes] == ["timer_changed"] * 3

        await client.reconnect()
        await fac.wait_for(lambda s: member in s.online)
        await _in_step(fac, client)
        back = client.events[received:]
        # In order, each once (the harness also refuses any gap or repeat as it folds).
        assert [s.seq for s in back] == list(range(last_seen + 1, fac.seq + 1))
        assert [s.event.type for s in back] == [
            "member_left",
            "timer_changed",
            "timer_changed",
            "timer_changed",
            "member_joined",
        ]
        assert back[1:4] == changes
        assert client.snapshots == snapshots  # resumed, not sent the whole room again
        assert client.state is not None and client.state.timer == fac.state.timer  # type: ignore[union-attr]

        # What it folded is what a fresh connection is shown.
        fresh = await _client(server, seeded, member).connect()
        await client.wait_for(lambda s: s.seq >= fresh.seq)
        assert client.state == fresh.state
        for c in (fresh, client, fac):
            await c.close()

    asyncio.run(scenario())


async def _first_message(server: Server, seeded: SeededSet, cookie: str, since: str) -> Any:
    url = f"{server.ws_base}/meetings/{seeded.meeting_id}/ws?mode=json&since={quote(since)}"
    async with websockets.connect(
        url, additional_headers={"Cookie": f"setroom_session={cookie}"}
    ) as socket:
        return json.loads(await socket.recv())


def test_a_malformed_or_unknown_last_sequence_gets_a_whole_snapshot(
    db_url: str, seeded: SeededSet, tmp_path: Path
) -> None:
    """Anything but a sequence the room still holds the events after gets a `welcome` with the
    whole state: garbage, a sequence from the future (another meeting's, or a server that lost
    its log), and one older than the room's replay buffer (4 events here)."""
    env = {"SETROOM_REPLAY_BUFFER": "4"}
    with Server(db_url, env=env, log_path=tmp_path / "server.log") as server:
        cookie = session_cookie(server, seeded.tokens[seeded.members[1]])

        async def scenario() -> None:
            fac = await _client(server, seeded, seeded.facilitator).connect()
            await fac.command("start_meeting")
            for seconds in (60, 120, 180):
                await fac.command("timer_start", seconds=seconds)
            now = fac.seq
            for since in (
                "abc",
                "-1",
                "1.5",
                "",
                " 3",
                "²",
                "0x3",
                "9" * 13,
                str(now + 1),
                "999999",
                "1",  # the room no longer holds the events after it
            ):
                message = await _first_message(server, seeded, cookie, since)
                assert message["op"] == "welcome", since
                assert message["seq"] >= now
                assert MeetingState.model_validate(message["state"]).seq == message["seq"]
            # Each of those connections was recorded coming and going: look again.
            await fac.wait_for(lambda s: len(s.connections) == 1)
            since = fac.seq - 1
            message = await _first_message(server, seeded, cookie, str(since))
            assert (message["op"], message["from"]) == ("resume", since)
            await fac.close()

        asyncio.run(scenario())
