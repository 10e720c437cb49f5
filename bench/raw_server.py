"""The baseline: the least a room broadcast server can do, with the `websockets` library.

Rooms of connections and nothing else: no database, no engine, no sessions. A client connects to
`/rooms/{room}/ws?p={participant}&role={role}` and gets a `welcome`; each command it sends comes
back to everyone in its room as an `event` of the same JSON shape as Setroom's (a timer started),
followed by an `ack` to the sender, as docs/protocol.md describes.

    python -m bench.raw_server --port 8765
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import time
from urllib.parse import parse_qs, urlsplit

import uvloop
from websockets.asyncio.server import ServerConnection, broadcast, serve
from websockets.exceptions import ConnectionClosed


class Room:
    __slots__ = ("connections", "seq")

    def __init__(self) -> None:
        self.connections: set[ServerConnection] = set()
        self.seq = 1


rooms: dict[str, Room] = {}


def now_ms() -> int:
    return time.time_ns() // 1_000_000


async def handler(ws: ServerConnection) -> None:
    url = urlsplit(ws.request.path if ws.request else "/")
    parts = url.path.strip("/").split("/")
    if len(parts) != 3 or parts[0] != "rooms":
        await ws.close(code=4404)
        return
    query = parse_qs(url.query)
    participant = query.get("p", ["?"])[0]
    role = query.get("role", ["member"])[0]
    room = rooms.setdefault(parts[1], Room())
    room.connections.add(ws)
    you = {"id": participant, "role": role, "name": participant}
    welcome = {"op": "welcome", "seq": room.seq, "server_now": now_ms(), "you": you}
    await ws.send(json.dumps({**welcome, "state": {"status": "live"}}))
    try:
        async for raw in ws:
            message = json.loads(raw)
            command = message.get("command") or {}
            now = now_ms()
            duration = int(command.get("seconds", 60)) * 1000
            room.seq += 1
            event = {
                "op": "event",
                "seq": room.seq,
                "at": now,
                "actor": participant,
                "actor_role": role,
                "event": {
                    "type": "timer_changed",
                    "action": "started",
                    "timer": {
                        "duration_ms": duration,
                        "running": True,
                        "deadline_ms": now + duration,
                        "remaining_ms": 0,
                        "elapsed": False,
                    },
                },
            }
            broadcast(room.connections, json.dumps(event))
            await ws.send(json.dumps({"op": "ack", "id": message.get("id"), "seq": room.seq}))
    except ConnectionClosed:
        pass
    finally:
        room.connections.discard(ws)


async def main(host: str, port: int) -> None:
    stop = asyncio.get_running_loop().create_future()
    for signum in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(signum, stop.set_result, None)
    # The same settings as uvicorn's: no compression, pings every 20 s.
    async with serve(handler, host, port, compression=None, ping_interval=20, backlog=4096):
        await stop


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.raw_server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvloop.run(main(args.host, args.port))
