"""Probes and metrics for whoever runs Setroom: /healthz (alive), /readyz (can serve), /metrics.

/healthz answers as long as the process serves HTTP: use it for liveness (restart when it fails).
/readyz also checks the database (SELECT 1) and the broker (subscribed and answering pings): use
it for readiness (send traffic only when it passes). Each check reads "ok" or says what is wrong:
{"database": "ok", "broker": "unreachable since 2026-11-28T06:40:01Z (ConnectionError: ...)"}.
A Redis blip makes every worker unready at once; restarting them for it would not help, which is
why liveness does not look at it.
"""

from __future__ import annotations

import asyncio
import logging

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from sqlalchemy import Engine, text

from app.metrics import CONTENT_TYPE
from app.web.deps import ServicesDep
from app.web.guard import Anyone

router = APIRouter(include_in_schema=False)
log = logging.getLogger(__name__)

DATABASE_TIMEOUT = 2.0


@router.get("/healthz")
def healthz(_: Anyone) -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(_: Anyone, services: ServicesDep) -> JSONResponse:
    """200 when this worker can serve rooms; 503 naming what is wrong otherwise."""
    checks: dict[str, str] = {
        "database": "ok" if await _database_answers(services.engine) else "unreachable",
        "broker": services.broker.problem() or "ok",
    }
    ready = all(v == "ok" for v in checks.values())
    failing = [name for name, v in checks.items() if v != "ok"]
    return JSONResponse(
        {"status": "ready" if ready else "unavailable", "checks": checks, "failing": failing},
        status_code=200 if ready else 503,
        headers={"Cache-Control": "no-store"},
    )


@router.get("/metrics")
def metrics(_: Anyone, services: ServicesDep) -> Response:
    return Response(services.metrics.render(), media_type=CONTENT_TYPE)


async def _database_answers(engine: Engine) -> bool:
    def select_one() -> None:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    try:
        await asyncio.wait_for(asyncio.to_thread(select_one), DATABASE_TIMEOUT)
    except Exception as error:
        log.warning("readiness: the database did not answer", extra={"error": type(error).__name__})
        return False
    return True
