"""Running a set's people (its facilitators and its programme's leads): settings, members one by
one or from CSV, facilitators, and personal join links, shown once when issued."""

from __future__ import annotations

import asyncio
import csv
import io
from dataclasses import replace
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, File, Form, HTTPException, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from app.auth.principal import Principal
from app.db import members, programmes
from app.db.member_csv import MAX_BYTES, parse_members
from app.db.members import Issued
from app.db.programmes import AdminError
from app.web.deps import ServicesDep, now_ms
from app.web.forms import page, row_reason, said
from app.web.guard import SetAdmin, SetFacilitator
from app.web.language import N_
from app.web.programmes import set_settings_from

router = APIRouter()

Text = Annotated[str, Form()]

NOTICES = {
    "created": N_("Set created. Add its facilitators and members."),
    "saved": N_("Settings saved. Changes apply from the set's next meeting."),
    "facilitator": N_("Facilitator added."),
    "revoked": N_("Link revoked: it no longer opens the set, and anyone signed in with it is out."),
    "norevoke": N_("There was no working link to revoke."),
    "removed": N_("Removed from the set. Their links no longer work; their past records stay."),
}


def day(ms: int | None) -> str:
    if ms is None:
        return ""
    at = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return f"{at.day} {at:%b %Y}"


@router.get("/sets/{set_id}/admin", response_class=HTMLResponse)
def set_admin(set_id: str, who: SetAdmin, services: ServicesDep, done: str = "") -> Response:
    return _admin_page(services, who, set_id, notice=NOTICES.get(done, ""))


@router.post("/sets/{set_id}/settings", response_class=HTMLResponse)
def save_settings(
    set_id: str,
    who: SetAdmin,
    services: ServicesDep,
    name: Text = "",
    video_link: Text = "",
    anonymous_questions: Text = "",
    questions_to_set: Text = "",
    kept_to_set: Text = "",
) -> Response:
    values = {
        "name": name,
        "video_link": video_link,
        "anonymous_questions": anonymous_questions,
        "questions_to_set": questions_to_set,
        "kept_to_set": kept_to_set,
    }
    try:
        programmes.update_set(services.engine, set_id=set_id, settings=set_settings_from(values))
    except AdminError as error:
        return _admin_page(
            services, who, set_id, 400, errors={"settings": said(error)}, settings_form=values
        )
    return RedirectResponse(f"/sets/{set_id}/admin?done=saved", status_code=303)


@router.post("/sets/{set_id}/members", response_class=HTMLResponse)
async def add_member(
    set_id: str,
    who: SetAdmin,
    services: ServicesDep,
    name: Text = "",
    email: Text = "",
    organisation: Text = "",
) -> Response:
    try:
        issued = await asyncio.to_thread(
            members.add_member,
            services.engine,
            set_id=set_id,
            name=name,
            email=email,
            organisation=organisation,
            now=now_ms(),
            days=services.settings.join_link_days,
        )
    except AdminError as error:
        values = {"name": name, "email": email, "organisation": organisation}
        return _admin_page(
            services, who, set_id, 400, errors={"member": said(error)}, member_form=values
        )
    await services.rooms.follow_membership(set_id)
    return _links_page(services, who, set_id, [issued], added=True)


@router.post("/sets/{set_id}/facilitators", response_class=HTMLResponse)
async def add_facilitator(
    set_id: str, who: SetAdmin, services: ServicesDep, email: Text = ""
) -> Response:
    try:
        members.add_facilitator(services.engine, set_id=set_id, email=email)
    except AdminError as error:
        return _admin_page(
            services, who, set_id, 400, errors={"facilitator": said(error)}, facilitator_email=email
        )
    await services.rooms.follow_membership(set_id)
    return RedirectResponse(f"/sets/{set_id}/admin?done=facilitator", status_code=303)


@router.post("/sets/{set_id}/people/{person_id}/link", response_class=HTMLResponse)
async def new_link(
    set_id: str, person_id: str, who: SetFacilitator, services: ServicesDep
) -> Response:
    """Only a facilitator gives out links: a link opens the room, which a lead may not see."""
    try:
        issued = await asyncio.to_thread(
            members.reissue_link,
            services.engine,
            set_id=set_id,
            person_id=person_id,
            now=now_ms(),
            days=services.settings.join_link_days,
        )
    except AdminError as error:
        raise HTTPException(status_code=404, detail=said(error)) from None
    await services.rooms.follow_membership(set_id, revoked=person_id)
    return _links_page(services, who, set_id, [issued], added=False)


@router.post("/sets/{set_id}/links", response_class=HTMLResponse)
async def new_links_for_all(set_id: str, who: SetFacilitator, services: ServicesDep) -> Response:
    """Fresh links for every member (after a lead's import, say), shown this once."""
    issued = await asyncio.to_thread(
        members.reissue_all_links,
        services.engine,
        set_id=set_id,
        now=now_ms(),
        days=services.settings.join_link_days,
    )
    for item in issued:
        await services.rooms.follow_membership(set_id, revoked=item.person_id)
    return _links_page(services, who, set_id, issued, added=False)


@router.post("/sets/{set_id}/people/{person_id}/revoke")
async def revoke_link(set_id: str, person_id: str, _: SetAdmin, services: ServicesDep) -> Response:
    try:
        count = await asyncio.to_thread(
            members.revoke_links, services.engine, set_id=set_id, person_id=person_id, now=now_ms()
        )
    except AdminError as error:
        raise HTTPException(status_code=404, detail=said(error)) from None
    await services.rooms.follow_membership(set_id, revoked=person_id)
    done = "revoked" if count else "norevoke"
    return RedirectResponse(f"/sets/{set_id}/admin?done={done}", status_code=303)


@router.post("/sets/{set_id}/people/{person_id}/remove", response_class=HTMLResponse)
async def remove(set_id: str, person_id: str, who: SetAdmin, services: ServicesDep) -> Response:
    if members.person_in_set(services.engine, set_id=set_id, person_id=person_id) is None:
        raise HTTPException(status_code=404, detail=N_("That person is not in this set."))
    try:
        await asyncio.to_thread(
            members.remove_person,
            services.engine,
            set_id=set_id,
            person_id=person_id,
            now=now_ms(),
        )
    except AdminError as error:
        return _admin_page(services, who, set_id, 400, errors={"people": said(error)})
    await services.rooms.follow_membership(set_id, revoked=person_id)
    return RedirectResponse(f"/sets/{set_id}/admin?done=removed", status_code=303)


@router.get("/sets/{set_id}/import", response_class=HTMLResponse)
def import_form(set_id: str, _: SetAdmin, services: ServicesDep) -> Response:
    return _import_page(services, set_id)


@router.post("/sets/{set_id}/import", response_class=HTMLResponse)
async def import_csv(
    set_id: str,
    who: SetAdmin,
    services: ServicesDep,
    file: Annotated[UploadFile | None, File()] = None,
    text: Text = "",
) -> Response:
    data: bytes | str = text
    if file is not None and file.filename:
        data = await file.read(MAX_BYTES + 1)
        await file.close()
        text = ""
    if not data or (isinstance(data, str) and not data.strip()):
        return _import_page(
            services, set_id, 400, problem="Choose a CSV file, or paste the list into the box."
        )
    taken = await asyncio.to_thread(members.set_emails, services.engine, set_id=set_id)
    parsed = parse_members(data, existing_emails=taken)
    if not parsed.ok:
        shown = tuple(replace(e, reason=row_reason(e)) for e in parsed.errors)
        return _import_page(services, set_id, 400, errors=shown, text=text)
    try:
        issued = await asyncio.to_thread(
            members.import_members,
            services.engine,
            set_id=set_id,
            rows=parsed.rows,
            now=now_ms(),
            days=services.settings.join_link_days,
        )
    except AdminError as error:
        return _import_page(services, set_id, 400, problem=said(error), text=text)
    await services.rooms.follow_membership(set_id)
    return _links_page(services, who, set_id, issued, added=True)


def _admin_page(
    services: ServicesDep,
    who: Principal,
    set_id: str,
    status: int = 200,
    *,
    notice: str = "",
    errors: dict[str, str] | None = None,
    settings_form: dict[str, str] | None = None,
    member_form: dict[str, str] | None = None,
    facilitator_email: str = "",
) -> Response:
    view = members.set_admin_view(services.engine, set_id=set_id, now=now_ms())
    current = programmes.settings_of(view.set)
    return page(
        services,
        "set_admin.html",
        status,
        view=view,
        notice=notice,
        errors=errors or {},
        leads_programme=view.programme_id is not None and view.programme_id in who.leads,
        gives_links=set_id in who.facilitates,
        settings_form=settings_form
        or {
            "name": current.name,
            "video_link": current.video_link,
            "anonymous_questions": "yes" if current.anonymous_questions else "no",
            "questions_to_set": "yes" if current.questions_to_set else "no",
            "kept_to_set": "yes" if current.kept_to_set else "no",
        },
        member_form=member_form or {"name": "", "email": "", "organisation": ""},
        facilitator_email=facilitator_email,
        set_size=programmes.SET_SIZE,
        day=day,
        me=who.person_id,
    )


def _import_page(
    services: ServicesDep,
    set_id: str,
    status: int = 200,
    *,
    errors: tuple[object, ...] = (),
    problem: str = "",
    text: str = "",
) -> Response:
    view = members.set_admin_view(services.engine, set_id=set_id, now=now_ms())
    return page(
        services,
        "set_import.html",
        status,
        view=view,
        row_errors=errors,
        problem=problem,
        text=text,
        max_kib=MAX_BYTES // 1024,
    )


def _links_page(
    services: ServicesDep, who: Principal, set_id: str, issued: list[Issued], *, added: bool
) -> Response:
    """The links just issued, shown this once (the page is never cached) — to a facilitator of
    the set only: a link opens the room, and a lead sees counts and rates, never the room."""
    view = members.set_admin_view(services.engine, set_id=set_id, now=now_ms())
    if set_id not in who.facilitates:
        issued = []
    base = services.settings.public_url.rstrip("/")
    links = [(item, f"{base}/j/{item.token}") for item in issued]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["name", "email", "link"])
    for item, url in links:
        writer.writerow([_cell(item.name), _cell(item.email), url])
    return page(
        services,
        "set_links.html",
        view=view,
        links=links,
        added=added,
        links_csv=out.getvalue(),
    )


def _cell(value: str) -> str:
    """A spreadsheet must not read a name as a formula (CSV injection)."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value
