"""The audit log's pages: a programme's for its leads, a set's for its facilitators. Each line
says who did what to which set and when; never what anyone said (app.db.audit)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response
from sqlmodel import Session

from app.db import audit
from app.db.tables import LearningSet, Programme
from app.web.deps import ServicesDep
from app.web.forms import page
from app.web.guard import ProgrammeLead, SetFacilitator

router = APIRouter()


@router.get("/programmes/{programme_id}/audit", response_class=HTMLResponse)
async def programme_audit(programme_id: str, _: ProgrammeLead, services: ServicesDep) -> Response:
    lines = await asyncio.to_thread(audit.lines, services.engine, programme_id=programme_id)
    with Session(services.engine) as session:
        programme = session.get(Programme, programme_id)
        title = programme.name if programme else ""
    return page(
        services,
        "audit.html",
        lines=lines,
        title=title,
        back=f"/programmes/{programme_id}",
        limit=audit.LIMIT,
        of_set=False,
    )


@router.get("/sets/{set_id}/audit", response_class=HTMLResponse)
async def set_audit(set_id: str, _: SetFacilitator, services: ServicesDep) -> Response:
    lines = await asyncio.to_thread(audit.lines, services.engine, set_id=set_id)
    with Session(services.engine) as session:
        learning_set = session.get(LearningSet, set_id)
        title = learning_set.name if learning_set else ""
    return page(
        services,
        "audit.html",
        lines=lines,
        title=title,
        back=f"/sets/{set_id}/admin",
        limit=audit.LIMIT,
        of_set=True,
    )
