"""Two real uvicorn workers on one database, joined by a real redis-server: one room whichever
worker each member is on, races decided by the log, and a Redis restart that loses nothing."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis

from app.db import eventlog
from app.db.database import make_engine
from app.domain import events as e
from app.domain.views import view
from app.rooms.redis_broker import RedisBroker
from tests.harness import (
    CommandRefused,
    RoomClient,
    SeededSet,
    Server,
    free_port,
    session_cookie,
)
from tests.integration.test_live_meeting import _client, _run_meeting, _server_state

pytestmark = pytest.mark.redis


class RedisServer:
    """redis-server in a temporary directory, with nothing saved to disk."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        self.process = subprocess.Popen(
            [
                *("redis-server", "--port", str(self.port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no", "--dir", str(self.directory)),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s,
            ):
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    return self
            time.sleep(0.02)
        self.stop()
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (make system-deps installs it)")
    server = RedisServer(tmp_path).start()
    yield server
    server.stop()


@pytest.fixture
def workers(
    db_url: str, seeded: SeededSet, redis_server: RedisServer, tmp_path: Path
) -> Iterator[tuple[Server, Server]]:
    env = {"SETROOM_BROKER_URL": redis_server.url}
    a, b = (Server(db_url, env=env, log_path=tmp_path / f"worker-{n}.log") for n in "ab")
    try:
        with ThreadPoolExecutor(2) as pool:  # start both at once: they take turns to migrate
            for started in [pool.submit(a.start), pool.submit(b.start)]:
                started.result()
        yield a, b
    finally:
        b.stop()
        a.stop()


def _ready(server: Server) -> httpx.Response:
    return httpx.get(f"{server.base}/readyz", timeout=2)


async def _until_ready(server: Server, ready: bool, within: float) -> float:
    """Seconds until /readyz says `ready`; fails after `within`."""
    started = time.monotonic()
    while time.monotonic() - started < within:
        response = await asyncio.to_thread(_ready, server)
        if (response.status_code == 200) is ready:
            return time.monotonic() - started
        await asyncio.sleep(0.05)
    raise AssertionError(f"{server.base} never became {'ready' if ready else 'unready'}")


async def _converged(db_url: str, seeded: SeededSet, clients: list[RoomClient]) -> None:
    """Every client ends at the log's last sequence, seeing exactly what the log says."""
    truth = _server_state(db_url, seeded.meeting_id)
    for client in clients:
        await client.wait_for(lambda s: s.seq >= truth.seq, timeout=5)
    truth = _server_state(db_url, seeded.meeting_id)
    for client in clients:
        assert client.state == view(truth, client.you["id"])


def _events(db_url: str, meeting_id: str) -> list[e.Stamped]:
    engine = make_engine(db_url)
    try:
        return eventlog.load(engine, meeting_id)
    finally:
        engine.dispose()


@dataclass
class PeerClient(RoomClient):
    """A participant who acts on what the room shows: after each command, wait until everyone
    in the room has seen it (on one worker that is nearly free; across two it is the broker)."""

    peers: list[RoomClient] = field(default_factory=list)

    async def command(self, type_: str, *, expect_seq: int | None = None, **fields: Any) -> int:
        seq = await super().command(type_, expect_seq=expect_seq, **fields)
        for peer in self.peers:
            await peer.wait_for(lambda s: s.seq >= seq, timeout=5)
        return seq


def test_members_split_across_two_workers_run_one_meeting(
    workers: tuple[Server, Server], seeded: SeededSet, db_url: str
) -> None:
    a, b = workers
    assert _ready(a).json()["checks"] == {"database": "ok", "broker": "ok"}

    async def scenario() -> None:
        peers: list[RoomClient] = []

        def client(server: Server, pid: str) -> PeerClient:
            cookie = session_cookie(server, seeded.tokens[pid])
            joined = PeerClient(server, seeded.meeting_id, cookie, peers=peers)
            peers.append(joined)
            return joined

        fac = await client(a, seeded.facilitator).connect()
        members = {
            pid: await client((a, b)[n % 2], pid).connect() for n, pid in enumerate(seeded.members)
        }
        await _run_meeting(fac, members)
        everyone = [fac, *members.values()]
        await _converged(db_url, seeded, everyone)
        truth = _server_state(db_url, seeded.meeting_id)
        assert len(truth.connections) == len(everyone), "presence counts both workers' sockets"
        for client in everyone:
            await client.close()

    asyncio.run(scenario())

    # Each worker counts what it appended; B fanned out what A committed, read from the log.
    metrics_a = httpx.get(f"{a.base}/metrics").text
    metrics_b = httpx.get(f"{b.base}/metrics").text
    assert "setroom_events_appended_total" in metrics_a
    assert 'setroom_broadcast_latency_seconds_count{via="log"}' in metrics_b
    assert "setroom_broker_healthy 1.0" in metrics_b


def test_racing_facilitator_commands_on_two_workers_one_wins(
    workers: tuple[Server, Server], seeded: SeededSet, db_url: str
) -> None:
    a, b = workers

    async def scenario() -> None:
        on_a = await _client(a, seeded, seeded.facilitator).connect()
        on_b = await _client(b, seeded, seeded.facilitator).connect()
        await on_a.command("start_meeting")
        for _ in range(3):
            await on_b.wait_for(lambda s: s.seq == on_a.seq)
            assert on_a.state is not None and on_a.state.phase is not None
            here = on_a.state.phase.id
            entered_before = _count(db_url, seeded, "phase_entered")
            outcomes = await asyncio.gather(
                on_a.command("next_phase", from_phase=here),
                on_b.command("next_phase", from_phase=here),
                return_exceptions=True,
            )
            won = [o for o in outcomes if isinstance(o, int)]
            lost = [o for o in outcomes if isinstance(o, CommandRefused)]
            assert len(won) == 1 and len(lost) == 1, outcomes
            assert lost[0].code == "moved_on"
            assert _count(db_url, seeded, "phase_entered") == entered_before + 1
        await _converged(db_url, seeded, [on_a, on_b])
        await on_a.close()
        await on_b.close()

    asyncio.run(scenario())


def _count(db_url: str, seeded: SeededSet, type_: str, action: str | None = None) -> int:
    return sum(
        1
        for s in _events(db_url, seeded.meeting_id)
        if s.event.type == type_ and (action is None or getattr(s.event, "action", None) == action)
    )


def test_times_up_once_with_clients_on_both_workers(
    workers: tuple[Server, Server], seeded: SeededSet, db_url: str
) -> None:
    a, b = workers

    async def scenario() -> None:
        fac = await _client(a, seeded, seeded.facilitator).connect()
        member_b = await _client(b, seeded, seeded.members[0]).connect()
        fac_b = await _client(b, seeded, seeded.facilitator).connect()
        await fac.command("start_meeting")
        for rounds in range(1, 3):
            await fac.command("timer_start", seconds=1)
            for client in (fac, member_b, fac_b):
                await client.wait_for(lambda s: s.timer.elapsed, timeout=5)
            await asyncio.sleep(0.5)  # let the losing worker's attempt land, or not
            assert _count(db_url, seeded, "timer_changed", "elapsed") == rounds
        await _converged(db_url, seeded, [fac, member_b, fac_b])
        for client in (fac, member_b, fac_b):
            await client.close()

    asyncio.run(scenario())


@pytest.mark.faults
def test_a_redis_restart_mid_meeting_loses_nothing(
    workers: tuple[Server, Server], seeded: SeededSet, db_url: str, redis_server: RedisServer
) -> None:
    a, b = workers
    m1, m2, m3 = seeded.members[:3]

    async def scenario() -> None:
        fac = await _client(a, seeded, seeded.facilitator).connect()
        on_a = await _client(a, seeded, m1).connect()
        on_b = [await _client(b, seeded, pid).connect() for pid in (m2, m3)]
        await fac.command("start_meeting")
        await _converged(db_url, seeded, [fac, on_a, *on_b])

        redis_server.stop()
        for worker in workers:
            await _until_ready(worker, False, within=3)
        body = _ready(a).json()
        assert body["failing"] == ["broker"] and body["checks"]["database"] == "ok"

        # Commands still commit on both workers, and each worker's own clients see them.
        await on_b[0].command("raise_hand")
        await on_b[1].wait_for(lambda s: m2 in s.hands)
        await fac.command("timer_start", seconds=600)
        await on_a.command("raise_hand")
        await fac.wait_for(lambda s: s.hands == (m2, m1))
        written = _server_state(db_url, seeded.meeting_id).seq
        await asyncio.sleep(0.3)
        assert all(c.seq < written for c in on_b), "B cannot have heard of A's writes"

        redis_server.start()  # the same port
        for worker in workers:
            assert await _until_ready(worker, True, within=5) < 5
        await _converged(db_url, seeded, [fac, on_a, *on_b])
        truth = _server_state(db_url, seeded.meeting_id)
        assert truth.hands == (m2, m1) and truth.timer.running

        # And the broker carries new events again, both ways.
        await fac.command("call_next")
        await on_b[0].wait_for(lambda s: s.speaker == m2, timeout=3)
        await on_b[1].command("raise_hand")
        await fac.wait_for(lambda s: m3 in s.hands, timeout=3)
        await _converged(db_url, seeded, [fac, on_a, *on_b])
        for client in [fac, on_a, *on_b]:
            await client.close()

    asyncio.run(scenario())


class FreezingProxy:
    """A TCP proxy to Redis that can go silent: connections stay open and carry nothing, as
    after a network partition. Connections opened after `freeze` pass as usual."""

    def __init__(self, port: int) -> None:
        self._target = port
        self._server: asyncio.Server | None = None
        self._frozen: set[int] = set()
        self._open: dict[int, asyncio.Task[None]] = {}
        self._writers: list[asyncio.StreamWriter] = []
        self.port = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    def freeze(self) -> None:
        self._frozen |= set(self._open)

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for task in self._open.values():
            task.cancel()
        await asyncio.gather(*self._open.values(), return_exceptions=True)
        for writer in self._writers:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
        await self._server.wait_closed()

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        ident = len(self._open) + 1
        self._writers.append(writer)
        self._open[ident] = asyncio.create_task(self._carry(ident, reader, writer))

    async def _carry(
        self, ident: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self._target)
        self._writers.append(up_writer)

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            while data := await source.read(65536):
                if ident in self._frozen:
                    await asyncio.Event().wait()  # swallow everything from now on
                sink.write(data)
                await sink.drain()
            sink.close()

        with contextlib.suppress(OSError):
            await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))


def test_the_broker_notices_a_silent_connection_and_resubscribes(
    redis_server: RedisServer,
) -> None:
    async def scenario() -> None:
        proxy = FreezingProxy(redis_server.port)
        await proxy.start()
        heard: list[tuple[str, int]] = []
        resyncs: list[float] = []

        async def on_message(meeting_id: str, seq: int) -> None:
            heard.append((meeting_id, seq))

        async def on_resync() -> None:
            resyncs.append(time.monotonic())

        broker = RedisBroker(
            f"redis://127.0.0.1:{proxy.port}/0", ping_interval=0.3, ping_timeout=0.3
        )
        direct = aioredis.Redis.from_url(redis_server.url)
        try:
            await broker.start(on_message, on_resync)
            assert broker.healthy and len(resyncs) == 1
            await broker.subscribe("m1")
            await direct.publish("setroom:meeting:m1", "7")
            await _eventually(lambda: heard == [("m1", 7)])

            proxy.freeze()
            frozen_at = time.monotonic()
            await _eventually(lambda: not broker.healthy, within=2)
            assert time.monotonic() - frozen_at < 2, "noticed within interval + timeout"
            await _eventually(lambda: broker.healthy and len(resyncs) == 2, within=3)
            await direct.publish("setroom:meeting:m1", "8")
            await _eventually(lambda: heard == [("m1", 7), ("m1", 8)])
        finally:
            await broker.stop()
            await direct.aclose()
            await proxy.stop()

    asyncio.run(scenario())


async def _eventually(check: Callable[[], bool], within: float = 2) -> None:
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > within:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)
