"""A set's meetings over time: the schedule and its calendar (.ics), the rota of who
facilitates each meeting, the template editor, and the ground rules members accept before
their first meeting.

Access: the schedule and the template are the set's administration (SetAdmin: its
facilitators and its programme's leads); choosing who facilitates a meeting hands them the
controls in that meeting's log, which only a facilitator of the set can do (SetFacilitator);
the calendar and accepting the ground rules are for the set's participants (SetParticipant).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Annotated, Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import icalendar
from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup

from app.auth.principal import Principal
from app.db import schedule
from app.db.meetings import current_meeting
from app.db.schedule import ScheduleError, SetSchedule
from app.domain import commands as c
from app.domain.errors import DomainError, NotNow
from app.domain.model import ROUND_KINDS, Actor, PhaseKind, Role
from app.domain.templates import (
    DEFAULT_TEMPLATE,
    MAX_TEMPLATE_PHASES,
    PhaseSpec,
    TemplateInvalid,
    checked_template,
)
from app.web.deps import ServicesDep, now_ms
from app.web.forms import said
from app.web.guard import SetAdmin, SetFacilitator, SetParticipant
from app.web.language import N_, translate

router = APIRouter()

NO_STORE = {"Cache-Control": "no-store"}

ZONES: tuple[str, ...] = (
    "Europe/London",
    "UTC",
    "Europe/Dublin",
    "Europe/Paris",
    "Europe/Berlin",
    "America/New_York",
    "America/Chicago",
    "America/Los_Angeles",
    "Asia/Kolkata",
    "Australia/Sydney",
)
"""Time zones the schedule's forms offer; times are stored (and exported) in UTC."""
DEFAULT_ZONE = ZONES[0]

MIN_DURATION, MAX_DURATION = 15, 720

STATUS_LABELS = {"not_started": N_("Planned"), "live": N_("Live now"), "closed": N_("Closed")}

KIND_LABELS: dict[PhaseKind, str] = {
    PhaseKind.CHECK_IN: N_("Round: check-in"),
    PhaseKind.REPORT_BACK: N_("Round: report-back"),
    PhaseKind.BIDDING: N_("Bidding for time"),
    PhaseKind.TURNS: N_("Presenter turns"),
    PhaseKind.PROCESS_REVIEW: N_("Round: process review"),
    PhaseKind.CHECK_OUT: N_("Round: check-out"),
    PhaseKind.CUSTOM: N_("Open discussion"),
}

KIND_TITLES: dict[PhaseKind, str] = {
    PhaseKind.CHECK_IN: "Check-in",
    PhaseKind.REPORT_BACK: "Report-back",
    PhaseKind.BIDDING: "Bidding for time",
    PhaseKind.TURNS: "Presenter turns",
    PhaseKind.PROCESS_REVIEW: "Process review",
    PhaseKind.CHECK_OUT: "Check-out",
}


# The schedule


@router.get("/sets/{set_id}/meetings", response_class=HTMLResponse)
def schedule_page(
    set_id: str, who: SetAdmin, services: ServicesDep, zone: str = DEFAULT_ZONE
) -> Response:
    return _schedule_page(services, who, set_id, _zone(zone))


@router.post("/sets/{set_id}/meetings", response_class=HTMLResponse)
async def schedule_next(
    set_id: str,
    who: SetAdmin,
    services: ServicesDep,
    day: Annotated[str, Form(max_length=20)] = "",
    start: Annotated[str, Form(max_length=20)] = "",
    duration: Annotated[str, Form(max_length=10)] = "",
    zone: Annotated[str, Form(max_length=64)] = DEFAULT_ZONE,
    rota: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    values = {"day": day, "start": start, "duration": duration, "rota": rota}
    try:
        at, minutes = _when(day, start, duration, zone)
        rota_person = rota or None
        if rota_person is not None and set_id not in who.facilitates:
            raise ScheduleError(N_("Only a facilitator of the set chooses who facilitates."))
        meeting_id = await asyncio.to_thread(
            schedule.schedule_meeting,
            services.engine,
            set_id=set_id,
            scheduled_at=at,
            duration_minutes=minutes,
            rota_person_id=rota_person,
            now=now_ms(),
        )
    except ScheduleError as error:
        return _schedule_page(
            services, who, set_id, _zone(zone), 400, errors={"new": said(error)}, values=values
        )
    await _show_next_date(services, meeting_id)
    return _back_to_schedule(set_id, zone)


@router.post("/meetings/{meeting_id}/schedule", response_class=HTMLResponse)
async def reschedule(
    meeting_id: str,
    who: SetAdmin,
    services: ServicesDep,
    day: Annotated[str, Form(max_length=20)] = "",
    start: Annotated[str, Form(max_length=20)] = "",
    duration: Annotated[str, Form(max_length=10)] = "",
    zone: Annotated[str, Form(max_length=64)] = DEFAULT_ZONE,
) -> Response:
    """A new date or length for a meeting not yet started: an event in its log (the room shows
    it at once; the meeting's row follows from it), and the date the meeting before shows as
    its next."""
    engine = services.engine
    set_id = await asyncio.to_thread(schedule.meeting_set, engine, meeting_id=meeting_id)
    try:
        at, minutes = _when(day, start, duration, zone)
        await asyncio.to_thread(schedule.check_reschedule, engine, meeting_id=meeting_id)
        dates = await asyncio.to_thread(schedule.dates_of, engine, meeting_id=meeting_id)
        command = c.Reschedule(
            scheduled_at=at, planned_minutes=minutes, next_meeting_at=dates.next_meeting_at
        )
        await _record(services, meeting_id, command)
    except ScheduleError as error:
        return _schedule_page(
            services, who, set_id, _zone(zone), 400, errors={meeting_id: said(error)}
        )
    await _show_next_date(services, meeting_id)
    return _back_to_schedule(set_id, zone)


async def _show_next_date(services: ServicesDep, meeting_id: str) -> None:
    """Tell the meeting before this one its next date (its summary shows it)."""
    engine = services.engine
    before = await asyncio.to_thread(schedule.previous_meeting, engine, meeting_id=meeting_id)
    if before is None:
        return
    dates = await asyncio.to_thread(schedule.dates_of, engine, meeting_id=before)
    command = c.Reschedule(
        scheduled_at=dates.scheduled_at,
        planned_minutes=dates.duration_minutes,
        next_meeting_at=dates.next_meeting_at,
    )
    with contextlib.suppress(ScheduleError):  # its own page shows its own dates regardless
        await _record(services, before, command)


async def _record(services: ServicesDep, meeting_id: str, command: c.Reschedule) -> None:
    try:
        await services.rooms.handle(meeting_id, Actor.system(), command)
    except NotNow:
        pass  # the log says so already
    except DomainError as refused:
        raise ScheduleError(refused.template, **refused.params) from None
    except LookupError:
        raise ScheduleError(N_("This meeting's log cannot be read; try again.")) from None


@router.post("/meetings/{meeting_id}/rota", response_class=HTMLResponse)
async def set_rota(
    meeting_id: str,
    who: SetFacilitator,
    services: ServicesDep,
    rota: Annotated[str, Form(max_length=64)] = "",
    zone: Annotated[str, Form(max_length=64)] = DEFAULT_ZONE,
) -> Response:
    """Put a member (or "" for the facilitator) on this meeting's rota. The meeting's log
    records it as the acting facilitator handing over the controls (or taking them back), so
    the room and its rules follow the same authority as a hand-over made in the room."""
    engine = services.engine
    set_id = await asyncio.to_thread(schedule.meeting_set, engine, meeting_id=meeting_id)
    person = rota or None
    try:
        await asyncio.to_thread(
            schedule.check_rota, engine, meeting_id=meeting_id, person_id=person
        )
        command: c.AnyCommand = c.HandOver(member=person) if person else c.TakeBack()
        actor = Actor(participant=who.person_id, role=Role.FACILITATOR)
        try:
            await services.rooms.handle(meeting_id, actor, command)
        except NotNow:
            pass  # the log already says so: that member holds the controls, or nobody does
        except DomainError as refused:
            raise ScheduleError(refused.template, **refused.params) from None
        except LookupError:
            raise ScheduleError(N_("This meeting's log cannot be read; try again.")) from None
        await asyncio.to_thread(schedule.save_rota, engine, meeting_id=meeting_id, person_id=person)
    except ScheduleError as error:
        return _schedule_page(
            services, who, set_id, _zone(zone), 400, errors={f"rota-{meeting_id}": said(error)}
        )
    return _back_to_schedule(set_id, zone)


# The calendar

CALENDAR: dict[int | str, dict[str, Any]] = {
    200: {"description": "iCalendar", "content": {"text/calendar": {}}}
}
"""The OpenAPI entry of a calendar route (pages are HTML unless a route says otherwise)."""


@router.get("/sets/{set_id}/calendar.ics", response_class=Response, responses=CALENDAR)
def set_calendar(set_id: str, _: SetParticipant, services: ServicesDep) -> Response:
    return _calendar(services, set_id)


@router.get("/meetings/{meeting_id}/calendar.ics", response_class=Response, responses=CALENDAR)
def meeting_calendar(meeting_id: str, _: SetParticipant, services: ServicesDep) -> Response:
    """The calendar of the meeting's set: the room links here, as it knows only its meeting."""
    return _calendar(services, schedule.meeting_set(services.engine, meeting_id=meeting_id))


def _calendar(services: ServicesDep, set_id: str) -> Response:
    data = schedule.set_schedule(services.engine, set_id=set_id)
    body = build_calendar(data, public_url=services.settings.public_url, now=now_ms())
    filename = re.sub(r"[^A-Za-z0-9]+", "-", data.name).strip("-").lower() or "set"
    return Response(
        body,
        media_type="text/calendar; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}.ics"',
            "Cache-Control": "private, no-store",
        },
    )


def build_calendar(data: SetSchedule, *, public_url: str, now: int) -> bytes:
    """One VEVENT per dated meeting, in UTC. It says where to join (the service's address and
    the call) and never carries a join link: the file is easily forwarded. Its words are in the
    language of the request (the person's own choice first, app.web.language)."""
    base = public_url.rstrip("/")
    host = urlsplit(base).hostname or "setroom"
    call = _safe_link(data.video_link)
    cal = icalendar.Calendar()
    cal.add("prodid", "-//Setroom//Action Learning Sets//EN")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", data.name)
    stamp = _utc(now)
    for meeting in data.meetings:
        if meeting.scheduled_at is None:
            continue
        event = icalendar.Event()
        event.add("uid", f"meeting-{meeting.id}@{host}")
        event.add("dtstamp", stamp)
        event.add("dtstart", _utc(meeting.scheduled_at))
        event.add("dtend", _utc(meeting.scheduled_at + meeting.duration_minutes * 60_000))
        event.add(
            "summary", translate("{set}: meeting {number}", set=data.name, number=meeting.number)
        )
        lines = [
            translate(
                "Action learning set meeting {number} of {set}.",
                number=meeting.number,
                set=data.name,
            ),
            translate(
                "Join the room in Setroom at {address} with your personal link "
                "(from your invitation), or sign in if you facilitate.",
                address=base + "/",
            ),
        ]
        if call:
            lines.append(translate("Voice and video: {call}", call=call))
            event.add("location", call)
            event.add("url", call)
        event.add("description", "\n".join(lines))
        cal.add_component(event)
    return bytes(cal.to_ical())


# The template editor


@router.get("/sets/{set_id}/template", response_class=HTMLResponse)
def template_page(set_id: str, who: SetAdmin, services: ServicesDep, saved: str = "") -> Response:
    template, source = schedule.set_template(services.engine, set_id=set_id)
    notice = N_("Saved. The next meeting you schedule follows this plan.") if saved else ""
    return _template_page(services, who, set_id, template, source, notice=notice)


@router.post("/sets/{set_id}/template", response_class=HTMLResponse)
async def edit_template(
    set_id: str, who: SetAdmin, services: ServicesDep, request: Request
) -> Response:
    form = await request.form(max_fields=200, max_files=0)
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    action = fields.get("action", "save")
    rows = _posted_rows(fields)
    try:
        if action == "reset":
            await asyncio.to_thread(
                schedule.save_template, services.engine, set_id=set_id, template=None
            )
            return RedirectResponse(f"/sets/{set_id}/template?saved=1", status_code=303)
        rows = _edited(rows, action, fields)
        template = checked_template(rows)
    except TemplateInvalid as error:
        _, source = schedule.set_template(services.engine, set_id=set_id)
        return _template_page(
            services, who, set_id, _lenient(rows), source, 400, error=str(error), raw_rows=rows
        )
    await asyncio.to_thread(
        schedule.save_template, services.engine, set_id=set_id, template=template
    )
    return RedirectResponse(f"/sets/{set_id}/template?saved=1", status_code=303)


def _posted_rows(fields: dict[str, str]) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for i in range(MAX_TEMPLATE_PHASES + 1):
        kind = fields.get(f"kind_{i}")
        if kind is None:
            break
        rows.append(
            {
                "kind": kind,
                "title": fields.get(f"title_{i}", ""),
                "minutes": fields.get(f"minutes_{i}", "").strip() or "0",
            }
        )
    return rows


def _edited(
    rows: list[dict[str, object]], action: str, fields: dict[str, str]
) -> list[dict[str, object]]:
    """The rows after the button pressed: save, up:i, down:i, remove:i or add."""
    rows = list(rows)
    verb, _, index_text = action.partition(":")
    if verb in ("up", "down", "remove"):
        if not index_text.isdigit() or int(index_text) >= len(rows):
            raise TemplateInvalid(N_("That phase is not in the plan any more; look again."))
        i = int(index_text)
        if verb == "remove":
            rows.pop(i)
        else:
            j = i - 1 if verb == "up" else i + 1
            if not 0 <= j < len(rows):
                raise TemplateInvalid(N_("That phase cannot move further."))
            rows[i], rows[j] = rows[j], rows[i]
    elif verb == "add":
        kind_text = fields.get("new_kind", PhaseKind.CUSTOM.value)
        try:
            kind = PhaseKind(kind_text)
        except ValueError:
            raise TemplateInvalid(N_("Choose the kind of phase to add.")) from None
        title = fields.get("new_title", "").strip() or KIND_TITLES.get(kind, "")
        if not title:
            raise TemplateInvalid(N_("Give the new phase a title."))
        minutes = fields.get("new_minutes", "").strip() or "0"
        rows.append({"kind": kind.value, "title": title, "minutes": minutes})
    elif verb != "save":
        raise TemplateInvalid(N_("Unknown action."))
    return rows


def _lenient(rows: list[dict[str, object]]) -> list[PhaseSpec]:
    """The posted rows as phases for showing them again (bad values become harmless)."""
    specs = []
    for row in rows[: MAX_TEMPLATE_PHASES + 1]:
        try:
            kind = PhaseKind(str(row["kind"]))
        except ValueError:
            kind = PhaseKind.CUSTOM
        minutes = str(row["minutes"])
        specs.append(
            PhaseSpec(
                kind=kind,
                title=str(row["title"])[:200],
                minutes=int(minutes) if minutes.isdigit() and len(minutes) < 4 else 0,
            )
        )
    return specs


@dataclass(frozen=True)
class _Row:
    index: int
    kind: PhaseKind
    kind_label: str
    title: str
    minutes: str
    per_person: bool
    by_bids: bool


def _template_page(
    services: ServicesDep,
    who: Principal,
    set_id: str,
    template: tuple[PhaseSpec, ...] | list[PhaseSpec],
    source: str,
    status: int = 200,
    *,
    error: str = "",
    notice: str = "",
    raw_rows: list[dict[str, object]] | None = None,
) -> HTMLResponse:
    data = schedule.set_schedule(services.engine, set_id=set_id)
    phases = [p for p in template if p.kind is not PhaseKind.CLOSE]
    rows = [
        _Row(
            index=i,
            kind=p.kind,
            kind_label=KIND_LABELS.get(p.kind, p.kind.value),
            title=str(raw_rows[i]["title"]) if raw_rows else p.title,
            minutes=str(raw_rows[i]["minutes"]) if raw_rows else str(p.minutes),
            per_person=p.kind in ROUND_KINDS,
            by_bids=p.kind is PhaseKind.TURNS,
        )
        for i, p in enumerate(phases)
    ]
    kinds = {p.kind for p in phases}
    addable = [(PhaseKind.CUSTOM, N_("Open discussion (one timer)"))] + [
        (k, KIND_LABELS[k])
        for k in (
            PhaseKind.CHECK_IN,
            PhaseKind.REPORT_BACK,
            PhaseKind.BIDDING,
            PhaseKind.TURNS,
            PhaseKind.PROCESS_REVIEW,
            PhaseKind.CHECK_OUT,
        )
        if k in ROUND_KINDS or k not in kinds
    ]
    members = len(data.members)
    duration = data.meetings[-1].duration_minutes if data.meetings else 180
    before_turns = sum(
        p.minutes * members if p.kind in ROUND_KINDS else p.minutes
        for p in phases
        if p.kind is not PhaseKind.TURNS
    )
    html = services.renderer.render(
        "set_template.html",
        signed_in=True,
        s=data,
        rows=rows,
        source=source,
        is_default=tuple(phases)
        == tuple(p for p in DEFAULT_TEMPLATE if p.kind is not PhaseKind.CLOSE),
        addable=addable,
        max_phases=MAX_TEMPLATE_PHASES,
        members=members,
        duration=duration,
        before_turns=before_turns,
        error=error,
        notice=notice,
        facilitates=set_id in who.facilitates,
    )
    return HTMLResponse(html, status_code=status, headers=NO_STORE)


# Ground rules


@router.post("/sets/{set_id}/ground-rules", response_class=HTMLResponse)
def save_ground_rules(
    set_id: str,
    who: SetAdmin,
    services: ServicesDep,
    rules: Annotated[str, Form(max_length=20_000)] = "",
    ask_again: Annotated[str, Form(max_length=10)] = "",
    zone: Annotated[str, Form(max_length=64)] = DEFAULT_ZONE,
) -> Response:
    if len(rules.strip()) > 5000:
        return _schedule_page(
            services,
            who,
            set_id,
            _zone(zone),
            400,
            errors={"rules": "Keep the ground rules under 5,000 characters."},
            values={"rules": rules},
        )
    text = "" if rules.strip() == schedule.DEFAULT_GROUND_RULES else rules
    schedule.save_ground_rules(services.engine, set_id=set_id, text=text, ask_again=bool(ask_again))
    return RedirectResponse(f"/sets/{set_id}/meetings?zone={_zone(zone)}#rules", status_code=303)


@router.post("/sets/{set_id}/ground-rules/accept")
def accept_ground_rules(
    set_id: str,
    who: SetParticipant,
    services: ServicesDep,
    meeting: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """Record the member's acceptance, then take them into the room they were going to."""
    schedule.accept_rules(services.engine, set_id=set_id, person_id=who.person_id, now=now_ms())
    target = "/"
    if meeting and _in_set(services, meeting, set_id):
        target = f"/meetings/{meeting}"
    else:
        current = current_meeting(services.engine, set_id)
        if current is not None:
            target = f"/meetings/{current.id}"
    return RedirectResponse(target, status_code=303)


def _in_set(services: ServicesDep, meeting_id: str, set_id: str) -> bool:
    try:
        return schedule.meeting_set(services.engine, meeting_id=meeting_id) == set_id
    except ScheduleError:
        return False


def ground_rules_page(services: ServicesDep, rules: schedule.GroundRules, meeting_id: str) -> str:
    """What a member who has not accepted the set's ground rules sees instead of the room."""
    return services.renderer.render(
        "ground_rules.html",
        signed_in=False,
        rules=rules,
        paragraphs=[p.strip() for p in rules.text.splitlines() if p.strip()],
        meeting_id=meeting_id,
    )


# Pages and helpers


def _schedule_page(
    services: ServicesDep,
    who: Principal,
    set_id: str,
    zone: str,
    status: int = 200,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
) -> HTMLResponse:
    data = schedule.set_schedule(services.engine, set_id=set_id)
    tz = ZoneInfo(zone)
    next_at, next_minutes = data.next_defaults(now_ms())
    next_local = datetime.fromtimestamp(next_at / 1000, tz=tz)
    defaults = {
        "day": next_local.date().isoformat(),
        "start": next_local.strftime("%H:%M"),
        "duration": str(next_minutes),
        "rota": "",
    }
    names = {p.person_id: p.name for p in data.people}

    def local(ms: int | None) -> Markup:
        if ms is None:
            return Markup("")
        at = datetime.fromtimestamp(ms / 1000, tz=tz)
        text = f"{at:%a} {at.day} {at:%b %Y, %H:%M} {at.tzname()}"
        return Markup('<time datetime="{}">{}</time>').format(at.isoformat(), text)

    def local_day(ms: int) -> Markup:
        at = datetime.fromtimestamp(ms / 1000, tz=tz)
        return Markup('<time datetime="{}">{}</time>').format(
            at.isoformat(), f"{at.day} {at:%b %Y}"
        )

    def field_values(ms: int | None) -> dict[str, str]:
        if ms is None:
            return {"day": "", "start": ""}
        at = datetime.fromtimestamp(ms / 1000, tz=tz)
        return {"day": at.date().isoformat(), "start": at.strftime("%H:%M")}

    html = services.renderer.render(
        "set_schedule.html",
        signed_in=True,
        s=data,
        zone=zone,
        zones=ZONES,
        local=local,
        local_day=local_day,
        field_values=field_values,
        form=defaults | (values or {}),
        errors=errors or {},
        names=names,
        status_labels=STATUS_LABELS,
        facilitates=set_id in who.facilitates,
        next_number=len(data.meetings) + 1,
        min_duration=MIN_DURATION,
        max_duration=MAX_DURATION,
        default_rules=schedule.DEFAULT_GROUND_RULES,
        accepted=sum(1 for m in data.members if m.rules_accepted_at is not None),
    )
    return HTMLResponse(html, status_code=status, headers=NO_STORE)


def _back_to_schedule(set_id: str, zone: str) -> RedirectResponse:
    return RedirectResponse(f"/sets/{set_id}/meetings?zone={_zone(zone)}", status_code=303)


def _zone(name: str) -> str:
    return name if name in ZONES else DEFAULT_ZONE


def _when(day: str, start: str, duration: str, zone: str) -> tuple[int, int]:
    """A local date and start time in `zone`, as epoch ms (UTC), and the minutes it lasts."""
    if zone not in ZONES:
        raise ScheduleError(N_("Choose a time zone from the list."))
    try:
        on = date.fromisoformat(day.strip())
    except ValueError:
        raise ScheduleError(N_("Give the date as a day of the calendar (YYYY-MM-DD).")) from None
    if not 2000 <= on.year <= 2100:
        raise ScheduleError(N_("Give a date between the years 2000 and 2100."))
    if not re.fullmatch(r"\d{1,2}:\d{2}", start.strip()):
        raise ScheduleError(N_("Give the start time as hours and minutes (HH:MM)."))
    try:
        at = time.fromisoformat(start.strip().zfill(5))
    except ValueError:
        raise ScheduleError(N_("Give the start time as hours and minutes (HH:MM).")) from None
    text = duration.strip()
    if not text.isdigit() or not MIN_DURATION <= int(text) <= MAX_DURATION:
        raise ScheduleError(
            "The meeting lasts from {low} to {high} minutes: give a whole number.",
            low=MIN_DURATION,
            high=MAX_DURATION,
        )
    local = datetime.combine(on, at, tzinfo=ZoneInfo(zone))
    return int(local.timestamp() * 1000), int(text)


def _utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def _safe_link(url: str) -> str:
    return url if url.startswith(("https://", "http://")) else ""
