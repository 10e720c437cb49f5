"""What an operator sees: /healthz (alive), /readyz (can serve, or what is wrong), /metrics."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
from sqlalchemy import create_engine

from app.main import create_app
from app.rooms.broker import MemoryBroker
from app.settings import Settings
from app.web.deps import services_of
from tests.harness import RoomClient, SeededSet, Server, session_cookie


def _metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not in /metrics")


def test_probes_and_metrics_of_one_worker(server: Server, seeded: SeededSet) -> None:
    assert httpx.get(f"{server.base}/healthz").json() == {"status": "ok"}
    ready = httpx.get(f"{server.base}/readyz")
    assert ready.status_code == 200
    assert ready.json() == {
        "status": "ready",
        "checks": {"database": "ok", "broker": "ok"},
        "failing": [],
    }

    async def scenario() -> None:
        cookie = session_cookie(server, seeded.tokens[seeded.facilitator])
        fac = await RoomClient(server, seeded.meeting_id, cookie).connect()
        await fac.command("start_meeting")
        metrics = httpx.get(f"{server.base}/metrics")
        assert metrics.headers["content-type"].startswith("text/plain")
        text = metrics.text
        assert _metric(text, "setroom_connections_open") == 1
        assert _metric(text, "setroom_rooms_live") == 1
        assert _metric(text, "setroom_broker_healthy") == 1
        assert _metric(text, "setroom_events_appended_total") >= 3  # join, start, first phase
        assert _metric(text, 'setroom_broadcast_latency_seconds_count{via="local"}') >= 2
        await fac.close()

    asyncio.run(scenario())


def test_readyz_names_what_is_wrong_while_healthz_stays_alive(db_url: str, tmp_path: Path) -> None:
    app = create_app(Settings(database_url=db_url))

    async def scenario() -> None:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://t"
            ) as client,
        ):
            assert (await client.get("/readyz")).status_code == 200
            services = services_of(app)
            working = services.engine, services.broker
            services.engine = create_engine(f"sqlite:///{tmp_path / 'no' / 'such.db'}")
            services.broker = MemoryBroker()  # never started: subscribed to nothing
            try:
                response = await client.get("/readyz")
                assert response.status_code == 503
                assert response.json() == {
                    "status": "unavailable",
                    "checks": {"database": "unreachable", "broker": "not started"},
                    "failing": ["database", "broker"],
                }
                assert (await client.get("/healthz")).status_code == 200
            finally:
                services.engine.dispose()
                services.engine, services.broker = working

    asyncio.run(scenario())
