"""The application: create_app(settings) builds everything; nothing connects at import time."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Request, Response
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter, RateLimiter
from sqlalchemy import Engine
from starlette.exceptions import HTTPException as StarletteHTTPException

from app import demo
from app.collector import Freezer
from app.db.database import make_engine, migrate
from app.db.meetings import open_meetings
from app.domain.commands import Leave
from app.domain.errors import DomainError
from app.domain.model import Actor
from app.domain.text import N_
from app.metrics import Metrics
from app.rooms.broker import MemoryBroker, make_broker
from app.rooms.hub import Hub
from app.rooms.presence import Presence
from app.rooms.service import RoomService
from app.settings import Settings
from app.web import (
    audit_pages,
    auth_routes,
    health,
    language_routes,
    member_pages,
    pages,
    set_meetings,
    ws,
)
from app.web import member_data as member_data_routes
from app.web import programmes as programme_routes
from app.web import reports as report_routes
from app.web import sets as set_routes
from app.web import summaries as summary_routes
from app.web.audit_trail import AuditTrail
from app.web.body_guard import BodyGuard
from app.web.csrf import CsrfBinding, require_csrf
from app.web.deps import COOKIE, Services, now_ms, services_of
from app.web.guard import Anyone
from app.web.language import LanguageChoice
from app.web.render import RoomRenderer
from app.web.security_headers import SecurityHeaders

HERE = Path(__file__).resolve().parent
NODE_MODULES = HERE.parent / "node_modules"
VENDOR = {
    "htmx.min.js": NODE_MODULES / "htmx.org" / "dist" / "htmx.min.js",
    "ws.min.js": NODE_MODULES / "htmx-ext-ws" / "dist" / "ws.min.js",
    "open-props.min.css": NODE_MODULES / "open-props" / "open-props.min.css",
}


_DETAIL = {"type": "object", "properties": {"detail": {}}, "required": ["detail"]}
_REFUSAL = {
    "content": {
        "application/json": {"schema": _DETAIL},
        "text/html": {"schema": {"type": "string"}},
    }
}
_PAGE = {"content": {"text/html": {"schema": {"type": "string"}}}}
SHARED_RESPONSES: dict[int | str, dict[str, Any]] = {
    303: {"description": "See Other: done, or sign in first; the page to go to is `Location`."},
    400: {"description": "The form held a character that cannot be stored (NUL)."},
    401: {"description": "Nobody is signed in.", **_REFUSAL},
    403: {"description": "Not open to the person signed in.", **_REFUSAL},
    404: {"description": "No such thing, or not for this person to know of.", **_REFUSAL},
    409: {"description": "Not now: the meeting is not at a stage that allows this.", **_PAGE},
    413: {"description": "More than a form takes."},
    429: {"description": "Too many attempts; try again later."},
}
"""What any page route may answer besides its own 200, declared once for the OpenAPI document
(people get an HTML page, API clients JSON: see `explain` below). Pages are HTML unless a route
names another response class."""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await asyncio.to_thread(migrate, settings.database_url)
        engine = make_engine(settings.database_url)
        broker = make_broker(
            settings.broker_url,
            ping_interval=settings.broker_ping_interval,
            ping_timeout=settings.broker_ping_timeout,
            command_timeout=settings.broker_command_timeout,
            heartbeat_interval=settings.broker_heartbeat_interval,
            lapse_after=settings.broker_heartbeat_lapse,
        )
        renderer = RoomRenderer(HERE / "templates")
        metrics = Metrics()
        hub = Hub(
            engine=engine,
            broker=broker,
            renderer=renderer,
            clock=now_ms,
            replay_buffer=settings.replay_buffer,
            metrics=metrics,
            max_sockets_per_person=settings.ws_max_sockets_per_person,
        )
        metrics.watch(
            connections=hub.connection_count,
            rooms=lambda: len(hub.rooms),
            broker_healthy=lambda: broker.healthy,
        )
        rooms = RoomService(engine=engine, hub=hub, broker=broker, clock=now_ms, metrics=metrics)
        presence = Presence(
            broker=broker,
            engine=engine,
            hub=hub,
            rooms=rooms,
            sweep_every=settings.presence_sweep_seconds,
        )
        await broker.start(hub.notified, presence.resynced)
        app.state.services = Services(
            settings=settings,
            engine=engine,
            broker=broker,
            hub=hub,
            rooms=rooms,
            renderer=renderer,
            metrics=metrics,
            limiter=_limiter(settings),
        )
        if settings.demo:
            _start_demo(engine, settings)
        sweeper = None
        if isinstance(broker, MemoryBroker):
            await _forget_stale_connections(engine, rooms, hub)
        else:
            sweeper = asyncio.create_task(presence.keep_sweeping())
        freezer = None
        if settings.gc_freeze_seconds > 0:  # short collector pauses: see app.collector
            freezer = asyncio.create_task(
                Freezer(
                    every_s=settings.gc_freeze_seconds,
                    thaw_minutes=settings.gc_thaw_minutes,
                    churn_thaw_s=settings.gc_churn_thaw_seconds,
                    closed=lambda: hub.sockets_closed,
                    open_now=hub.connection_count,
                ).run()
            )
        try:
            yield
        finally:
            for task in (freezer, sweeper):
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
            await hub.close()
            await asyncio.to_thread(rooms.close)
            await broker.stop()
            engine.dispose()

    app = FastAPI(title="Setroom", lifespan=lifespan, dependencies=[Depends(require_csrf)])
    app.add_middleware(LanguageChoice, session_cookie=COOKIE)  # innermost: after the guards
    app.add_middleware(AuditTrail)
    app.add_middleware(BodyGuard)
    app.add_middleware(CsrfBinding, session_cookie=COOKIE, secure=settings.cookie_secure)
    app.add_middleware(SecurityHeaders)  # the last added runs first: every answer has them

    @app.exception_handler(StarletteHTTPException)
    async def explain(request: Request, error: StarletteHTTPException) -> Response:
        """People get a page that says what went wrong; API clients get JSON."""
        if "text/html" not in request.headers.get("accept", ""):
            return await http_exception_handler(request, error)
        fallback = _TITLES.get(error.status_code, N_("Something went wrong"))
        title = getattr(error, "title", "") or fallback  # CsrfRefused says what happened
        html = services_of(app).renderer.notice_page(title, str(error.detail))
        return HTMLResponse(html, status_code=error.status_code, headers=error.headers)

    app.include_router(health.router)
    app.include_router(ws.router)
    for router in (
        pages.router,
        language_routes.router,
        auth_routes.router,
        programme_routes.router,
        set_routes.router,
        set_meetings.router,
        report_routes.router,
        summary_routes.router,
        member_pages.router,
        member_data_routes.router,
        audit_pages.router,
    ):
        app.include_router(router, responses=SHARED_RESPONSES, default_response_class=HTMLResponse)
    _check_vendor()

    @app.get("/static/vendor/{name}", include_in_schema=False)
    def vendor(name: str, _: Anyone) -> FileResponse:
        """htmx, its ws extension and the Open Props design tokens, installed from package.json
        (npm ci), never committed."""
        path = VENDOR.get(name)
        if path is None:
            raise HTTPException(status_code=404)
        media_type = "text/css" if path.suffix == ".css" else "text/javascript"
        return FileResponse(path, media_type=media_type)

    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    return app


async def _forget_stale_connections(engine: Engine, rooms: RoomService, hub: Hub) -> None:
    """With one worker, nobody can be connected before it starts: connections left in the log by
    a crash are closed, so presence and attendance stay true.

    Only for the in-process broker. With Redis, other workers (on this host or others) share the
    log and may be serving live sockets in these very meetings while this one starts, so a
    crashed worker's connections are swept by worker id once its heartbeat lapses instead (see
    app.rooms.presence)."""
    for meeting_id in await asyncio.to_thread(open_meetings, engine):
        with contextlib.suppress(LookupError):  # a meeting row whose first event never landed
            async with hub.hold(meeting_id) as room:
                for connection in list(room.state.connections):
                    with contextlib.suppress(DomainError):
                        await rooms.handle(meeting_id, Actor.system(), Leave(connection=connection))


_TITLES = {
    401: N_("Please use your personal link"),
    403: N_("Not your set's room"),
    404: N_("Not found"),
}


def _limiter(settings: Settings) -> RateLimiter:
    """Rate limits shared by the workers through Redis when there is one, else per process."""
    url = settings.broker_url if settings.broker_url.startswith("redis") else "memory://"
    return MovingWindowRateLimiter(storage_from_string(url))


def _check_vendor() -> None:
    missing = [str(p.relative_to(NODE_MODULES)) for p in VENDOR.values() if not p.is_file()]
    if missing:
        raise RuntimeError(f"Front-end assets are missing ({', '.join(missing)}): run npm ci.")


def _start_demo(engine: Engine, settings: Settings) -> None:
    now = now_ms()
    demo.ensure_demo(engine, now=now)
    links = demo.demo_links(
        engine, public_url=settings.public_url, now=now, days=settings.join_link_days
    )
    lines = ["", "Setroom demo set: open each link in its own browser (or private window).", ""]
    for name, role, link in links:
        lines.append(f"  {role:<11} {name:<18} {link}")
    lines.append("")
    print("\n".join(lines), flush=True)
