"""A lead's programmes: create one, then its name and plan, the organisations taking part, its
leads and its sets. A lead sees counts, never what members said."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from app.db import programmes
from app.db.programmes import AdminError, SetSettings
from app.db.schedule import DEFAULT_GROUND_RULES
from app.web.deps import ServicesDep
from app.web.forms import page, said, whole_number, yes_no
from app.web.guard import AccountHolder, ProgrammeLead
from app.web.language import N_

router = APIRouter()

Text = Annotated[str, Form()]

NOTICES = {
    "created": N_("Programme created. Add the organisations taking part, then its sets."),
    "saved": N_("Programme saved."),
    "organisation": N_("Organisation added."),
    "lead": N_("Lead added."),
}


def set_form_defaults() -> dict[str, str]:
    return {
        "name": "",
        "video_link": "",
        "anonymous_questions": "yes",
        "questions_to_set": "yes",
        "kept_to_set": "no",
        "ground_rules": DEFAULT_GROUND_RULES,
    }


def set_settings_from(values: dict[str, str]) -> SetSettings:
    return SetSettings(
        name=values["name"],
        video_link=values["video_link"],
        anonymous_questions=yes_no(values["anonymous_questions"], what=N_("anonymous questions")),
        questions_to_set=yes_no(
            values["questions_to_set"], what=N_("sharing questions with the set")
        ),
        kept_to_set=yes_no(
            values.get("kept_to_set") or "no", what=N_("sharing the questions a presenter kept")
        ),
    )


@router.get("/programmes/new", response_class=HTMLResponse)
def new_programme(_: AccountHolder, services: ServicesDep) -> Response:
    return page(services, "programme_new.html", name="")


@router.post("/programmes", response_class=HTMLResponse)
def create_programme(who: AccountHolder, services: ServicesDep, name: Text = "") -> Response:
    try:
        programme_id = programmes.create_programme(
            services.engine, name=name, lead_id=who.person_id
        )
    except AdminError as error:
        return page(services, "programme_new.html", 400, name=name, errors={"name": said(error)})
    return RedirectResponse(f"/programmes/{programme_id}?done=created", status_code=303)


@router.get("/programmes/{programme_id}", response_class=HTMLResponse)
def show_programme(
    programme_id: str, _: ProgrammeLead, services: ServicesDep, done: str = ""
) -> Response:
    return _programme_page(services, programme_id, notice=NOTICES.get(done, ""))


@router.post("/programmes/{programme_id}", response_class=HTMLResponse)
def update_programme(
    programme_id: str,
    _: ProgrammeLead,
    services: ServicesDep,
    name: Text = "",
    meetings_planned: Text = "",
    cadence_weeks: Text = "",
    attendance_target: Text = "",
) -> Response:
    values = {
        "name": name,
        "meetings_planned": meetings_planned,
        "cadence_weeks": cadence_weeks,
        "attendance_target": attendance_target,
    }
    try:
        programmes.update_programme(
            services.engine,
            programme_id=programme_id,
            name=name,
            meetings_planned=whole_number(meetings_planned, what=N_("Meetings planned")),
            cadence_weeks=whole_number(cadence_weeks, what=N_("The cadence in weeks")),
            attendance_target=whole_number(attendance_target, what=N_("The attendance target")),
        )
    except AdminError as error:
        return _programme_page(
            services, programme_id, 400, errors={"programme": said(error)}, programme_form=values
        )
    return RedirectResponse(f"/programmes/{programme_id}?done=saved", status_code=303)


@router.post("/programmes/{programme_id}/organisations", response_class=HTMLResponse)
def add_organisation(
    programme_id: str, _: ProgrammeLead, services: ServicesDep, name: Text = ""
) -> Response:
    try:
        programmes.add_organisation(services.engine, programme_id=programme_id, name=name)
    except AdminError as error:
        return _programme_page(
            services, programme_id, 400, errors={"organisation": said(error)}, organisation=name
        )
    return RedirectResponse(f"/programmes/{programme_id}?done=organisation", status_code=303)


@router.post("/programmes/{programme_id}/leads", response_class=HTMLResponse)
def add_lead(
    programme_id: str, _: ProgrammeLead, services: ServicesDep, email: Text = ""
) -> Response:
    try:
        programmes.add_lead(services.engine, programme_id=programme_id, email=email)
    except AdminError as error:
        return _programme_page(
            services, programme_id, 400, errors={"lead": said(error)}, lead_email=email
        )
    return RedirectResponse(f"/programmes/{programme_id}?done=lead", status_code=303)


@router.post("/programmes/{programme_id}/sets", response_class=HTMLResponse)
def create_set(
    programme_id: str,
    _: ProgrammeLead,
    services: ServicesDep,
    name: Text = "",
    video_link: Text = "",
    anonymous_questions: Text = "",
    questions_to_set: Text = "",
    kept_to_set: Text = "",
    ground_rules: Text = "",
) -> Response:
    values = {
        "name": name,
        "video_link": video_link,
        "anonymous_questions": anonymous_questions,
        "questions_to_set": questions_to_set,
        "kept_to_set": kept_to_set,
        "ground_rules": ground_rules,
    }
    try:
        set_id = programmes.create_set(
            services.engine,
            programme_id=programme_id,
            settings=set_settings_from(values),
            ground_rules=ground_rules,
        )
    except AdminError as error:
        return _programme_page(
            services, programme_id, 400, errors={"set": said(error)}, set_form=values
        )
    return RedirectResponse(f"/sets/{set_id}/admin?done=created", status_code=303)


def _programme_page(
    services: ServicesDep,
    programme_id: str,
    status: int = 200,
    *,
    notice: str = "",
    errors: dict[str, str] | None = None,
    programme_form: dict[str, str] | None = None,
    set_form: dict[str, str] | None = None,
    organisation: str = "",
    lead_email: str = "",
) -> Response:
    overview = programmes.programme_overview(services.engine, programme_id=programme_id)
    current = {
        "name": overview.name,
        "meetings_planned": str(overview.meetings_planned),
        "cadence_weeks": str(overview.cadence_weeks),
        "attendance_target": str(overview.attendance_target),
    }
    return page(
        services,
        "programme.html",
        status,
        programme=overview,
        notice=notice,
        errors=errors or {},
        programme_form=programme_form or current,
        set_form=set_form or set_form_defaults(),
        organisation=organisation,
        lead_email=lead_email,
        meetings_bounds=programmes.MEETINGS,
        cadence_bounds=programmes.CADENCE_WEEKS,
        set_size=programmes.SET_SIZE,
    )
