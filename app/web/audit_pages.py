"""The audit log's pages: a programme's for its leads, a set's for its facilitators. Each line
says who did what to which set and when; never what anyone said (app.db.audit)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response
from sqlmodel import Session

from app.db import audit
from app.db.tables import LearningSet, Programme
from app.web.deps import Services, ServicesDep
from app.web.forms import page
from app.web.guard import ProgrammeLead, SetFacilitator

router = APIRouter()


def _audit_page(
    services: Services, lines: list[audit.Line], *, title: str, back: str, of_set: bool
) -> Response:
    return page(
        services,
        "audit.html",
        lines=lines,
        title=title,
        back=back,
        limit=audit.LIMIT,
        of_set=of_set,
    )


# Plain `def` routes: FastAPI runs them in its thread pool, so neither query blocks the loop.
@router.get("/programmes/{programme_id}/audit", response_class=HTMLResponse)
def programme_audit(programme_id: str, _: ProgrammeLead, services: ServicesDep) -> Response:
    lines = audit.lines(services.engine, programme_id=programme_id)
    with Session(services.engine) as session:
        programme = session.get(Programme, programme_id)
    title = programme.name if programme else ""
    return _audit_page(
        services, lines, title=title, back=f"/programmes/{programme_id}", of_set=False
    )


@router.get("/sets/{set_id}/audit", response_class=HTMLResponse)
def set_audit(set_id: str, _: SetFacilitator, services: ServicesDep) -> Response:
    lines = audit.lines(services.engine, set_id=set_id)
    with Session(services.engine) as session:
        learning_set = session.get(LearningSet, set_id)
    title = learning_set.name if learning_set else ""
    return _audit_page(services, lines, title=title, back=f"/sets/{set_id}/admin", of_set=True)
