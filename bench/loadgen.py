"""The load generator: one process, pinned to its own core by its parent, that holds every
client of a ladder and reports each step as a line of JSON on stdout.

    python -m bench.loadgen CONFIG.json

Each room is ten WebSocket clients (a facilitator and nine members). The facilitators send
`timer_start` once a second on an open-loop schedule: every send has an intended time, the rooms
are spread evenly across the second, and nobody waits for a reply before the next send. Each
send's `seconds` is unique within its room, so every client can tell which send an event answers;
its latency runs from the intended send time to the moment the last of the room's ten clients has
the event. A client that has not got it `timeout` seconds after the intended time has lost it.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import os
import resource
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvloop
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

TAG_BASE = 600
"""Timers run for TAG_BASE + n seconds, n counting each room's sends: never out mid-run."""
MARK = '"timer_changed"'


def emit(kind: str, **fields: Any) -> None:
    print(json.dumps({"kind": kind, **fields}), flush=True)


def log(message: str) -> None:
    emit("log", message=message)


def raise_nofile() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_queue_seconds(pid: int) -> float:
    """Time the process's main thread spent runnable but waiting for a CPU (others had it)."""
    return int(Path(f"/proc/{pid}/schedstat").read_text().split()[1]) / 1e9


@dataclass
class Stats:
    """What one step saw."""

    measure_from: float = 0.0
    latencies: list[float] = field(default_factory=list)
    intended: list[float] = field(default_factory=list)
    deliveries: int = 0
    completed: int = 0


@dataclass(eq=False)
class Room:
    index: int
    key: str
    """The meeting id (Setroom) or room name (raw server)."""
    tokens: list[str]
    cookies: list[str] = field(default_factory=list)
    clients: list[Client] = field(default_factory=list)
    sent: int = 0
    started: bool = False
    pending: dict[int, list[float]] = field(default_factory=dict)
    """tag -> [intended send time, clients still to receive it]"""

    @property
    def size(self) -> int:
        return len(self.tokens)


@dataclass(eq=False)
class Client:
    room: Room
    number: int
    ws: ClientConnection
    gen: LoadGen
    acks: int = 0
    task: asyncio.Task[None] | None = None
    closing: bool = False

    async def read(self) -> None:
        room, gen = self.room, self.gen
        perf = time.perf_counter
        try:
            async for raw in self.ws:
                assert isinstance(raw, str)
                if MARK in raw:
                    tag = json.loads(raw)["event"]["timer"]["duration_ms"] // 1000 - TAG_BASE
                    entry = room.pending.get(tag)
                    if entry is None:
                        continue
                    stats = gen.stats
                    measured = entry[0] >= stats.measure_from
                    if measured:
                        stats.deliveries += 1
                    entry[1] -= 1
                    if entry[1] == 0:
                        del room.pending[tag]
                        if measured:
                            stats.latencies.append(perf() - entry[0])
                            stats.intended.append(entry[0])
                            stats.completed += 1
                elif raw.startswith('{"op": "ack"'):
                    self.acks += 1
                elif raw.startswith('{"op": "error"'):
                    gen.errors += 1
                    gen.first_error = gen.first_error or raw[:300]
        except ConnectionClosed:
            pass
        finally:
            gen.held -= 1
            if not self.closing:
                gen.dropped += 1


class LoadGen:
    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.target: str = config["target"]
        self.ws_bases: list[str] = config["ws_bases"]
        self.http_bases: list[str] = config.get("http_bases", [])
        self.pids: list[int] = config["server_pids"]
        self.deadline: float = config["deadline"]
        self.warmup: float = config["warmup"]
        self.duration: float = config["duration"]
        self.timeout: float = config["timeout"]
        self.p99_limit_ms: float = config["p99_limit_ms"]
        self.concurrency: int = config.get("connect_concurrency", 100)
        self.cookie_cache = Path(config["cookie_cache"]) if config.get("cookie_cache") else None
        seeded = json.loads(Path(config["rooms_file"]).read_text())
        self.rooms = [
            Room(index=i, key=r["meeting_id"], tokens=r["tokens"]) for i, r in enumerate(seeded)
        ]
        self.stats = Stats()
        self.held = 0
        self.dropped = 0
        self.errors = 0
        self.first_error = ""
        self.cookies: dict[str, str] = {}
        if self.cookie_cache is not None and self.cookie_cache.exists():
            self.cookies = json.loads(self.cookie_cache.read_text())

    # Set-up, outside the timed part

    async def fetch_cookies(self, rooms: list[Room]) -> float:
        """Open each join link once, as a browser would, and keep the session cookie."""
        wanted = [t for room in rooms for t in room.tokens if t not in self.cookies]
        started = time.perf_counter()
        if wanted:
            limit = asyncio.Semaphore(16)
            clients = [
                httpx.AsyncClient(
                    base_url=base, trust_env=False, limits=httpx.Limits(max_connections=16)
                )
                for base in self.http_bases
            ]

            async def one(n: int, token: str) -> None:
                async with limit:
                    response = await clients[n % len(clients)].get(f"/j/{token}")
                if response.status_code != 303:
                    raise RuntimeError(f"join link refused: {response.status_code}")
                self.cookies[token] = response.cookies["setroom_session"]

            try:
                await asyncio.gather(*(one(n, t) for n, t in enumerate(wanted)))
            finally:
                for client in clients:
                    await client.aclose()
            if self.cookie_cache is not None:
                self.cookie_cache.write_text(json.dumps(self.cookies))
        for room in rooms:
            room.cookies = [self.cookies[t] for t in room.tokens]
        return time.perf_counter() - started

    def url(self, room: Room, number: int) -> tuple[str, dict[str, str]]:
        # Clients of one room are spread over the servers (two workers on the Redis path).
        base = self.ws_bases[(room.index + number) % len(self.ws_bases)]
        if self.target == "raw":
            role = "facilitator" if number == 0 else "member"
            return f"{base}/rooms/{room.key}/ws?p=p{number}&role={role}", {}
        cookie = {"Cookie": f"setroom_session={room.cookies[number]}"}
        return f"{base}/meetings/{room.key}/ws?mode=json", cookie

    async def open_client(self, room: Room, number: int, limit: asyncio.Semaphore) -> Client:
        url, headers = self.url(room, number)
        async with limit:
            ws = await connect(
                url,
                additional_headers=headers,
                compression=None,
                proxy=None,
                ping_interval=None,  # the server pings; the client answers by itself
                open_timeout=60,
                max_size=None,
            )
            welcome = await asyncio.wait_for(ws.recv(), 60)
        assert isinstance(welcome, str)
        if number == 0:
            state = json.loads(welcome).get("state", {})
            room.started = state.get("status") != "not_started"
        client = Client(room=room, number=number, ws=ws, gen=self)
        client.task = asyncio.create_task(client.read())
        self.held += 1
        return client

    async def connect_rooms(self, rooms: list[Room]) -> float:
        """Connect every client of `rooms` and start their meetings; returns the seconds the
        WebSocket connections took (handshake to welcome, all clients)."""
        limit = asyncio.Semaphore(self.concurrency)

        async def one_room(room: Room) -> None:
            # A room's people arrive one after another, rooms side by side: ten joins of one
            # room at the same instant on two workers would only race for the same sequence.
            for n in range(room.size):
                room.clients.append(await self.open_client(room, n, limit))

        started = time.perf_counter()
        await asyncio.gather(*(one_room(room) for room in rooms))
        took = time.perf_counter() - started
        starting = [room for room in rooms if not room.started]
        for room in starting:
            await room.clients[0].ws.send(
                json.dumps({"op": "command", "id": "start", "command": {"type": "start_meeting"}})
            )
        await self.until(lambda: all(r.clients[0].acks >= 1 for r in starting), 60, "start")
        for room in starting:
            room.started = True
        return took

    @staticmethod
    async def until(check: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.perf_counter() + timeout
        while not check():
            if time.perf_counter() > deadline:
                raise TimeoutError(f"{what}: not done after {timeout:.0f} s")
            await asyncio.sleep(0.05)

    # The timed part

    async def drive(self, rooms: list[Room], t0: float, until: float) -> None:
        """Send on schedule: room r's n-th send is due at t0 + n + r/R."""
        count = len(rooms)
        perf = time.perf_counter
        second, r = 0, 0
        while True:
            due = t0 + second + r / count
            if due >= until:
                return
            delay = due - perf()
            if delay > 0:
                await asyncio.sleep(delay)
            room = rooms[r]
            room.sent += 1
            tag = room.sent
            room.pending[tag] = [due, len(room.clients)]
            command = {"type": "timer_start", "seconds": TAG_BASE + tag}
            with contextlib.suppress(ConnectionClosed):
                await room.clients[0].ws.send(
                    json.dumps({"op": "command", "id": tag, "command": command})
                )
            r += 1
            if r == count:
                r, second = 0, second + 1

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return asyncio.get_running_loop()

    async def step(self, count: int) -> dict[str, Any]:
        rooms = self.rooms[:count]
        fresh = [room for room in rooms if not room.clients]
        cookie_s = 0.0
        if self.target != "raw":
            cookie_s = await self.fetch_cookies(fresh)
        if not hasattr(self, "rss_base"):
            self.rss_base = sum(rss_kib(pid) for pid in self.pids)
        self.stats = Stats(measure_from=float("inf"))
        dropped, errors = self.dropped, self.errors
        connect_s = await self.connect_rooms(fresh)
        gc.collect()
        gc.freeze()
        await asyncio.sleep(1)  # let the joins' own events settle
        rss = sum(rss_kib(pid) for pid in self.pids)
        connections = sum(len(room.clients) for room in rooms)

        self.stats = stats = Stats()
        t0 = time.perf_counter() + 0.1
        stats.measure_from = t0 + self.warmup
        until = stats.measure_from + self.duration
        cpu_before = [cpu_seconds(pid) for pid in self.pids]
        waited_before = [run_queue_seconds(pid) for pid in self.pids]
        own_waited_before = run_queue_seconds(os.getpid())
        own_before = time.process_time()
        self.loop.call_at(
            self.loop.time() + (stats.measure_from - time.perf_counter()),
            lambda: emit("window", rooms=count, seconds=self.duration),
        )
        await self.drive(rooms, t0, until)
        await asyncio.sleep(max(0.0, until - time.perf_counter()))
        server_cpu = sum(cpu_seconds(p) - b for p, b in zip(self.pids, cpu_before, strict=True))
        own_cpu = time.process_time() - own_before
        waited = sum(
            run_queue_seconds(p) - b for p, b in zip(self.pids, waited_before, strict=True)
        )
        own_waited = run_queue_seconds(os.getpid()) - own_waited_before
        window = time.perf_counter() - stats.measure_from
        # Wait for what is still on its way, up to the timeout; the rest is lost.
        with contextlib.suppress(TimeoutError):
            await self.until(lambda: not any(r.pending for r in rooms), self.timeout, "drain")
        lost = sum(entry[1] for room in rooms for entry in room.pending.values())
        for room in rooms:
            room.pending.clear()

        latencies = sorted(stats.latencies)
        # Whether the slow ones come together (a stall) or spread out (a queue that grows).
        slow = [
            int(at - stats.measure_from)
            for at, took in zip(stats.intended, stats.latencies, strict=True)
            if took * 1000 > self.p99_limit_ms
        ]

        def pct(p: float) -> float:
            if not latencies:
                return float("nan")
            return round(1000 * latencies[min(len(latencies) - 1, int(p * len(latencies)))], 2)

        result = {
            "rooms": count,
            "connections": connections,
            "held": self.held,
            "cookie_s": round(cookie_s, 2),
            "connect_s": round(connect_s, 2),
            "new_clients": sum(r.size for r in fresh),
            "events_per_s": round(stats.completed / window, 1),
            "deliveries_per_s": round(stats.deliveries / window, 1),
            "p50_ms": pct(0.50),
            "p95_ms": pct(0.95),
            "p99_ms": pct(0.99),
            "max_ms": round(1000 * latencies[-1], 2) if latencies else float("nan"),
            "slow": len(slow),
            "slow_seconds": sorted(set(slow)),
            "lost": lost,
            "errors": self.errors - errors,
            "first_error": self.first_error,
            "dropped": self.dropped - dropped,
            "rss_base_kib": self.rss_base,
            "rss_kib": rss,
            "kib_per_conn": round((rss - self.rss_base) / max(1, connections), 1),
            "server_cpu_pct": round(100 * server_cpu / window, 1),
            "loadgen_cpu_pct": round(100 * own_cpu / window, 1),
            "server_wait_pct": round(100 * waited / window, 1),
            # Server CPU per event, its ten deliveries included: what a busy machine changes least.
            "cpu_ms_per_event": round(1000 * server_cpu / max(1, stats.completed), 2),
            "loadgen_wait_pct": round(100 * own_waited / window, 1),
        }
        failed = []
        if not latencies or result["p99_ms"] > self.p99_limit_ms:
            failed.append(f"p99 {result['p99_ms']} ms > {self.p99_limit_ms:.0f} ms")
        if lost:
            failed.append(f"{lost} lost")
        if result["dropped"]:
            failed.append(f"{result['dropped']} dropped")
        if result["errors"]:
            failed.append(f"{result['errors']} refused")
        result["held_ok"] = not failed
        result["failed"] = "; ".join(failed)
        return result

    async def run(self, ladder: list[int], *, stop_on_fail: bool = True) -> None:
        step_s = 1.5 + self.warmup + self.duration + 2.0
        # Seconds to set up one new client (its cookie and connection), learnt as we go.
        per_client = 0.001 if self.target == "raw" else 0.015
        previous = 0
        for count in ladder:
            if count > len(self.rooms):
                emit("stop", reason=f"only {len(self.rooms)} rooms seeded")
                return
            new_clients = sum(room.size for room in self.rooms[previous:count])
            if time.time() + step_s + per_client * new_clients > self.deadline:
                emit("stop", reason=f"time budget (next: {count} rooms)")
                return
            try:
                result = await self.step(count)
            except (OSError, TimeoutError, RuntimeError, ConnectionClosed) as error:
                emit("stop", reason=f"{count} rooms: could not connect ({error!r:.200})")
                return
            per_client = (result["cookie_s"] + result["connect_s"]) / max(1, new_clients)
            previous = count
            emit("step", **result)
            if stop_on_fail and not result["held_ok"]:
                emit("stop", reason=f"{count} rooms: {result['failed']}")
                return
        emit("stop", reason="ladder done")


async def main(config_path: str) -> None:
    config = json.loads(Path(config_path).read_text())
    raise_nofile()
    gen = LoadGen(config)
    try:
        await gen.run(config["ladder"], stop_on_fail=config.get("stop_on_fail", True))
    except Exception as error:  # reported, so the parent can say why the ladder ended
        emit("stop", reason=f"load generator failed: {error!r:.300}")
    # No goodbyes: the parent kills the servers now, and 20,000 closing handshakes would only
    # make them busy recording departures.
    for room in gen.rooms:
        for client in room.clients:
            client.closing = True
    emit("done")
    os._exit(0)


if __name__ == "__main__":
    uvloop.run(main(sys.argv[1]))
