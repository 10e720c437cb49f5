"""The room's socket under hostile or careless clients (docs/protocol.md, "Limits"): pages of
other sites, messages too big, senders too fast, peers gone silent, a person with too many
windows open."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import websockets

from app.domain.model import MeetingState, MeetingStatus
from tests.harness import CommandRefused, RoomClient, SeededSet, Server, session_cookie
from tests.integration.test_redis import RedisServer

PUBLIC = "https://rooms.example.org"
PARTNER = "https://partner.example.net"
RATE = 30
STRIKES = 3


@pytest.fixture
def server(db_url: str, seeded: SeededSet, tmp_path: Path) -> Iterator[Server]:
    """A server reached at PUBLIC behind a proxy, PARTNER allowed to embed the room, a low
    message rate, and protocol pings every half second (`python -m app` sets them from
    SETROOM_WS_PING_*; this harness runs uvicorn's own command, which reads UVICORN_*)."""
    env = {
        "SETROOM_PUBLIC_URL": PUBLIC,
        "SETROOM_WS_ALLOWED_ORIGINS": f"{PARTNER}, https://other.example.net",
        "SETROOM_WS_MESSAGE_RATE": f"{RATE}/minute",
        "SETROOM_WS_THROTTLE_STRIKES": str(STRIKES),
        "UVICORN_WS_PING_INTERVAL": "0.5",
        "UVICORN_WS_PING_TIMEOUT": "0.5",
    }
    with Server(db_url, env=env, log_path=tmp_path / "server.log") as running:
        yield running


def _client(server: Server, seeded: SeededSet, pid: str) -> RoomClient:
    return RoomClient(server, seeded.meeting_id, session_cookie(server, seeded.tokens[pid]))


def _theirs(state: MeetingState, person: str) -> list[str]:
    return [conn for conn, p in state.connections.items() if p == person]


async def _in_step(reference: RoomClient, *clients: RoomClient) -> None:
    """Until `clients` have seen everything `reference` has, once the server has answered all
    that came before (a ping): no waiting on another client's moving sequence."""
    await reference.barrier()
    target = reference.seq
    for client in clients:
        await client.wait_for(lambda s: s.seq >= target)


async def _handshake(
    server: Server, seeded: SeededSet, cookie: str | None, origin: str | None
) -> int:
    """The HTTP status a handshake gets: 101 when the socket opens."""
    headers = {"Cookie": f"setroom_session={cookie}"} if cookie else {}
    url = f"{server.ws_base}/meetings/{seeded.meeting_id}/ws?mode=json"
    try:
        async with websockets.connect(
            url,
            additional_headers=headers,
            origin=websockets.Origin(origin) if origin is not None else None,
        ) as socket:
            assert json.loads(await socket.recv())["op"] == "welcome"
            return 101
    except websockets.InvalidStatus as refused:
        return refused.response.status_code


def test_a_page_of_another_site_cannot_open_the_room(server: Server, seeded: SeededSet) -> None:
    """Cross-site WebSocket hijacking: a page elsewhere that a member visits must not open the
    room with the member's cookie. Programs (no Origin) still connect with a session."""
    member = seeded.members[0]
    cookie = session_cookie(server, seeded.tokens[member])
    own = f"http://127.0.0.1:{server.port}"

    async def scenario() -> None:
        fac = await _client(server, seeded, seeded.facilitator).connect()
        refused = {
            origin: await _handshake(server, seeded, cookie, origin)
            for origin in (
                "https://evil.example",
                "null",
                f"http://127.0.0.1:{server.port + 1}",
                f"{PUBLIC}.evil.example",
                f"http://{PUBLIC.removeprefix('https://')}",  # not the scheme it is served on
            )
        }
        assert refused == dict.fromkeys(refused, 403)
        await fac.barrier()
        assert not _theirs(fac.state, member), "a refused handshake joined the room"  # type: ignore[arg-type]

        accepted = {
            origin: await _handshake(server, seeded, cookie, origin)
            for origin in (own, PUBLIC, PARTNER, "https://other.example.net", None)
        }
        assert accepted == dict.fromkeys(accepted, 101)
        # The access rule is still checked at the handshake, for the server's own pages too.
        assert await _handshake(server, seeded, None, own) == 403
        assert await _handshake(server, seeded, "forged", own) == 403
        await fac.close()

    asyncio.run(scenario())


def _padded(request_id: str, size: int) -> str:
    message = json.dumps({"op": "command", "id": request_id, "command": {"type": "raise_hand"}})
    return message + " " * (size - len(message))  # JSON allows the trailing blanks


def test_a_message_over_the_size_limit_closes_the_socket_with_1009(
    server: Server, seeded: SeededSet
) -> None:
    member = seeded.members[2]
    limit = 16 * 1024

    async def scenario() -> None:
        fac = await _client(server, seeded, seeded.facilitator).connect()
        await fac.command("start_meeting")
        client = await _client(server, seeded, member).connect()
        await client.send_raw(_padded("at-limit", limit))
        await client.wait_for(lambda s: member in s.hands)  # exactly the limit is fine
        before = await client.command("lower_hand")

        await client.send_raw(_padded("over", limit + 1))
        assert await client.wait_closed() == 1009
        assert client.close_reason == "Messages are limited to 16 KiB."
        await fac.wait_for(lambda s: not _theirs(s, member))  # its departure is recorded
        assert member not in fac.state.hands  # type: ignore[union-attr]
        assert [s.event.type for s in fac.events if s.seq > before] == ["member_left"]

        # A browser's socket (HTML fragments) is held to the same limit.
        url = f"{server.ws_base}/meetings/{seeded.meeting_id}/ws"
        cookie = f"setroom_session={client.cookie}"
        async with websockets.connect(url, additional_headers={"Cookie": cookie}) as page:
            await page.recv()
            await page.send(json.dumps({"type": "raise_hand", "pad": "x" * limit}))
            with pytest.raises(websockets.ConnectionClosed):
                while True:
                    await page.recv()
            assert page.close_code == 1009
        await fac.wait_for(lambda s: not _theirs(s, member))
        assert member not in fac.state.hands  # type: ignore[union-attr]
        await fac.close()

    asyncio.run(scenario())


def test_a_sender_over_the_rate_is_throttled_then_closed_with_1008(
    server: Server, seeded: SeededSet
) -> None:
    member = seeded.members[3]

    async def scenario() -> None:
        fac = await _client(server, seeded, seeded.facilitator).connect()
        client = await _client(server, seeded, member).connect()
        for _ in range(RATE):
            await client.barrier()  # pings count like any message

        with pytest.raises(CommandRefused) as refused:
            await client.command("raise_hand")
        assert refused.value.code == "too_fast"
        # Throttled, not thrown out: the socket still gets the room, and the refused command
        # changed nothing.
        await fac.command("start_meeting")
        await client.wait_for(lambda s: s.status is MeetingStatus.LIVE)
        assert member not in fac.state.hands  # type: ignore[union-attr]
        assert member in fac.state.online  # type: ignore[union-attr]

        # Keeping on: the third refusal in a row closes the socket.
        with pytest.raises(CommandRefused):
            await client.command("raise_hand")
        await client.send_raw(json.dumps({"op": "ping"}))
        assert await client.wait_closed() == 1008
        assert client.close_reason == "Too many messages, too fast."
        await fac.wait_for(lambda s: member not in s.online)
        assert member not in fac.state.hands  # type: ignore[union-attr]

        # The budget is the socket's: others, and the member's next socket, are not held back.
        again = await _client(server, seeded, member).connect()
        await again.command("raise_hand")
        await again.close()
        await fac.close()

    asyncio.run(scenario())


async def _silent_socket(server: Server, seeded: SeededSet, cookie: str) -> asyncio.StreamWriter:
    """A client whose peer has gone quiet (a laptop shut, a dead link): the handshake, then
    nothing, not even an answer to the server's pings."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        (
            f"GET /meetings/{seeded.meeting_id}/ws?mode=json HTTP/1.1\r\n"
            f"Host: 127.0.0.1:{server.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"Cookie: setroom_session={cookie}\r\n\r\n"
        ).encode()
    )
    assert (await reader.readline()).startswith(b"HTTP/1.1 101")
    return writer


def test_silent_sockets_are_reaped_and_quiet_listeners_kept(
    server: Server, seeded: SeededSet
) -> None:
    """Browsers answer the protocol's pings by themselves, so a member who only watches stays;
    a peer that answers nothing is closed after the ping timeout and leaves the room."""
    silent, listener = seeded.members[4], seeded.members[5]

    async def scenario() -> None:
        fac = await _client(server, seeded, seeded.facilitator).connect()
        quiet = await _client(server, seeded, listener).connect()
        writer = await _silent_socket(server, seeded, session_cookie(server, seeded.tokens[silent]))
        await fac.wait_for(lambda s: silent in s.online)
        await fac.wait_for(lambda s: silent not in s.online)
        assert listener in fac.state.online  # type: ignore[union-attr]
        await fac.command("start_meeting")  # and it still gets every event
        await _in_step(fac, quiet)
        writer.close()
        await quiet.close()
        await fac.close()

    asyncio.run(scenario())


def test_a_person_holds_at_most_four_sockets_the_oldest_goes(
    server: Server, seeded: SeededSet
) -> None:
    member = seeded.members[6]

    async def scenario() -> None:
        fac = await _client(server, seeded, seeded.facilitator).connect()
        await fac.command("start_meeting")
        windows = [await _client(server, seeded, member).connect() for _ in range(4)]
        await fac.wait_for(lambda s: len(_theirs(s, member)) == 4)

        fifth = await _client(server, seeded, member).connect()
        assert await windows[0].wait_closed() == 4001
        assert windows[0].close_reason == "Opened in another window: at most 4 at once."
        await fac.wait_for(lambda s: len(_theirs(s, member)) == 4)
        await _in_step(fac, fifth)
        assert fifth.state is not None and fifth.state.online == fac.state.online  # type: ignore[union-attr]
        for window in [*windows[1:], fifth]:
            await window.command("raise_hand")
            await window.command("lower_hand")
        # Other people's sockets do not count against this member.
        others = [await _client(server, seeded, m).connect() for m in seeded.members[:2]]
        await fac.barrier()
        assert len(_theirs(fac.state, member)) == 4  # type: ignore[arg-type]
        for client in [*windows[1:], fifth, *others, fac]:
            await client.close()

    asyncio.run(scenario())


@pytest.mark.redis
def test_the_socket_limit_holds_across_workers(
    db_url: str, seeded: SeededSet, tmp_path: Path
) -> None:
    """Four sockets on one worker and a fifth on another: the first worker closes the oldest,
    having read the fifth join from the log like everyone else."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (make system-deps installs it)")
    member = seeded.members[7]
    redis_server = RedisServer(tmp_path).start()
    env = {"SETROOM_BROKER_URL": redis_server.url}
    a, b = (Server(db_url, env=env, log_path=tmp_path / f"worker-{n}.log") for n in "ab")
    try:
        a.start()
        b.start()

        async def scenario() -> None:
            fac = await _client(a, seeded, seeded.facilitator).connect()
            on_a = [await _client(a, seeded, member).connect() for _ in range(4)]
            await fac.wait_for(lambda s: len(_theirs(s, member)) == 4)
            on_b = await _client(b, seeded, member).connect()
            assert await on_a[0].wait_closed() == 4001
            await fac.wait_for(lambda s: len(_theirs(s, member)) == 4)
            await _in_step(fac, on_b)
            assert len(_theirs(on_b.state, member)) == 4  # type: ignore[arg-type]
            for client in [*on_a[1:], on_b, fac]:
                await client.close()

        asyncio.run(scenario())
    finally:
        b.stop()
        a.stop()
        redis_server.stop()
