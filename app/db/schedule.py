"""A set's meetings over time: its schedule and calendar, the rota of who facilitates each
meeting, its template of phases for meetings still to be created, and its ground rules."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from app.db.meetings import create_meeting, template_for
from app.db.refusal import Refusal
from app.db.tables import LearningSet, Meeting, Membership, Organisation, Person, Programme
from app.domain.model import Role
from app.domain.templates import DEFAULT_TEMPLATE, PhaseSpec, template_from_json, template_json
from app.domain.text import N_

WEEK_MS = 7 * 86_400_000

DEFAULT_GROUND_RULES = """\
Confidentiality: what is said in the set stays in the set. We may share what we learned, never \
who said what or whose issue it was.
Questions, not advice: we help each presenter think by asking open questions; we do not tell \
them what to do.
Attendance: we come to every meeting and stay for all of it. If we cannot come, we send our \
apologies to the facilitator beforehand.
The presenter owns their issue: they decide what to work on, what to take from the questions \
and what they will do next.
We give each speaker our full attention and keep to the time we agreed."""
"""The contract a set uses until its facilitator writes its own."""


class ScheduleError(Refusal):
    """A request the schedule refuses, with a sentence to show next to the form."""


@dataclass(frozen=True)
class MeetingRow:
    id: str
    number: int
    scheduled_at: int | None
    duration_minutes: int
    status: str
    rota_person_id: str | None

    @property
    def not_started(self) -> bool:
        return self.status == "not_started"


@dataclass(frozen=True)
class MemberRow:
    person_id: str
    name: str
    organisation: str
    role: str
    rules_accepted_at: int | None


@dataclass(frozen=True)
class SetSchedule:
    set_id: str
    name: str
    programme_name: str
    video_link: str
    cadence_weeks: int
    meetings_planned: int | None
    meetings: list[MeetingRow]
    people: list[MemberRow]
    ground_rules: str
    """The set's own contract ("" when it uses DEFAULT_GROUND_RULES)."""

    @property
    def members(self) -> list[MemberRow]:
        return [p for p in self.people if p.role == Role.MEMBER.value]

    @property
    def facilitators(self) -> list[MemberRow]:
        return [p for p in self.people if p.role == Role.FACILITATOR.value]

    @property
    def rules(self) -> str:
        return self.ground_rules.strip() or DEFAULT_GROUND_RULES

    def next_defaults(self, now: int) -> tuple[int, int]:
        """(start, duration) offered for the next meeting: the last dated meeting plus the
        programme's cadence, else a week from now; the last meeting's duration."""
        dated = [m for m in self.meetings if m.scheduled_at is not None]
        duration = self.meetings[-1].duration_minutes if self.meetings else 180
        if dated:
            last = dated[-1].scheduled_at or 0
            return last + self.cadence_weeks * WEEK_MS, duration
        return now + WEEK_MS, duration


def set_schedule(engine: Engine, *, set_id: str) -> SetSchedule:
    with Session(engine) as session:
        learning_set = _set(session, set_id)
        programme = (
            session.get(Programme, learning_set.programme_id) if learning_set.programme_id else None
        )
        meetings = session.exec(
            select(Meeting).where(Meeting.set_id == set_id).order_by(col(Meeting.number))
        ).all()
        people = session.exec(
            select(Membership, Person, Organisation)
            .join(Person, col(Person.id) == col(Membership.person_id))
            .join(Organisation, col(Organisation.id) == col(Person.organisation_id), isouter=True)
            .where(Membership.set_id == set_id)
            .order_by(col(Membership.role), col(Person.name))
        ).all()
        return SetSchedule(
            set_id=set_id,
            name=learning_set.name,
            programme_name=programme.name if programme else "",
            video_link=learning_set.video_link,
            cadence_weeks=programme.cadence_weeks if programme else 4,
            meetings_planned=programme.meetings_planned if programme else None,
            meetings=[
                MeetingRow(
                    id=m.id,
                    number=m.number,
                    scheduled_at=m.scheduled_at,
                    duration_minutes=m.duration_minutes,
                    status=m.status,
                    rota_person_id=m.rota_person_id,
                )
                for m in meetings
            ],
            people=[
                MemberRow(
                    person_id=person.id,
                    name=person.name,
                    organisation=org.name if org else "",
                    role=membership.role,
                    rules_accepted_at=membership.rules_accepted_at,
                )
                for membership, person, org in people
            ],
            ground_rules=learning_set.ground_rules,
        )


def schedule_meeting(
    engine: Engine,
    *,
    set_id: str,
    scheduled_at: int,
    duration_minutes: int,
    rota_person_id: str | None,
    now: int,
) -> str:
    """The set's next meeting, planned from the set's template; its rota member (if any) holds
    the controls from its first event."""
    if rota_person_id is not None:
        _require_member(engine, set_id=set_id, person_id=rota_person_id)
    try:
        return create_meeting(
            engine,
            set_id=set_id,
            now=now,
            scheduled_at=scheduled_at,
            duration_minutes=duration_minutes,
            rota_person_id=rota_person_id,
        )
    except ValueError as error:
        raise ScheduleError(str(error)) from None


def check_reschedule(engine: Engine, *, meeting_id: str) -> None:
    """A meeting's date and length change only before it starts. The change itself is an
    event in the meeting's log (`reschedule`), projected onto the meeting's row."""
    with Session(engine) as session:
        _not_started(session, meeting_id)


@dataclass(frozen=True)
class Dates:
    """A meeting's date and length, and the date of the meeting after it, as the schedule has
    them: what its log's MeetingInfo should say."""

    scheduled_at: int | None
    duration_minutes: int
    next_meeting_at: int | None


def dates_of(engine: Engine, *, meeting_id: str) -> Dates:
    with Session(engine) as session:
        meeting = session.get(Meeting, meeting_id)
        if meeting is None:
            raise ScheduleError(N_("No such meeting."))
        following = _numbered(session, meeting.set_id, meeting.number + 1)
        return Dates(
            scheduled_at=meeting.scheduled_at,
            duration_minutes=meeting.duration_minutes,
            next_meeting_at=following.scheduled_at if following else None,
        )


def previous_meeting(engine: Engine, *, meeting_id: str) -> str | None:
    with Session(engine) as session:
        meeting = session.get(Meeting, meeting_id)
        if meeting is None:
            return None
        before = _numbered(session, meeting.set_id, meeting.number - 1)
        return before.id if before else None


def check_rota(engine: Engine, *, meeting_id: str, person_id: str | None) -> None:
    """Whether `person_id` (a member of the set, or None for the facilitator) may be put on
    the rota of this meeting: only before it starts."""
    with Session(engine) as session:
        set_id = _not_started(session, meeting_id).set_id
    if person_id is not None:
        _require_member(engine, set_id=set_id, person_id=person_id)


def save_rota(engine: Engine, *, meeting_id: str, person_id: str | None) -> None:
    with Session(engine) as session:
        meeting = session.get(Meeting, meeting_id)
        if meeting is None:
            raise ScheduleError(N_("No such meeting."))
        meeting.rota_person_id = person_id
        session.add(meeting)
        session.commit()


def meeting_set(engine: Engine, *, meeting_id: str) -> str:
    with Session(engine) as session:
        meeting = session.get(Meeting, meeting_id)
        if meeting is None:
            raise ScheduleError(N_("No such meeting."))
        return meeting.set_id


# Templates

TemplateSource = Literal["set", "programme", "default"]


def set_template(engine: Engine, *, set_id: str) -> tuple[tuple[PhaseSpec, ...], TemplateSource]:
    """The template the set's next meeting will follow, and where it comes from."""
    with Session(engine) as session:
        learning_set = _set(session, set_id)
        template = template_for(session, learning_set)
        if template_from_json(learning_set.template) is not None:
            return template, "set"
        return template, "default" if template is DEFAULT_TEMPLATE else "programme"


def save_template(engine: Engine, *, set_id: str, template: tuple[PhaseSpec, ...] | None) -> None:
    """Store a checked template (app.domain.templates.checked_template) as the set's own, or
    None to go back to the programme's (else the default). Meetings already created keep
    their plan."""
    with Session(engine) as session:
        learning_set = _set(session, set_id)
        learning_set.template = "" if template is None else template_json(template)
        session.add(learning_set)
        session.commit()


# Ground rules


@dataclass(frozen=True)
class GroundRules:
    set_id: str
    set_name: str
    text: str


def rules_to_accept(engine: Engine, *, meeting_id: str, person_id: str) -> GroundRules | None:
    """The set's ground rules when this person is a member of the meeting's set who has not
    accepted them yet; None when they may enter (facilitators never need to)."""
    with Session(engine) as session:
        meeting = session.get(Meeting, meeting_id)
        if meeting is None:
            return None
        membership = session.get(Membership, (meeting.set_id, person_id))
        if (
            membership is None
            or membership.role != Role.MEMBER.value
            or membership.rules_accepted_at is not None
        ):
            return None
        learning_set = _set(session, meeting.set_id)
        return GroundRules(
            set_id=learning_set.id,
            set_name=learning_set.name,
            text=learning_set.ground_rules.strip() or DEFAULT_GROUND_RULES,
        )


def accept_rules(engine: Engine, *, set_id: str, person_id: str, now: int) -> None:
    with Session(engine) as session:
        membership = session.get(Membership, (set_id, person_id))
        if membership is None:
            raise ScheduleError(N_("You are not in this set."))
        if membership.rules_accepted_at is None:
            membership.rules_accepted_at = now
            session.add(membership)
            session.commit()


def save_ground_rules(engine: Engine, *, set_id: str, text: str, ask_again: bool) -> None:
    """The set's own contract ("" for the default); `ask_again` asks every member to accept
    it anew before their next meeting."""
    with Session(engine) as session:
        learning_set = _set(session, set_id)
        learning_set.ground_rules = text.strip()
        session.add(learning_set)
        if ask_again:
            for membership in session.exec(
                select(Membership).where(
                    Membership.set_id == set_id, Membership.role == Role.MEMBER.value
                )
            ):
                membership.rules_accepted_at = None
                session.add(membership)
        session.commit()


# Helpers


def _set(session: Session, set_id: str) -> LearningSet:
    learning_set = session.get(LearningSet, set_id)
    if learning_set is None:
        raise ScheduleError(N_("No such set."))
    return learning_set


def _numbered(session: Session, set_id: str, number: int) -> Meeting | None:
    return session.exec(
        select(Meeting).where(Meeting.set_id == set_id, Meeting.number == number)
    ).first()


def _not_started(session: Session, meeting_id: str) -> Meeting:
    meeting = session.get(Meeting, meeting_id)
    if meeting is None:
        raise ScheduleError(N_("No such meeting."))
    if meeting.status != "not_started":
        raise ScheduleError(
            "Meeting {number} has already started; its date and rota stay as they were.",
            number=meeting.number,
        )
    return meeting


def _require_member(engine: Engine, *, set_id: str, person_id: str) -> None:
    with Session(engine) as session:
        membership = session.get(Membership, (set_id, person_id))
    if membership is None or membership.role != Role.MEMBER.value:
        raise ScheduleError(N_("Choose a member of this set to facilitate, or the facilitator."))
