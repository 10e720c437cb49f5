"""What routes share: the services built by create_app, and who is asking."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Annotated, Any, cast

from fastapi import Depends
from limits.strategies import RateLimiter
from sqlalchemy import Engine
from starlette.requests import HTTPConnection

from app.db import access
from app.db.tables import WebSession
from app.metrics import Metrics
from app.rooms.broker import Broker
from app.rooms.hub import Hub
from app.rooms.service import RoomService
from app.settings import Settings
from app.web.render import RoomRenderer

COOKIE = "setroom_session"


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass
class Services:
    settings: Settings
    engine: Engine
    broker: Broker
    hub: Hub
    rooms: RoomService
    renderer: RoomRenderer
    metrics: Metrics
    limiter: RateLimiter

    def clock(self) -> int:
        return now_ms()

    def session_of(self, secret: str | None) -> WebSession | None:
        return access.session_person(self.engine, secret, now=now_ms())


def services_of(app: Any) -> Services:
    return cast(Services, app.state.services)


def _services(connection: HTTPConnection) -> Services:
    return services_of(connection.app)


ServicesDep = Annotated[Services, Depends(_services)]
