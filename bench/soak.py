"""`python -m bench.soak` (`make soak`): a long run of ordinary meetings against two workers and a
real redis-server, with people dropping and coming back all the time. Not part of the test suite.

    python -m bench.soak --minutes 10 --rooms 30 --clients 12 --churn 0.1

Each room is a facilitator and members (`--clients` in all). The facilitators send `timer_start`
once a second each, the rooms spread evenly over the second, without waiting for replies; every
send's `seconds` is unique within its room, so each client can tell which send an event answers.
A tenth of the members (`--churn`) leave and come back in a loop: connected for 2-8 s, then gone
(a clean close or a cut connection, half each) for 0.1-1 s, then back through either worker with
`since=` their last sequence. Everyone's clients are spread over the two workers.

What it checks, and prints at the end (the exit status is 1 when a check fails):
- latency, command to event: from a send's intended time to each client's receipt of its event,
  for clients that were connected when it was sent (events replayed on a resume are not live
  deliveries); p95 must be under 250 ms;
- sequences: each client tracks the room's sequence; an event whose `seq` is not the last one
  plus one, on a connection that began with a `welcome` (snapshot) or a `resume` from the client's
  last sequence, is a gap (or a duplicate) without a resync; there must be none;
- afterwards, with everyone gone: each worker's open connections and live rooms back to 0, Redis'
  channels and subscriber connections back to what they were before the soak, and the workers'
  memory (RSS) back near its baseline: within 10 % (or 16 MiB) of what it was after a warm-up
  round of the same load (CPython rarely returns freed memory to the system, so the baseline is
  taken once the first wave of allocations is done).

The workers and Redis run on core 1 and this load generator on core 0, as in `python -m bench`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import resource
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import redis
import uvloop
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from bench.__main__ import LOADGEN_CORE, Priority, Proc, start_redis, start_setroom
from bench.loadgen import rss_kib
from bench.seed import seed_rooms

TAG_BASE = 600
"""Timers run for TAG_BASE + n seconds: never out during the run."""
P95_LIMIT_MS = 250.0
RSS_SLACK = 0.10
RSS_SLACK_KIB = 16 * 1024


def log(message: str) -> None:
    print(f"  [{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@dataclass
class Totals:
    latencies: list[float] = field(default_factory=list)
    gaps: int = 0
    duplicates: int = 0
    first_gap: str = ""
    welcomes: int = 0
    resumes: int = 0
    reconnects: int = 0
    refused: dict[str, int] = field(default_factory=dict)
    """Connection attempts refused or closed at once, by reason (retried)."""
    unplanned_drops: int = 0
    errors: int = 0
    first_error: str = ""


@dataclass(eq=False)
class SoakRoom:
    index: int
    meeting_id: str
    cookies: list[str]
    clients: list[SoakClient] = field(default_factory=list)
    sent: dict[int, float] = field(default_factory=dict)
    """tag -> the send's intended time (perf_counter)"""
    count: int = 0


@dataclass(eq=False)
class SoakClient:
    room: SoakRoom
    number: int
    cookie: str
    churns: bool
    soak: Soak
    seq: int = 0
    ws: ClientConnection | None = None
    connected_at: float = float("inf")
    reader: asyncio.Task[None] | None = None
    leaving: bool = False

    @property
    def totals(self) -> Totals:
        return self.soak.totals

    async def connect(self) -> None:
        """Connect (through a random worker when coming back), retrying refusals."""
        for attempt in range(50):
            base = random.choice(self.soak.ws_bases)
            if self.number == 0 or not self.seq:
                base = self.soak.ws_bases[(self.room.index + self.number) % len(self.soak.ws_bases)]
            url = f"{base}/meetings/{self.room.meeting_id}/ws?mode=json"
            if self.seq:
                url += f"&since={self.seq}"
            try:
                ws = await connect(
                    url,
                    additional_headers={"Cookie": f"setroom_session={self.cookie}"},
                    compression=None,
                    proxy=None,
                    open_timeout=30,
                )
                first = json.loads(await asyncio.wait_for(ws.recv(), 30))
            except (InvalidStatus, ConnectionClosed, OSError, TimeoutError) as error:
                reason = type(error).__name__
                if isinstance(error, ConnectionClosed) and error.rcvd is not None:
                    reason = f"closed {error.rcvd.code}"
                self.totals.refused[reason] = self.totals.refused.get(reason, 0) + 1
                await asyncio.sleep(min(2.0, 0.1 * 2**attempt) * random.uniform(0.5, 1.0))
                continue
            self.ws = ws
            self.connected_at = time.perf_counter()
            self._start(first)
            self.reader = asyncio.create_task(self.read(ws))
            return
        raise RuntimeError(f"room {self.room.index} client {self.number}: could not connect")

    def _start(self, first: dict[str, Any]) -> None:
        if first["op"] == "welcome":
            self.totals.welcomes += 1
            self.seq = int(first["seq"])
        elif first["op"] == "resume":
            self.totals.resumes += 1
            if int(first["from"]) != self.seq:
                self._gap(f"resume from {first['from']} after {self.seq}")
        else:
            raise RuntimeError(f"unexpected first message {first['op']}")

    def _gap(self, what: str) -> None:
        self.totals.gaps += 1
        self.totals.first_gap = self.totals.first_gap or (
            f"room {self.room.index} client {self.number}: {what}"
        )

    async def read(self, ws: ClientConnection) -> None:
        room, totals = self.room, self.totals
        try:
            async for raw in ws:
                message = json.loads(raw)
                op = message["op"]
                if op == "event":
                    seq = int(message["seq"])
                    if seq <= self.seq:
                        totals.duplicates += 1
                    elif seq != self.seq + 1:
                        self._gap(f"event {seq} after {self.seq}")
                    self.seq = max(self.seq, seq)
                    event = message["event"]
                    if event["type"] == "timer_changed" and event.get("action") == "started":
                        tag = event["timer"]["duration_ms"] // 1000 - TAG_BASE
                        sent = room.sent.get(tag)
                        if sent is not None and sent >= self.connected_at:
                            totals.latencies.append(time.perf_counter() - sent)
                elif op == "error":
                    totals.errors += 1
                    totals.first_error = totals.first_error or raw[:300]
        except ConnectionClosed:
            pass
        finally:
            self.connected_at = float("inf")
            if not self.leaving:
                totals.unplanned_drops += 1

    async def leave(self, *, cut: bool = False) -> None:
        self.leaving = True
        ws, self.ws = self.ws, None
        if ws is not None:
            if cut:
                ws.transport.abort()  # a dropped network: no close handshake
            else:
                await ws.close()
        if self.reader is not None:
            with contextlib.suppress(ConnectionClosed, asyncio.CancelledError):
                await self.reader
        self.leaving = False

    async def churn(self, until: float) -> None:
        """Leave and come back until `until`."""
        while time.perf_counter() < until:
            await asyncio.sleep(random.uniform(2, 8))
            if time.perf_counter() >= until:
                return
            await self.leave(cut=random.random() < 0.5)
            await asyncio.sleep(random.uniform(0.1, 1.0))
            self.totals.reconnects += 1
            await self.connect()

    async def watch(self, until: float) -> None:
        """A client that does not churn but was dropped comes back too."""
        while time.perf_counter() < until:
            if self.reader is not None and self.reader.done() and not self.leaving:
                self.totals.reconnects += 1
                await self.connect()
            await asyncio.sleep(0.5)


class Soak:
    def __init__(self, args: argparse.Namespace, rooms: list[SoakRoom], ports: list[int]) -> None:
        self.args = args
        self.rooms = rooms
        self.ws_bases = [f"ws://127.0.0.1:{p}" for p in ports]
        self.totals = Totals()

    async def connect_all(self) -> None:
        limit = asyncio.Semaphore(50)

        async def one_room(room: SoakRoom) -> None:
            for client in room.clients:  # one after another: see bench/loadgen.py
                async with limit:
                    await client.connect()

        await asyncio.gather(*(one_room(room) for room in self.rooms))

    async def leave_all(self) -> None:
        await asyncio.gather(*(c.leave() for room in self.rooms for c in room.clients))

    async def start_meetings(self) -> None:
        for room in self.rooms:
            fac = room.clients[0]
            assert fac.ws is not None
            await fac.ws.send(
                json.dumps({"op": "command", "id": "s", "command": {"type": "start_meeting"}})
            )
        await asyncio.sleep(2)  # refused with not_now when it had started: either is fine

    async def drive(self, t0: float, until: float) -> None:
        """Room r's n-th send is due at t0 + n + r/R, whoever is slow."""
        count = len(self.rooms)
        second, r = 0, 0
        while True:
            due = t0 + second + r / count
            if due >= until:
                return
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            room = self.rooms[r]
            room.count += 1
            room.sent[room.count] = due
            fac = room.clients[0]
            command = {"type": "timer_start", "seconds": TAG_BASE + room.count}
            if fac.ws is not None:
                with contextlib.suppress(ConnectionClosed):
                    await fac.ws.send(
                        json.dumps({"op": "command", "id": room.count, "command": command})
                    )
            r += 1
            if r == count:
                r, second = 0, second + 1

    async def phase(self, seconds: float, *, churn: bool) -> None:
        """Everyone connected; load (and churn) for `seconds`; then everyone leaves."""
        await self.connect_all()
        if not churn:  # the warm-up, first
            await self.start_meetings()
        t0 = time.perf_counter() + 0.1
        until = t0 + seconds
        tasks = [asyncio.create_task(self.drive(t0, until))]
        for room in self.rooms:
            for client in room.clients:
                if churn and client.churns:
                    tasks.append(asyncio.create_task(client.churn(until)))
                else:
                    tasks.append(asyncio.create_task(client.watch(until)))
        await asyncio.gather(*tasks)
        await asyncio.sleep(2)  # the last sends' events
        await self.leave_all()


def worker_gauges(http_bases: list[str]) -> dict[str, float]:
    """Open connections and live rooms, summed over the workers (from /metrics)."""
    totals = {"setroom_connections_open": 0.0, "setroom_rooms_live": 0.0}
    for base in http_bases:
        for line in httpx.get(f"{base}/metrics", timeout=10).text.splitlines():
            name, _, value = line.partition(" ")
            if name in totals:
                totals[name] += float(value)
    return totals


def redis_figures(client: redis.Redis) -> dict[str, int]:
    clients = client.client_list()
    return {
        "channels": len(client.pubsub_channels()),
        "patterns": int(client.pubsub_numpat()),
        "subscribed": sum(int(n) for _, n in client.pubsub_numsub(*client.pubsub_channels())),
        "pubsub_connections": sum(
            1 for c in clients if int(c.get("sub", 0)) + int(c.get("psub", 0))
        ),
        "connections": len(clients) - 1,  # less this one
    }


def settle(http_bases: list[str], timeout: float = 60) -> dict[str, float]:
    """Wait until the workers hold no connection and no room."""
    deadline = time.monotonic() + timeout
    while True:
        gauges = worker_gauges(http_bases)
        if not any(gauges.values()) or time.monotonic() > deadline:
            return gauges
        time.sleep(0.5)


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return round(1000 * ordered[min(len(ordered) - 1, int(p * len(ordered)))], 2)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__)
    parser.add_argument("--minutes", type=float, default=10.0, help="length of the soak")
    parser.add_argument("--warmup", type=float, default=30.0, help="seconds of the warm-up round")
    parser.add_argument("--rooms", type=int, default=30)
    parser.add_argument("--clients", type=int, default=12, help="per room, facilitator included")
    parser.add_argument("--churn", type=float, default=0.10, help="share of clients reconnecting")
    parser.add_argument("--seed", type=int, default=None, help="random seed (churn timing)")
    parser.add_argument(
        "--priority",
        type=int,
        default=Priority.boost,
        help="renice the servers and this process by minus this much (0: leave them be)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()
    Priority.boost = args.priority
    random.seed(args.seed)
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    with contextlib.suppress(OSError):
        os.sched_setaffinity(0, {LOADGEN_CORE})
    workdir = Path(tempfile.mkdtemp(prefix="setroom-soak-"))
    db_url = f"sqlite:///{workdir / 'soak.db'}"
    procs: list[Proc] = []
    began = time.time()
    load_before = os.getloadavg()
    try:
        seeded = seed_rooms(db_url, args.rooms, members=args.clients - 1)
        redis_proc, redis_port = start_redis(workdir)
        procs.append(redis_proc)
        broker_url = f"redis://127.0.0.1:{redis_port}/0"
        ports = []
        for name in ("worker-a", "worker-b"):
            proc, port = start_setroom(name, workdir, db_url, broker_url)
            procs.append(proc)
            ports.append(port)
        workers = procs[1:]
        if Priority.boost:  # the measuring side too (after the servers, who renice themselves)
            with contextlib.suppress(OSError):
                os.setpriority(os.PRIO_PROCESS, 0, -Priority.boost)
        http_bases = [f"http://127.0.0.1:{p}" for p in ports]
        cookies = fetch_cookies(http_bases, [r.tokens for r in seeded])
        rooms = [
            SoakRoom(index=i, meeting_id=r.meeting_id, cookies=cookies[i])
            for i, r in enumerate(seeded)
        ]
        members = [(room, n) for room in rooms for n in range(1, args.clients)]
        churners = set(random.sample(members, round(args.churn * args.rooms * args.clients)))
        result = uvloop.run(run(args, rooms, ports, churners, http_bases, workers, redis_port))
    finally:
        for proc in reversed(procs):
            proc.kill()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    result["took_s"] = round(time.time() - began)
    result["load_average_before"] = [round(x, 2) for x in load_before]
    ok = report(result)
    sys.exit(0 if ok else 1)


def fetch_cookies(http_bases: list[str], tokens: list[list[str]]) -> list[list[str]]:
    with httpx.Client(trust_env=False) as client:
        out = []
        for i, room in enumerate(tokens):
            row = []
            for n, token in enumerate(room):
                base = http_bases[(i + n) % len(http_bases)]
                response = client.get(f"{base}/j/{token}")
                if response.status_code != 303:
                    raise RuntimeError(f"join link refused: {response.status_code}")
                row.append(response.cookies["setroom_session"])
            out.append(row)
    return out


async def run(
    args: argparse.Namespace,
    rooms: list[SoakRoom],
    ports: list[int],
    churners: set[tuple[SoakRoom, int]],
    http_bases: list[str],
    workers: list[Proc],
    redis_port: int,
) -> dict[str, Any]:
    soak = Soak(args, rooms, ports)
    for room in rooms:
        room.clients = [
            SoakClient(room, n, room.cookies[n], (room, n) in churners, soak)
            for n in range(args.clients)
        ]
    store = redis.Redis(port=redis_port)
    rss = lambda: sum(rss_kib(w.pid) for w in workers)  # noqa: E731
    result: dict[str, Any] = {
        "rooms": args.rooms,
        "clients": args.rooms * args.clients,
        "churning": len(churners),
        "minutes": args.minutes,
        "rss_cold_kib": rss(),
        "redis_cold": redis_figures(store),
    }
    log(f"warm-up: {args.warmup:.0f} s of load, no churn")
    await soak.phase(args.warmup, churn=False)
    await asyncio.to_thread(settle, http_bases)
    await asyncio.sleep(5)
    result["rss_base_kib"] = rss()
    result["redis_base"] = redis_figures(store)
    warm = len(soak.totals.latencies)
    soak.totals = Totals()
    for room in rooms:
        for client in room.clients:
            client.soak = soak
    log(f"warm-up done ({warm} deliveries); soak: {args.minutes} min, {len(churners)} churning")

    samples: list[tuple[float, int, float]] = []

    async def sample() -> None:
        started = time.perf_counter()
        while True:
            await asyncio.sleep(30)
            samples.append((round(time.perf_counter() - started), rss(), os.getloadavg()[0]))
            log(
                f"t+{samples[-1][0]} s: rss {samples[-1][1] // 1024} MiB, load "
                f"{samples[-1][2]:.1f}, deliveries {len(soak.totals.latencies)}, p95 "
                f"{pct(soak.totals.latencies[-20000:], 0.95)} ms, gaps {soak.totals.gaps}, "
                f"reconnects {soak.totals.reconnects}"
            )

    sampler = asyncio.create_task(sample())
    try:
        await soak.phase(args.minutes * 60, churn=True)
    finally:
        sampler.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sampler
    load_during = [s[2] for s in samples]
    result["gauges_after"] = await asyncio.to_thread(settle, http_bases)
    await asyncio.sleep(5)
    result["rss_after_kib"] = rss()
    result["redis_after"] = redis_figures(store)
    result["rss_samples"] = samples
    result["rss_peak_kib"] = max([s[1] for s in samples], default=0)
    result["load_average_during"] = (
        [round(min(load_during), 1), round(max(load_during), 1)] if load_during else []
    )
    totals = soak.totals
    result.update(
        deliveries=len(totals.latencies),
        p50_ms=pct(totals.latencies, 0.50),
        p95_ms=pct(totals.latencies, 0.95),
        p99_ms=pct(totals.latencies, 0.99),
        max_ms=round(1000 * max(totals.latencies), 2) if totals.latencies else float("nan"),
        mean_ms=round(1000 * statistics.fmean(totals.latencies), 2) if totals.latencies else 0,
        gaps=totals.gaps,
        duplicates=totals.duplicates,
        first_gap=totals.first_gap,
        welcomes=totals.welcomes,
        resumes=totals.resumes,
        reconnects=totals.reconnects,
        refused=totals.refused,
        unplanned_drops=totals.unplanned_drops,
        errors=totals.errors,
        first_error=totals.first_error,
    )
    store.close()
    return result


def report(result: dict[str, Any]) -> bool:
    base, after = result["rss_base_kib"], result["rss_after_kib"]
    rss_ok = after <= max(base * (1 + RSS_SLACK), base + RSS_SLACK_KIB)
    redis_base, redis_after = result["redis_base"], result["redis_after"]
    redis_ok = all(
        redis_after[k] <= redis_base[k]
        for k in ("channels", "patterns", "subscribed", "pubsub_connections")
    )
    checks = {
        f"p95 {result['p95_ms']} ms < {P95_LIMIT_MS:.0f} ms": result["p95_ms"] < P95_LIMIT_MS,
        f"no gap or duplicate without a resync ({result['gaps']} gaps, "
        f"{result['duplicates']} duplicates)": result["gaps"] == 0 and result["duplicates"] == 0,
        f"workers hold nothing afterwards ({result['gauges_after']})": not any(
            result["gauges_after"].values()
        ),
        f"Redis back to its baseline ({redis_base} -> {redis_after})": redis_ok,
        f"worker RSS back to its baseline ({base // 1024} -> {after // 1024} MiB, "
        f"peak {result['rss_peak_kib'] // 1024} MiB)": rss_ok,
    }
    print(json.dumps(result, indent=1), flush=True)
    for what, ok in checks.items():
        print(f"{'ok  ' if ok else 'FAIL'} {what}", flush=True)
    passed = all(checks.values())
    print(
        f"soak: minutes={result['minutes']} clients={result['clients']} p95_ms={result['p95_ms']} "
        f"gaps={result['gaps']} rss_base_mib={base // 1024} rss_after_mib={after // 1024} "
        f"{'ok' if passed else 'FAILED'}",
        flush=True,
    )
    return passed


if __name__ == "__main__":
    main()
