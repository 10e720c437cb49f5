"""A member's pages between meetings: their chain of commitments and the updates they post on
them, the feedback form after a meeting, and their private learning log.

Access: every route is SetParticipant (a member or facilitator of the set the path names); what
each shows then depends on who asks. A member sees their own commitments, feedback and log
alone; a facilitator of the set sees every member's open commitments and their updates (to
prepare the next meeting), gives no feedback, and keeps a log of their own. A learning-log entry
is read by its author alone: every query takes the signed-in person's id.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Form
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from app.auth.principal import Principal
from app.db import commitments, feedback, learning_log, schedule
from app.db.commitments import CommitmentError
from app.db.feedback import FeedbackError
from app.db.learning_log import LogError
from app.db.meetings import current_meeting
from app.web.deps import ServicesDep, now_ms
from app.web.forms import page, said
from app.web.guard import SetParticipant
from app.web.language import N_
from app.web.render import REPORT_LABELS

router = APIRouter()

Text = Annotated[str, Form(max_length=20_000)]
Short = Annotated[str, Form(max_length=64)]

STATUS_LABELS: dict[str, str] = {s.value: label for s, label in REPORT_LABELS.items()}
RATING_QUESTIONS = (
    ("usefulness", N_("How useful was this meeting to you?"), N_("Not useful"), N_("Very useful")),
    ("safety", N_("How safe did you feel to speak openly?"), N_("Not safe"), N_("Very safe")),
    (
        "challenge",
        N_("How well did the set challenge you?"),
        N_("No challenge"),
        N_("Real challenge"),
    ),
)
LOG_NOTICES = {
    "added": N_("Kept in your log."),
    "edited": N_("Entry saved."),
    "deleted": N_("Entry deleted."),
}


def _room_link(services: ServicesDep, set_id: str) -> str:
    meeting = current_meeting(services.engine, set_id)
    return f"/meetings/{meeting.id}" if meeting is not None else ""


def _common(services: ServicesDep, who: Principal, set_id: str) -> dict[str, object]:
    return {
        "signed_in": who.account,
        "set_id": set_id,
        "set_name": schedule.set_schedule(services.engine, set_id=set_id).name,
        "room_link": _room_link(services, set_id),
        "facilitates": set_id in who.facilitates,
    }


# Commitments


@router.get("/meetings/{meeting_id}/commitments")
def meeting_commitments(meeting_id: str, _: SetParticipant, services: ServicesDep) -> Response:
    """The room knows its meeting alone: this takes its people to their set's commitments."""
    set_id = schedule.meeting_set(services.engine, meeting_id=meeting_id)
    return RedirectResponse(f"/sets/{set_id}/commitments", status_code=303)


@router.get("/sets/{set_id}/commitments", response_class=HTMLResponse)
def commitments_page(
    set_id: str, who: SetParticipant, services: ServicesDep, posted: str = ""
) -> Response:
    notice = (
        "Update posted: your set's facilitators will see it before the meeting." if posted else ""
    )
    return _commitments_page(services, who, set_id, notice=notice)


@router.post("/sets/{set_id}/commitments", response_class=HTMLResponse)
async def post_update(
    set_id: str,
    who: SetParticipant,
    services: ServicesDep,
    commitment_id: Annotated[str, Form(max_length=100)] = "",
    text: Text = "",
) -> Response:
    try:
        await asyncio.to_thread(
            commitments.post_update,
            services.engine,
            set_id=set_id,
            person_id=who.person_id,
            commitment_id=commitment_id,
            text=text,
            now=now_ms(),
        )
    except CommitmentError as error:
        return _commitments_page(
            services,
            who,
            set_id,
            400,
            errors={commitment_id or "form": said(error)},
            values={commitment_id: text},
        )
    anchor = f"#c-{commitment_id}".replace(".", "-")
    return RedirectResponse(f"/sets/{set_id}/commitments?posted=1{anchor}", status_code=303)


def _commitments_page(
    services: ServicesDep,
    who: Principal,
    set_id: str,
    status: int = 200,
    *,
    notice: str = "",
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
) -> HTMLResponse:
    engine = services.engine
    mine = commitments.my_commitments(engine, set_id=set_id, person_id=who.person_id)
    chain: list[tuple[int, list[commitments.Commitment]]] = []
    for item in mine:
        if not chain or chain[-1][0] != item.meeting_number:
            chain.append((item.meeting_number, []))
        chain[-1][1].append(item)
    team = (
        commitments.open_for_facilitators(engine, set_id=set_id)
        if set_id in who.facilitates
        else []
    )
    by_member: list[tuple[str, list[commitments.Commitment]]] = []
    for item in team:
        if not by_member or by_member[-1][1][0].owner_id != item.owner_id:
            by_member.append((item.owner_name, []))
        by_member[-1][1].append(item)
    open_ids = {c.id for c in mine if c.open}
    # An error on anything but one of the viewer's open commitments shows above the page.
    shown = {(k if k in open_ids else "form"): v for k, v in (errors or {}).items()}
    return page(
        services,
        "member_commitments.html",
        status,
        **_common(services, who, set_id),
        chain=chain,
        open_count=sum(1 for c in mine if c.open),
        by_member=by_member,
        due=feedback.feedback_due(engine, set_id=set_id, person_id=who.person_id, now=now_ms()),
        status_labels=STATUS_LABELS,
        max_update=commitments.MAX_UPDATE,
        notice=notice,
        errors=shown,
        values=values or {},
        anchor=lambda cid: "c-" + cid.replace(".", "-"),
    )


# Feedback


@router.get("/meetings/{meeting_id}/feedback", response_class=HTMLResponse)
def feedback_page(
    meeting_id: str, who: SetParticipant, services: ServicesDep, saved: str = ""
) -> Response:
    notice = N_("Thank you: your feedback is saved.") if saved else ""
    return _feedback_page(services, who, meeting_id, notice=notice)


@router.post("/meetings/{meeting_id}/feedback", response_class=HTMLResponse)
async def give_feedback(
    meeting_id: str,
    who: SetParticipant,
    services: ServicesDep,
    usefulness: Short = "",
    safety: Short = "",
    challenge: Short = "",
    comment: Text = "",
) -> Response:
    """Give or change feedback: a refusal because of who or when is 409 (the meeting is not
    closed, the form has closed, or the sender is a facilitator); a bad rating or comment is
    400. Either way nothing is stored."""
    values = {"usefulness": usefulness, "safety": safety, "challenge": challenge}
    values["comment"] = comment
    view = await asyncio.to_thread(
        feedback.feedback_view, services.engine, meeting_id=meeting_id, person_id=who.person_id
    )
    now = now_ms()
    if not view.is_member or not view.accepting(now):
        return _feedback_page(
            services, who, meeting_id, 409, error=_not_open(view, now), values=values
        )
    try:
        ratings = {name: feedback.rating(values[name], what=name) for name, *_ in RATING_QUESTIONS}
        await asyncio.to_thread(
            feedback.save_feedback,
            services.engine,
            meeting_id=meeting_id,
            person_id=who.person_id,
            comment=comment,
            now=now,
            **ratings,
        )
    except FeedbackError as error:
        return _feedback_page(services, who, meeting_id, 400, error=said(error), values=values)
    return RedirectResponse(f"/meetings/{meeting_id}/feedback?saved=1", status_code=303)


def _not_open(view: feedback.FeedbackView, now: int) -> str:
    if not view.is_member:
        return "Feedback is given by the set's members; facilitators give none."
    if not view.closed:
        return "Feedback opens when the meeting has closed."
    return f"Feedback on this meeting closed {feedback.FEEDBACK_DAYS} days after the meeting."


def _feedback_page(
    services: ServicesDep,
    who: Principal,
    meeting_id: str,
    status: int = 200,
    *,
    notice: str = "",
    error: str = "",
    values: dict[str, str] | None = None,
) -> HTMLResponse:
    set_id = schedule.meeting_set(services.engine, meeting_id=meeting_id)
    view = feedback.feedback_view(
        services.engine,
        meeting_id=meeting_id,
        person_id=who.person_id,
        with_comments=set_id in who.facilitates,
    )
    mine = view.mine
    current = {
        "usefulness": str(mine.usefulness) if mine else "",
        "safety": str(mine.safety) if mine else "",
        "challenge": str(mine.challenge) if mine else "",
        "comment": mine.comment if mine else "",
    }
    now = now_ms()
    return page(
        services,
        "member_feedback.html",
        status,
        **_common(services, who, view.set_id),
        f=view,
        accepting=view.is_member and view.accepting(now),
        not_open="" if view.is_member and view.accepting(now) else _not_open(view, now),
        questions=RATING_QUESTIONS,
        form=current | (values or {}),
        max_comment=feedback.MAX_COMMENT,
        notice=notice,
        error=error,
    )


# The learning log


@router.get("/meetings/{meeting_id}/log")
def meeting_log(meeting_id: str, _: SetParticipant, services: ServicesDep) -> Response:
    """The room knows its meeting alone: this takes its people to their own log in the set."""
    set_id = schedule.meeting_set(services.engine, meeting_id=meeting_id)
    return RedirectResponse(f"/sets/{set_id}/log", status_code=303)


@router.get("/sets/{set_id}/log", response_class=HTMLResponse)
def log_page(set_id: str, who: SetParticipant, services: ServicesDep, done: str = "") -> Response:
    return _log_page(services, who, set_id, notice=LOG_NOTICES.get(done, ""))


@router.post("/sets/{set_id}/log", response_class=HTMLResponse)
async def change_log(
    set_id: str,
    who: SetParticipant,
    services: ServicesDep,
    action: Short = "add",
    entry_id: Short = "",
    text: Text = "",
    meeting_id: Short = "",
) -> Response:
    """Add, edit or delete one of the signed-in person's own entries."""
    engine, person = services.engine, who.person_id
    try:
        if action == "add":
            await asyncio.to_thread(
                learning_log.add_entry,
                engine,
                set_id=set_id,
                person_id=person,
                text=text,
                meeting_id=meeting_id,
                now=now_ms(),
            )
            done = "added"
        elif action == "edit":
            await asyncio.to_thread(
                learning_log.edit_entry,
                engine,
                set_id=set_id,
                person_id=person,
                entry_id=entry_id,
                text=text,
                meeting_id=meeting_id,
                now=now_ms(),
            )
            done = "edited"
        elif action == "delete":
            await asyncio.to_thread(
                learning_log.delete_entry,
                engine,
                set_id=set_id,
                person_id=person,
                entry_id=entry_id,
            )
            done = "deleted"
        else:
            raise LogError(N_("Unknown action."))
    except LogError as error:
        editing = entry_id if action == "edit" else ""
        return _log_page(
            services,
            who,
            set_id,
            400,
            error=said(error),
            editing=editing,
            values={"text": text, "meeting_id": meeting_id},
        )
    return RedirectResponse(f"/sets/{set_id}/log?done={done}", status_code=303)


def _log_page(
    services: ServicesDep,
    who: Principal,
    set_id: str,
    status: int = 200,
    *,
    notice: str = "",
    error: str = "",
    editing: str = "",
    values: dict[str, str] | None = None,
) -> HTMLResponse:
    engine = services.engine
    meetings = learning_log.meetings_of(engine, set_id=set_id)
    return page(
        services,
        "member_log.html",
        status,
        **_common(services, who, set_id),
        entries=learning_log.my_entries(engine, set_id=set_id, person_id=who.person_id),
        meetings=meetings,
        numbers={m.id: m.number for m in meetings},
        max_entry=learning_log.MAX_ENTRY,
        notice=notice,
        error=error,
        editing=editing,
        values=values or {"text": "", "meeting_id": ""},
    )
