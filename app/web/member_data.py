"""A person's data: the member's own export, and a lead's export and erasure on request
(app.db.member_data holds what each contains and does).

A lead's export is the one place a lead reads what a member said: it answers the member's
request for their data (a subject access request) when the member cannot use their own link,
and every export is in the audit log. A lead erases a person from a page of its own, with a
confirmation; erasing ends the person's sessions and closes their sockets in every room.
"""

from __future__ import annotations

import asyncio
import json

from fastapi import APIRouter, HTTPException
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlmodel import Session

from app.db import member_data
from app.db.programmes import AdminError
from app.db.tables import LearningSet, Person
from app.web.deps import ServicesDep, now_ms
from app.web.forms import NO_STORE, page, said
from app.web.guard import ProgrammeLead, SetParticipant
from app.web.language import N_

router = APIRouter()


def _json(data: dict[str, object], filename: str) -> Response:
    return Response(
        json.dumps(data, ensure_ascii=False, indent=2),
        media_type="application/json",
        headers={**NO_STORE, "Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.get("/sets/{set_id}/my-data", response_class=JSONResponse)
def my_data(set_id: str, who: SetParticipant, services: ServicesDep) -> Response:
    """Everything the signed-in person said or that is recorded about them, in every set."""
    with Session(services.engine) as session:
        sets = member_data.known_sets(session, who.person_id)
    data = member_data.export(
        services.engine,
        person_id=who.person_id,
        set_ids=sets,
        now=now_ms(),
        with_private_notes=True,
    )
    return _json(data, "my-setroom-data.json")


def _subject(
    services: ServicesDep, set_id: str, person_id: str
) -> tuple[str, str | None, set[str]]:
    """The person's name, the set's programme, and the programme's sets the person is in;
    404 for someone who was never in this set."""
    with Session(services.engine) as session:
        person = session.get(Person, person_id)
        learning_set = session.get(LearningSet, set_id)
        known = member_data.known_sets(session, person_id)
        if person is None or learning_set is None or set_id not in known:
            raise HTTPException(status_code=404, detail=N_("That person was never in this set."))
        programme_id = learning_set.programme_id
        sets = known & member_data.sets_of_programme(session, programme_id)
    return person.name, programme_id, sets


@router.get("/sets/{set_id}/people/{person_id}/data", response_class=HTMLResponse)
def data_page(set_id: str, person_id: str, _: ProgrammeLead, services: ServicesDep) -> Response:
    name, _programme, _sets = _subject(services, set_id, person_id)
    return _page(services, set_id, person_id, name)


def _set_name(services: ServicesDep, set_id: str) -> str:
    with Session(services.engine) as session:
        learning_set = session.get(LearningSet, set_id)
        return learning_set.name if learning_set else "Set"


def _page(
    services: ServicesDep,
    set_id: str,
    person_id: str,
    name: str,
    *,
    error: str = "",
    status: int = 200,
) -> Response:
    return page(
        services,
        "member_data.html",
        status,
        set_id=set_id,
        set_name=_set_name(services, set_id),
        person_id=person_id,
        name=name,
        errors={"erase": error} if error else {},
    )


@router.get("/sets/{set_id}/people/{person_id}/export", response_class=JSONResponse)
def lead_export(set_id: str, person_id: str, _: ProgrammeLead, services: ServicesDep) -> Response:
    _name, _programme, sets = _subject(services, set_id, person_id)
    data = member_data.export(services.engine, person_id=person_id, set_ids=sets, now=now_ms())
    return _json(data, f"setroom-data-{person_id}.json")


@router.post("/sets/{set_id}/people/{person_id}/erase", response_class=HTMLResponse)
async def erase(set_id: str, person_id: str, who: ProgrammeLead, services: ServicesDep) -> Response:
    name, programme_id, _sets = _subject(services, set_id, person_id)
    try:
        sets = await asyncio.to_thread(
            member_data.erase,
            services.engine,
            person_id=person_id,
            programme_id=programme_id,
            by=who.person_id,
            now=now_ms(),
        )
    except AdminError as error:
        return _page(services, set_id, person_id, name, error=said(error), status=409)
    for erased_from in sets:
        await services.rooms.follow_membership(erased_from, revoked=person_id)
    # The page itself, not a redirect to it: nothing ties the person to the set any more.
    return page(services, "member_erased.html", set_id=set_id, set_name=_set_name(services, set_id))
