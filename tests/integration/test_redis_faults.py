"""Redis faults under two real workers on one database: Redis restarted, the app's pub/sub
connections killed, and the link to Redis silently black-holed. Each is noticed, the workers
resubscribe and catch up from the log, and nothing is lost: every client on either worker ends
with what the event log says. While Redis is away, commands still commit and the clients on the
worker that took them still see them, and /readyz says what is wrong.

The workers reach Redis through a small TCP proxy that can black-hole the link (it stops passing
bytes either way and keeps every socket open: no FIN, no error), and they run with shorter
detection times than the defaults so that the test is quick; `test_the_default_times_notice_a_
silent_redis_within_30_s` holds the defaults to the promise."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import redis
import redis.asyncio as aioredis
from redis.asyncio.client import PubSub

from app.rooms.redis_broker import RedisBroker, detection_bound
from app.settings import Settings
from tests.harness import RoomClient, SeededSet, Server
from tests.integration.test_live_meeting import _client, _server_state
from tests.integration.test_redis import RedisServer, _converged, _ready, _until_ready

pytestmark = [pytest.mark.redis, pytest.mark.faults]

PING_INTERVAL = 1.0
PING_TIMEOUT = 1.5
COMMAND_TIMEOUT = 1.0
NOTICED_WITHIN = detection_bound(PING_INTERVAL, PING_TIMEOUT)
"""The workers' promise under these settings; the test allows a little more for a busy machine
(a poll of /readyz, a late timer)."""
SLACK = 3.0
RECOVERED_WITHIN = 10.0
"""Backoff (capped at 2 s) plus a reconnect and a resubscription, on a busy machine."""
HEARTBEAT = 0.3
LAPSE = 2.0
SWEEP_EVERY = 0.5
SWEPT_WITHIN = LAPSE + SWEEP_EVERY


class BlackHoleProxy:
    """A TCP proxy to Redis, on its own thread, that can go silent like a partitioned network.

    `black_hole()`: every open connection stops carrying bytes either way but stays open, and
    new connections are accepted and carry nothing. `heal()`: new connections pass again; the
    silenced ones stay silent (their peers must notice and let go of them)."""

    def __init__(self, target_port: int) -> None:
        self._target = target_port
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._holed = False
        self._silenced: set[int] = set()
        self._open: dict[int, asyncio.Task[None]] = {}
        self._writers: list[asyncio.StreamWriter] = []
        self.port = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> BlackHoleProxy:
        self._thread.start()
        self._call(self._listen())
        return self

    def black_hole(self) -> None:
        def silence() -> None:
            self._holed = True
            self._silenced |= set(self._open)

        self._loop.call_soon_threadsafe(silence)

    def heal(self) -> None:
        self._loop.call_soon_threadsafe(setattr, self, "_holed", False)

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self._call(self._close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()

    def _call(self, job: object) -> None:
        asyncio.run_coroutine_threadsafe(job, self._loop).result(timeout=5)  # type: ignore[arg-type]

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _close(self) -> None:
        assert self._server is not None
        self._server.close()
        for task in self._open.values():
            task.cancel()
        await asyncio.gather(*self._open.values(), return_exceptions=True)
        for writer in self._writers:
            writer.close()

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        ident = len(self._open) + 1
        if self._holed:
            self._silenced.add(ident)
        self._writers.append(writer)
        self._open[ident] = asyncio.create_task(self._carry(ident, reader, writer))

    async def _carry(
        self, ident: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        with contextlib.suppress(OSError):
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self._target)
            self._writers.append(up_writer)

            async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
                while data := await source.read(65536):
                    if ident in self._silenced:
                        await asyncio.Event().wait()  # swallow this and all that follows
                    sink.write(data)
                    await sink.drain()
                sink.close()

            await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (make system-deps installs it)")
    server = RedisServer(tmp_path).start()
    yield server
    server.stop()


@pytest.fixture
def proxy(redis_server: RedisServer) -> Iterator[BlackHoleProxy]:
    running = BlackHoleProxy(redis_server.port).start()
    yield running
    running.stop()


@pytest.fixture
def proxies(redis_server: RedisServer) -> Iterator[tuple[BlackHoleProxy, BlackHoleProxy]]:
    """One proxy per worker, so that one worker alone can be cut off."""
    first = BlackHoleProxy(redis_server.port).start()
    second = BlackHoleProxy(redis_server.port).start()
    yield first, second
    second.stop()
    first.stop()


@pytest.fixture
def workers(
    db_url: str, seeded: SeededSet, proxies: tuple[BlackHoleProxy, BlackHoleProxy], tmp_path: Path
) -> Iterator[tuple[Server, Server]]:
    env = {
        "SETROOM_BROKER_PING_INTERVAL": str(PING_INTERVAL),
        "SETROOM_BROKER_PING_TIMEOUT": str(PING_TIMEOUT),
        "SETROOM_BROKER_COMMAND_TIMEOUT": str(COMMAND_TIMEOUT),
        "SETROOM_BROKER_HEARTBEAT_INTERVAL": str(HEARTBEAT),
        "SETROOM_BROKER_HEARTBEAT_LAPSE": str(LAPSE),
        "SETROOM_PRESENCE_SWEEP_SECONDS": str(SWEEP_EVERY),
    }
    a, b = (
        Server(
            db_url,
            env={**env, "SETROOM_BROKER_URL": proxy.url},
            log_path=tmp_path / f"worker-{n}.log",
        )
        for n, proxy in zip("ab", proxies, strict=True)
    )
    try:
        with ThreadPoolExecutor(2) as pool:  # start both at once: they take turns to migrate
            for started in [pool.submit(a.start), pool.submit(b.start)]:
                started.result()
        yield a, b
    finally:
        b.stop()
        a.stop()


def test_the_default_times_notice_a_silent_redis_within_30_s() -> None:
    defaults = Settings()
    assert detection_bound(defaults.broker_ping_interval, defaults.broker_ping_timeout) <= 30


@pytest.mark.parametrize("fault", ["redis_restarted", "link_black_holed"])
def test_while_redis_is_away_rooms_carry_on_and_nothing_is_lost_when_it_is_back(
    fault: str,
    workers: tuple[Server, Server],
    seeded: SeededSet,
    db_url: str,
    redis_server: RedisServer,
    proxies: tuple[BlackHoleProxy, BlackHoleProxy],
) -> None:
    a, b = workers
    m1, m2, m3 = seeded.members[:3]

    async def scenario() -> None:
        fac = await _client(a, seeded, seeded.facilitator).connect()
        on_a = await _client(a, seeded, m1).connect()
        on_b = [await _client(b, seeded, pid).connect() for pid in (m2, m3)]
        everyone = [fac, on_a, *on_b]
        await fac.command("start_meeting")
        await _converged(db_url, seeded, everyone)

        if fault == "redis_restarted":
            redis_server.stop()
        else:
            for proxy in proxies:
                proxy.black_hole()
        for worker in workers:
            await _until_ready(worker, False, within=NOTICED_WITHIN + SLACK)
            body = await _reason(worker)
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

        if fault == "redis_restarted":
            redis_server.start()  # the same port
        else:
            for proxy in proxies:
                proxy.heal()
        for worker in workers:
            await _until_ready(worker, True, within=RECOVERED_WITHIN)
        await _converged(db_url, seeded, everyone)
        truth = _server_state(db_url, seeded.meeting_id)
        assert truth.hands == (m2, m1) and truth.timer.running
        assert len(truth.connections) == len(everyone)

        await _both_ways(fac, on_b)
        await _converged(db_url, seeded, everyone)
        for client in everyone:
            await client.close()

    asyncio.run(scenario())


def test_killed_pubsub_connections_are_replaced_and_nothing_is_lost(
    workers: tuple[Server, Server], seeded: SeededSet, db_url: str, redis_server: RedisServer
) -> None:
    """CLIENT KILL TYPE pubsub closes both workers' subscriber connections (Redis says so with
    a FIN, so they notice at once). Each worker connects again and resubscribes, and what was
    written meanwhile (a burst from A sent the moment the connections die, some of it before B
    is back) reaches B's clients through the catch-up from the log."""
    a, b = workers
    m1, m2, m3 = seeded.members[:3]
    direct = redis.Redis.from_url(redis_server.url)

    async def scenario() -> None:
        fac = await _client(a, seeded, seeded.facilitator).connect()
        on_a = await _client(a, seeded, m1).connect()
        on_b = [await _client(b, seeded, pid).connect() for pid in (m2, m3)]
        everyone = [fac, on_a, *on_b]
        await fac.command("start_meeting")
        await _converged(db_url, seeded, everyone)
        before = _subscribers(direct)
        assert len(before) == 2, "one subscriber per worker"

        assert direct.client_kill_filter(_type="pubsub") == 2
        await fac.command("timer_start", seconds=600)
        await on_a.command("raise_hand")
        await fac.command("timer_pause")

        started = time.monotonic()
        while len(after := _subscribers(direct)) < 2 or after & before:
            assert time.monotonic() - started < RECOVERED_WITHIN, f"subscribers: {after}"
            await asyncio.sleep(0.05)
        for worker in workers:
            await _until_ready(worker, True, within=RECOVERED_WITHIN)
        await _converged(db_url, seeded, everyone)
        truth = _server_state(db_url, seeded.meeting_id)
        assert truth.hands == (m1,) and not truth.timer.running

        await _both_ways(fac, on_b)
        await _converged(db_url, seeded, everyone)
        for client in everyone:
            await client.close()

    try:
        asyncio.run(scenario())
    finally:
        direct.close()


def test_a_crashed_workers_people_go_offline_for_everyone_else(
    workers: tuple[Server, Server], seeded: SeededSet, db_url: str
) -> None:
    """kill -9 leaves no Leave in the log; the crashed worker's heartbeat lapses and the other
    records its connections as gone, so the room no longer shows them online."""
    a, b = workers
    m1, m2, m3 = seeded.members[:3]

    async def scenario() -> None:
        fac = await _client(b, seeded, seeded.facilitator).connect()
        on_b = await _client(b, seeded, m1).connect()
        on_a = [await _client(a, seeded, pid).connect() for pid in (m2, m3)]
        await fac.command("start_meeting")
        await _converged(db_url, seeded, [fac, on_b, *on_a])
        assert _online(fac) == {seeded.facilitator, m1, m2, m3}

        a.stop(kill=True)
        await fac.wait_for(lambda s: _online(fac) == {seeded.facilitator, m1}, SWEPT_WITHIN + SLACK)
        await _converged(db_url, seeded, [fac, on_b])
        truth = _server_state(db_url, seeded.meeting_id)
        assert set(truth.connections.values()) == {seeded.facilitator, m1}
        for client in (fac, on_b):
            await client.close()

    asyncio.run(scenario())


def test_a_worker_cut_off_from_redis_counts_its_people_again_when_back(
    workers: tuple[Server, Server],
    seeded: SeededSet,
    db_url: str,
    proxies: tuple[BlackHoleProxy, BlackHoleProxy],
) -> None:
    """A worker silent in Redis longer than the lapse is taken for dead and its people are
    recorded as gone; it was only cut off, so once back it records its sockets again."""
    a, b = workers
    m1, m2, m3 = seeded.members[:3]

    async def scenario() -> None:
        fac = await _client(b, seeded, seeded.facilitator).connect()
        on_b = await _client(b, seeded, m1).connect()
        on_a = [await _client(a, seeded, pid).connect() for pid in (m2, m3)]
        everyone = [fac, on_b, *on_a]
        await fac.command("start_meeting")
        await _converged(db_url, seeded, everyone)

        proxies[0].black_hole()  # A's link only
        await fac.wait_for(lambda s: _online(fac) == {seeded.facilitator, m1}, SWEPT_WITHIN + SLACK)
        proxies[0].heal()
        await _until_ready(a, True, within=RECOVERED_WITHIN)
        await fac.wait_for(
            lambda s: _online(fac) == {seeded.facilitator, m1, m2, m3}, RECOVERED_WITHIN
        )
        await _converged(db_url, seeded, everyone)
        truth = _server_state(db_url, seeded.meeting_id)
        assert len(truth.connections) == len(everyone)
        for client in everyone:
            await client.close()

    asyncio.run(scenario())


def _online(client: RoomClient) -> set[str]:
    assert client.state is not None
    return set(client.state.connections.values())


def _subscribers(direct: redis.Redis) -> set[int]:
    """Ids of the connections subscribed to the meetings' channels."""
    return {
        int(client["id"])
        for client in direct.client_list(_type="pubsub")
        if int(client.get("sub", 0)) > 0
    }


async def _reason(worker: Server) -> dict[str, Any]:
    """/readyz once it names what happened to Redis (a link that has just gone silent may
    first read "silent since ...", then "unreachable since ..." once the worker lets it go)."""
    started = time.monotonic()
    while True:
        response = await asyncio.to_thread(_ready, worker)
        body: dict[str, Any] = response.json()
        checks = body["checks"]
        assert response.status_code == 503
        if str(checks["broker"]).startswith("unreachable since "):
            return body
        assert time.monotonic() - started < NOTICED_WITHIN + SLACK, body
        await asyncio.sleep(0.05)


async def _both_ways(fac: RoomClient, on_b: list[RoomClient]) -> None:
    """The broker carries new events again, from A to B and from B to A."""
    assert fac.state is not None
    called = fac.state.hands[0]
    await fac.command("call_next")
    await on_b[0].wait_for(lambda s: s.speaker == called, timeout=5)
    await on_b[1].command("raise_hand")
    raised = on_b[1].you["id"]
    await fac.wait_for(lambda s: raised in s.hands, timeout=5)


def test_publishing_never_waits_for_redis_and_what_failed_is_sent_when_it_is_back(
    redis_server: RedisServer, proxy: BlackHoleProxy
) -> None:
    """A command publishes after its commit and its local delivery: a silent Redis must not
    hold it (or its room) up. `publish` returns without ever suspending, even into a black
    hole, and the announcement reaches the other workers once the link is back."""

    async def scenario() -> None:
        async def ignore(*_: object) -> None:
            return None

        broker = RedisBroker(
            proxy.url, ping_interval=PING_INTERVAL, ping_timeout=PING_TIMEOUT, command_timeout=0.5
        )
        listener = aioredis.Redis.from_url(redis_server.url).pubsub()
        try:
            await broker.start(ignore, ignore)
            await listener.subscribe("setroom:meeting:m1")
            await broker.publish("m1", 4)
            assert await _next_message(listener) == b"4"

            proxy.black_hole()
            for seq in (5, 6):
                publishing = broker.publish("m1", seq)
                with pytest.raises(StopIteration):
                    publishing.send(None)  # it finished without waiting for anything
            proxy.heal()
            assert await _next_message(listener, within=RECOVERED_WITHIN) == b"6"
        finally:
            await broker.stop()
            await listener.aclose()  # type: ignore[no-untyped-call]

    asyncio.run(scenario())


async def _next_message(listener: PubSub, within: float = 5) -> bytes:
    started = time.monotonic()
    while time.monotonic() - started < within:
        message = await listener.get_message(ignore_subscribe_messages=True, timeout=0.1)
        if message is not None:
            data: bytes = message["data"]
            return data
    raise AssertionError("no message")
