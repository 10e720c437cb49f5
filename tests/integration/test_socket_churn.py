"""Sockets that come and go leave nothing behind in the worker: no entry in the hub or in the
message rate limiter, and a released room is freed at once, even with the collector freeze on
(the soak's memory, docs/benchmarks.md)."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import weakref
from collections.abc import Awaitable, Callable
from types import TracebackType

import httpx
import uvicorn
import websockets
from limits.storage import MemoryStorage
from websockets.asyncio.client import ClientConnection

from app.main import create_app
from app.rooms.hub import Hub, Room
from app.settings import Settings
from app.web.deps import services_of
from tests.harness import free_port, seed_set

CYCLES = 24


class InProcess:
    """The app under a real uvicorn in a thread of this process, so that the test can look
    inside the worker."""

    def __init__(self, settings: Settings) -> None:
        self.app = create_app(settings)
        self.port = free_port()
        config = uvicorn.Config(
            self.app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            ws_per_message_deflate=False,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def hub(self) -> Hub:
        return services_of(self.app).hub

    def __enter__(self) -> InProcess:
        self.thread.start()
        wait_for(lambda: self.server.started, "the server to start")
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.server.should_exit = True
        self.thread.join(30)


def wait_for(ready: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        assert time.monotonic() < deadline, f"waited {timeout} s for {what}"
        time.sleep(0.05)


async def command(ws: ClientConnection, request_id: int, **fields: object) -> None:
    await ws.send(json.dumps({"op": "command", "id": request_id, "command": fields}))
    while (reply := json.loads(await ws.recv()))["op"] != "ack":
        assert reply["op"] != "error", reply


def test_sockets_that_come_and_go_leave_nothing_behind(db_url: str) -> None:
    seeded = seed_set(db_url, members=4)
    # The freeze on, and no thaw for departures: only reference counting frees what goes.
    settings = Settings(database_url=db_url, gc_freeze_seconds=0.05, gc_churn_thaw_seconds=0)
    with InProcess(settings) as worker:
        base = f"127.0.0.1:{worker.port}"
        cookies = {
            person: httpx.get(f"http://{base}/j/{token}").cookies["setroom_session"]
            for person, token in seeded.tokens.items()
        }
        url = f"ws://{base}/meetings/{seeded.meeting_id}/ws?mode=json"
        hub = worker.hub

        def join(person: str) -> Awaitable[ClientConnection]:
            return websockets.connect(
                url, additional_headers={"Cookie": f"setroom_session={cookies[person]}"}
            )

        async def meeting() -> weakref.ref[Room]:
            facilitator = await join(seeded.facilitator)
            assert json.loads(await facilitator.recv())["op"] == "welcome"
            await command(facilitator, 1, type="start_meeting")
            await command(facilitator, 2, type="timer_start", seconds=600)
            room = hub.rooms[seeded.meeting_id]
            assert room.timer_task is not None  # the room waits for the timer's deadline
            for i in range(CYCLES):
                ws = await join(seeded.members[i % len(seeded.members)])
                assert json.loads(await ws.recv())["op"] == "welcome"
                await ws.send(json.dumps({"op": "ping", "id": i}))  # a place in its rate window
                while json.loads(await ws.recv())["op"] != "pong":
                    pass
                if i % 2:
                    await ws.close()
                else:
                    ws.transport.abort()  # a cut connection: no closing handshake
            await asyncio.sleep(0.2)  # everything the room holds has been frozen meanwhile
            await facilitator.close()
            return weakref.ref(room)

        room = asyncio.run(meeting())
        wait_for(lambda: not hub.rooms, "the room to be released")
        assert hub.sockets_closed == CYCLES + 1
        storage = hub.message_limiter.storage
        assert isinstance(storage, MemoryStorage)
        assert not (storage.events or storage.storage or storage.expirations)
        # Its replay buffer and state go with it, without waiting for a full collection.
        wait_for(lambda: room() is None, "the released room to be freed", timeout=10)
