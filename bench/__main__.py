"""`python -m bench` (`make bench`): the load ladder against Setroom and against a bare
`websockets` broadcast server, in one run, and a summary whose last line is

    bench: participants=N p99_ms=X ratio=R kib_per_conn=K

The servers run on core 1 and the load generator (bench/loadgen.py) on core 0. See
docs/benchmarks.md for what each figure means.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.seed import seed_rooms

ROOT = Path(__file__).resolve().parents[1]
LADDER = (50, 100, 200, 500, 1000, 1500, 1900)
"""Rooms of ten. It ends at 1,900 because a process may hold at most 20,000 open files here."""
SERVER_CORE, LOADGEN_CORE = 1, 0
P99_LIMIT_MS = 100.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Priority:
    """How far the servers and the load generator are reniced (`--priority`): on a shared
    machine other work then disturbs the measurement less. Needs root; elsewhere `nice` only
    warns."""

    boost = 10


def pinned(core: int, argv: list[str]) -> list[str]:
    if Priority.boost:
        argv = ["nice", "-n", str(-Priority.boost), *argv]
    if (os.cpu_count() or 1) < 2:
        return argv  # one core: nothing to pin apart
    return ["taskset", "-c", str(core), *argv]


def wait_until(check: Any, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, httpx.HTTPError):
            if check():
                return
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not come up in {timeout:.0f} s")


@dataclass
class Proc:
    name: str
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def check(self) -> None:
        if self.process.poll() is not None:
            tail = self.log.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n{tail}")

    def kill(self) -> None:
        # No graceful shutdown: with thousands of sockets open it would only record departures.
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait()


def spawn(name: str, argv: list[str], workdir: Path, env: dict[str, str] | None = None) -> Proc:
    log = workdir / f"{name}.log"
    with log.open("ab") as out:
        process = subprocess.Popen(
            argv, cwd=ROOT, env={**os.environ, **(env or {})}, stdout=out, stderr=out
        )
    return Proc(name, process, log)


def start_setroom(
    name: str, workdir: Path, db_url: str, broker_url: str = "memory://", port: int = 0
) -> tuple[Proc, int]:
    port = port or free_port()
    argv = [
        sys.executable, "-m", "uvicorn", "app.main:create_app", "--factory",
        "--host", "127.0.0.1", "--port", str(port),
        "--workers", "1", "--loop", "uvloop", "--ws-per-message-deflate", "false",
        "--log-level", "warning", "--backlog", "4096",
    ]  # fmt: skip
    env = {"SETROOM_DATABASE_URL": db_url, "SETROOM_BROKER_URL": broker_url}
    proc = spawn(name, pinned(SERVER_CORE, argv), workdir, env)

    def healthy() -> bool:
        proc.check()
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200

    wait_until(healthy, name, timeout=120)
    print(f"  {name}: pid {proc.pid}, port {port}", file=sys.stderr, flush=True)
    return proc, port


def start_raw(workdir: Path) -> tuple[Proc, int]:
    port = free_port()
    argv = [sys.executable, "-m", "bench.raw_server", "--port", str(port)]
    proc = spawn("raw-server", pinned(SERVER_CORE, argv), workdir)

    def listening() -> bool:
        proc.check()
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True

    wait_until(listening, "raw server")
    print(f"  raw server: pid {proc.pid}, port {port}", file=sys.stderr, flush=True)
    return proc, port


def start_redis(workdir: Path) -> tuple[Proc, int]:
    port = free_port()
    argv = [
        "redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
        "--appendonly", "no", "--dir", str(workdir),
    ]  # fmt: skip
    proc = spawn("redis-server", pinned(SERVER_CORE, argv), workdir)

    def pong() -> bool:
        proc.check()
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")

    wait_until(pong, "redis-server")
    return proc, port


def redis_broker_missing() -> str | None:
    """Why the Redis path cannot run here, or None when it can."""
    if shutil.which("redis-server") is None:
        return "no redis-server"
    if importlib.util.find_spec("app.rooms.redis_broker") is None:
        return "no broker"
    from app.rooms.broker import make_broker

    try:
        make_broker("redis://127.0.0.1:6379/0")
    except ValueError:
        return "no broker"
    return None


@dataclass
class Ladder:
    name: str
    title: str
    steps: list[dict[str, Any]] = field(default_factory=list)
    stop: str = ""
    skipped: str = ""

    @property
    def held(self) -> list[dict[str, Any]]:
        """The steps held, in order, up to the first that was not."""
        held = []
        for step in self.steps:
            if not step["held_ok"]:
                break
            held.append(step)
        return held

    @property
    def max_rooms(self) -> int:
        return self.held[-1]["rooms"] if self.held else 0

    def at(self, rooms: int) -> dict[str, Any] | None:
        return next((s for s in self.steps if s["rooms"] == rooms), None)

    def cpu_per_event(self) -> tuple[float, int] | None:
        """Server CPU ms per event at the busiest step the server kept pace with, and its rooms."""
        paced = [s for s in self.steps if s["events_per_s"] >= 0.95 * s["rooms"]]
        return (paced[-1]["cpu_ms_per_event"], paced[-1]["rooms"]) if paced else None

    def connect_seconds(self, clients: int) -> float | None:
        """Seconds spent connecting the first `clients` clients, over the steps that did."""
        total, seconds = 0, 0.0
        for step in self.steps:
            total += step["new_clients"]
            seconds += step["connect_s"]
            if total == clients:
                return seconds
            if total > clients:
                return None
        return None


def run_loadgen(
    ladder: Ladder,
    workdir: Path,
    config: dict[str, Any],
    servers: list[Proc],
    profile: Path | None = None,
) -> Ladder:
    """Run the load generator on `config`, collecting its steps; kill `servers` when it stops."""
    path = workdir / f"loadgen-{ladder.name}.json"
    path.write_text(json.dumps(config))
    argv = pinned(LOADGEN_CORE, [sys.executable, "-m", "bench.loadgen", str(path)])
    with subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, text=True) as process:
        assert process.stdout is not None
        for line in process.stdout:
            try:
                message = json.loads(line)
            except ValueError:
                print(line, end="", file=sys.stderr)
                continue
            kind = message.pop("kind")
            if kind == "step":
                ladder.steps.append(message)
                progress(ladder.title, message)
            elif kind == "stop":
                ladder.stop = message["reason"]
                for server in servers:
                    server.kill()
                print(f"  {ladder.title}: stopped: {ladder.stop}", file=sys.stderr, flush=True)
                if "could not connect" in ladder.stop or "failed" in ladder.stop:
                    for server in servers:
                        tail = server.log.read_text(errors="replace").splitlines()[-12:]
                        print(f"  {server.name} log:", *tail, sep="\n    ", file=sys.stderr)
            elif kind == "window" and profile is not None:
                # Sample the servers while the step is measured (py-spy, on the load core).
                for server in servers[:1]:
                    out = profile / f"{ladder.name}-{message['rooms']}.txt"
                    subprocess.Popen(
                        pinned(LOADGEN_CORE, [
                            str(Path(sys.executable).with_name("py-spy")), "record", "--gil",
                            "--nonblocking", "-r", "100", "-f", "raw", "-p", str(server.pid),
                            "-d", str(int(message["seconds"])), "-o", str(out),
                        ]),
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )  # fmt: skip
            elif kind == "log":
                print(f"  {message['message']}", file=sys.stderr, flush=True)
            elif kind == "done":
                break
        process.wait(timeout=60)
    for server in servers:
        server.kill()
    return ladder


def progress(title: str, s: dict[str, Any]) -> None:
    verdict = "ok" if s["held_ok"] else f"FAIL ({s['failed']})"
    print(
        f"  {title}: {s['rooms']} rooms, {s['connections']} conns: p50/p95/p99 "
        f"{s['p50_ms']}/{s['p95_ms']}/{s['p99_ms']} ms, {s['events_per_s']} ev/s, lost "
        f"{s['lost']}, dropped {s['dropped']}, server cpu {s['server_cpu_pct']}% (waited for a "
        f"cpu {s['server_wait_pct']}%), loadgen cpu "
        f"{s['loadgen_cpu_pct']}%, {s['kib_per_conn']} KiB/conn, connect {s['connect_s']} s "
        f"(+{s['cookie_s']} s cookies), {s['slow']} over {P99_LIMIT_MS:.0f} ms in seconds "
        f"{s['slow_seconds'][:12]} "
        f"-> {verdict}",
        file=sys.stderr,
        flush=True,
    )


def table(ladder: Ladder) -> Iterator[str]:
    yield f"== {ladder.title} =="
    if ladder.skipped:
        yield f"{ladder.name}: skipped ({ladder.skipped})"
        return
    yield (
        f"{'rooms':>5} {'conns':>6} {'held':>6} {'events/s':>8} {'deliv/s':>8} {'p50':>7} "
        f"{'p95':>7} {'p99':>7} {'max':>7} {'lost':>5} {'drop':>5} {'srv%':>5} {'wait%':>5} "
        f"{'ms/ev':>5} {'gen%':>5} {'wait%':>5} "
        f"{'KiB/c':>6} {'conn s':>6}  result"
    )
    for s in ladder.steps:
        yield (
            f"{s['rooms']:>5} {s['connections']:>6} {s['held']:>6} {s['events_per_s']:>8} "
            f"{s['deliveries_per_s']:>8} {s['p50_ms']:>7} {s['p95_ms']:>7} {s['p99_ms']:>7} "
            f"{s['max_ms']:>7} {s['lost']:>5} {s['dropped']:>5} {s['server_cpu_pct']:>5} "
            f"{s['server_wait_pct']:>5} {s['cpu_ms_per_event']:>5} "
            f"{s['loadgen_cpu_pct']:>5} {s['loadgen_wait_pct']:>5} "
            f"{s['kib_per_conn']:>6} {s['connect_s']:>6}  "
            + ("ok" if s["held_ok"] else s["failed"])
        )
    yield f"stopped: {ladder.stop or 'n/a'}; held {ladder.max_rooms} rooms"


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--ladder", default=",".join(map(str, LADDER)), help="rooms per step")
    parser.add_argument(
        "--warmup", type=float, default=3.0, help="seconds of load before each step"
    )
    parser.add_argument("--duration", type=float, default=15.0, help="measured seconds per step")
    parser.add_argument(
        "--timeout", type=float, default=5.0, help="seconds before an event is lost"
    )
    parser.add_argument("--budget", type=float, default=570.0, help="seconds for the whole run")
    parser.add_argument("--redis-rooms", type=int, default=200)
    parser.add_argument("--no-raw", action="store_true")
    parser.add_argument("--no-redis", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument(
        "--profile",
        type=Path,
        help="write a py-spy profile (collapsed stacks) of each measured step to this directory",
    )
    parser.add_argument(
        "--priority",
        type=int,
        default=Priority.boost,
        help="renice the servers and the load generator by minus this much (0: leave them be)",
    )
    args = parser.parse_args()
    Priority.boost = args.priority
    ladder = [int(n) for n in args.ladder.split(",")]
    if args.profile is not None:
        args.profile.mkdir(parents=True, exist_ok=True)
    began = time.time()

    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # inherited by every child
    with contextlib.suppress(OSError):
        os.sched_setaffinity(0, {LOADGEN_CORE})
    workdir = Path(tempfile.mkdtemp(prefix="setroom-bench-"))
    db_url = f"sqlite:///{workdir / 'bench.db'}"
    redis_missing = "disabled" if args.no_redis else redis_broker_missing()
    print(
        f"bench: {os.cpu_count()} cores, server on core {SERVER_CORE}, load generator on core "
        f"{LOADGEN_CORE}; open files {hard}; workdir {workdir}",
        file=sys.stderr,
        flush=True,
    )
    try:
        seeded_at = time.perf_counter()
        rooms = seed_rooms(db_url, max([*ladder, 0 if redis_missing else args.redis_rooms]))
        rooms_file = workdir / "rooms.json"
        rooms_file.write_text(
            json.dumps([{"meeting_id": r.meeting_id, "tokens": r.tokens} for r in rooms])
        )
        print(
            f"  seeded {len(rooms)} rooms in {time.perf_counter() - seeded_at:.1f} s",
            file=sys.stderr,
            flush=True,
        )
        common = {
            "rooms_file": str(rooms_file),
            "warmup": args.warmup,
            "duration": args.duration,
            "timeout": args.timeout,
            "p99_limit_ms": P99_LIMIT_MS,
            "cookie_cache": str(workdir / "cookies.json"),
        }
        reserve_redis = 0 if redis_missing else 80
        reserve_raw = 0 if args.no_raw else 200

        setroom = Ladder("setroom", "Setroom, one worker, SQLite")
        server, port = start_setroom("setroom", workdir, db_url)
        run_loadgen(
            setroom,
            workdir,
            {
                **common,
                "target": "setroom",
                "ws_bases": [f"ws://127.0.0.1:{port}"],
                "http_bases": [f"http://127.0.0.1:{port}"],
                "server_pids": [server.pid],
                "ladder": ladder,
                "deadline": began + args.budget - reserve_raw - reserve_redis,
            },
            [server],
            args.profile,
        )

        raw = Ladder("raw", "websockets baseline (bench/raw_server.py)")
        if args.no_raw:
            raw.skipped = "disabled"
        else:
            server, port = start_raw(workdir)
            run_loadgen(
                raw,
                workdir,
                {
                    **common,
                    "target": "raw",
                    "ws_bases": [f"ws://127.0.0.1:{port}"],
                    "server_pids": [server.pid],
                    "ladder": ladder,
                    "deadline": began + args.budget - reserve_redis,
                },
                [server],
                args.profile,
            )

        redis = Ladder("redis", "Setroom, two workers + Redis, SQLite")
        if redis_missing:
            redis.skipped = redis_missing
        else:
            redis_proc, redis_port = start_redis(workdir)
            broker_url = f"redis://127.0.0.1:{redis_port}/0"
            first, port_a = start_setroom("worker-a", workdir, db_url, broker_url)
            second, port_b = start_setroom("worker-b", workdir, db_url, broker_url)
            run_loadgen(
                redis,
                workdir,
                {
                    **common,
                    "target": "setroom",
                    "ws_bases": [f"ws://127.0.0.1:{port_a}", f"ws://127.0.0.1:{port_b}"],
                    "http_bases": [f"http://127.0.0.1:{port_a}", f"http://127.0.0.1:{port_b}"],
                    "server_pids": [first.pid, second.pid],
                    "ladder": [args.redis_rooms],
                    "stop_on_fail": False,
                    "deadline": began + args.budget,
                },
                [first, second, redis_proc],
                args.profile,
            )
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)

    summary(setroom, raw, redis, time.time() - began)


def summary(setroom: Ladder, raw: Ladder, redis: Ladder, took: float) -> None:
    lines: list[str] = [""]
    for ladder in (setroom, raw, redis):
        lines += [*table(ladder), ""]
    for title, ladder in (("setroom", setroom), ("raw", raw), ("redis", redis)):
        step = ladder.at(200)
        if step is not None:
            lines.append(
                f"{title} at 200 rooms: p50 {step['p50_ms']} ms, p95 {step['p95_ms']} ms, "
                f"p99 {step['p99_ms']} ms, {step['deliveries_per_s']} deliveries/s"
            )
    for title, ladder in (("setroom", setroom), ("raw", raw)):
        seconds = ladder.connect_seconds(2000)
        if seconds is not None:
            lines.append(f"{title} connect time for 2,000 clients: {seconds:.2f} s")
    costs = {name: ladder.cpu_per_event() for name, ladder in (("setroom", setroom), ("raw", raw))}
    for name, cost in costs.items():
        if cost is not None and cost[0] > 0:
            lines.append(
                f"{name} server cpu per event: {cost[0]} ms at {cost[1]} rooms, so a whole core "
                f"would carry about {1000 / cost[0]:.0f} rooms"
            )
    setroom_cost, raw_cost = costs["setroom"], costs["raw"]
    if setroom_cost and raw_cost and setroom_cost[0] > 0:
        lines.append(
            f"cpu-bound ratio (raw cpu / setroom cpu): {raw_cost[0] / setroom_cost[0]:.2f}"
        )
    held = setroom.held
    best = held[-1] if held else (setroom.steps[0] if setroom.steps else None)
    kib = best["kib_per_conn"] if best else float("nan")
    if best:
        lines.append(
            f"setroom memory per connection: {kib} KiB (server RSS {best['rss_kib']} KiB with "
            f"{best['connections']} connections, {best['rss_base_kib']} KiB before any)"
        )
    ratio = setroom.max_rooms / raw.max_rooms if raw.max_rooms else float("nan")
    lines.append(
        f"ratio: setroom {setroom.max_rooms} rooms / raw {raw.max_rooms} rooms = {ratio:.2f}"
    )
    lines.append(f"took {took:.0f} s")
    p99 = best["p99_ms"] if best else float("nan")
    lines.append(
        f"bench: participants={setroom.max_rooms * 10} p99_ms={p99} ratio={ratio:.2f} "
        f"kib_per_conn={kib}"
    )
    print("\n".join(lines), flush=True)


if __name__ == "__main__":
    main()
