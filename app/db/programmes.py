"""Programmes and their sets, as a lead runs them: names, organisations, plan, leads, and each
set's settings. What a lead sees of a set is its size and its facilitators: counts, never what
members said."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy import Engine
from sqlmodel import Session, col, func, select

from app.db.access import new_id
from app.db.member_csv import MAX_ORGANISATION, normalise_email, text_problem
from app.db.refusal import Refusal, Term
from app.db.schedule import DEFAULT_GROUND_RULES
from app.db.tables import (
    Account,
    LearningSet,
    Membership,
    Organisation,
    Person,
    Programme,
    ProgrammeLead,
    ProgrammeOrganisation,
)
from app.domain.model import Role, TurnRecord
from app.domain.text import N_

MAX_NAME = 200
MEETINGS = (1, 24)
CADENCE_WEEKS = (1, 26)
ATTENDANCE_TARGET = (0, 100)
MAX_VIDEO_LINK = 500
MAX_GROUND_RULES = 5_000
"""As the ground-rules editor (app.web.set_meetings) allows."""
SET_SIZE = (6, 12)
"""Members a set should have; the service warns outside this range."""


class AdminError(Refusal, ValueError):
    """A request about programmes, sets or members that cannot be met; the message says why, for
    the person who asked."""


@dataclass(frozen=True)
class Named:
    id: str
    name: str


@dataclass(frozen=True)
class LeadItem:
    person_id: str
    name: str
    email: str


@dataclass(frozen=True)
class SetSummary:
    id: str
    name: str
    members: int
    facilitators: tuple[str, ...]

    @property
    def size_ok(self) -> bool:
        return SET_SIZE[0] <= self.members <= SET_SIZE[1]


@dataclass(frozen=True)
class ProgrammeOverview:
    id: str
    name: str
    meetings_planned: int
    cadence_weeks: int
    attendance_target: int
    organisations: tuple[Named, ...]
    leads: tuple[LeadItem, ...]
    sets: tuple[SetSummary, ...]


@dataclass(frozen=True)
class SetSettings:
    """A set's settings as a form gives them, checked by `check_settings`. (Its ground rules
    and template have their own editors: app.db.schedule.)"""

    name: str
    video_link: str
    anonymous_questions: bool
    questions_to_set: bool
    kept_to_set: bool = False
    """After a turn, the set sees the questions its presenter kept (turn_record)."""


def check_name(raw: str, *, what: str = N_("A name")) -> str:
    name = " ".join(raw.split())
    problem = text_problem(name, what=what, limit=MAX_NAME)
    if problem:
        raise AdminError(problem, what=Term(what), limit=MAX_NAME)
    return name


def check_number(value: int, *, what: str, bounds: tuple[int, int]) -> int:
    low, high = bounds
    if not low <= value <= high:
        raise AdminError(
            "{what} must be a whole number from {low} to {high}.",
            what=Term(what),
            low=low,
            high=high,
        )
    return value


def check_video_link(raw: str) -> str:
    """An http(s) address, or "" for none yet."""
    link = raw.strip()
    if not link:
        return ""
    parts = urlsplit(link)
    if (
        parts.scheme.lower() not in ("http", "https")
        or not parts.hostname
        or len(link) > MAX_VIDEO_LINK
        or any(c.isspace() or unicodedata.category(c) == "Cc" for c in link)
    ):
        raise AdminError(
            "The video-call link must be a web address starting with https:// (or http://)."
        )
    return link


def check_settings(settings: SetSettings) -> SetSettings:
    return SetSettings(
        name=check_name(settings.name, what=N_("The set's name")),
        video_link=check_video_link(settings.video_link),
        anonymous_questions=settings.anonymous_questions,
        questions_to_set=settings.questions_to_set,
        kept_to_set=settings.kept_to_set,
    )


def check_ground_rules(raw: str) -> str:
    """The set's own contract, or "" when it is the default one (which then follows any
    improvement to the default)."""
    rules = raw.replace("\r\n", "\n").strip()
    if not rules:
        raise AdminError(
            N_("The ground rules cannot be empty: members accept them before joining.")
        )
    if len(rules) > MAX_GROUND_RULES:
        raise AdminError(
            "The ground rules are longer than {limit} characters.",
            limit=format(MAX_GROUND_RULES, ","),
        )
    if any(unicodedata.category(c) == "Cc" and c not in "\n\t" for c in rules):
        raise AdminError(N_("The ground rules contain control characters."))
    return "" if rules == DEFAULT_GROUND_RULES else rules


def create_programme(engine: Engine, *, name: str, lead_id: str) -> str:
    """A new programme led by the person who creates it."""
    name = check_name(name, what=N_("The programme's name"))
    programme_id = new_id()
    with Session(engine) as session:
        session.add(Programme(id=programme_id, name=name))
        session.flush()
        session.add(ProgrammeLead(programme_id=programme_id, person_id=lead_id))
        session.commit()
    return programme_id


def update_programme(
    engine: Engine,
    *,
    programme_id: str,
    name: str,
    meetings_planned: int,
    cadence_weeks: int,
    attendance_target: int,
) -> None:
    name = check_name(name, what=N_("The programme's name"))
    check_number(meetings_planned, what=N_("Meetings planned"), bounds=MEETINGS)
    check_number(cadence_weeks, what=N_("The cadence in weeks"), bounds=CADENCE_WEEKS)
    check_number(attendance_target, what=N_("The attendance target"), bounds=ATTENDANCE_TARGET)
    with Session(engine) as session:
        programme = _programme(session, programme_id)
        programme.name = name
        programme.meetings_planned = meetings_planned
        programme.cadence_weeks = cadence_weeks
        programme.attendance_target = attendance_target
        session.add(programme)
        session.commit()


def organisation_named(session: Session, name: str) -> Organisation:
    """The organisation of that name (one row per name, whatever its case), made if new."""
    found = session.exec(
        select(Organisation).where(func.lower(Organisation.name) == name.lower())
    ).first()
    if found is not None:
        return found
    organisation = Organisation(id=new_id(), name=name)
    session.add(organisation)
    session.flush()
    return organisation


def check_organisation(raw: str) -> str:
    name = " ".join(raw.split())
    what = N_("The organisation")
    problem = text_problem(name, what=what, limit=MAX_ORGANISATION)
    if problem:
        raise AdminError(problem, what=Term(what), limit=MAX_ORGANISATION)
    return name


def take_part(session: Session, *, programme_id: str, organisation_id: str) -> bool:
    """Count the organisation as taking part in the programme; False if it already was."""
    if session.get(ProgrammeOrganisation, (programme_id, organisation_id)) is not None:
        return False
    session.add(ProgrammeOrganisation(programme_id=programme_id, organisation_id=organisation_id))
    return True


def add_organisation(engine: Engine, *, programme_id: str, name: str) -> str:
    name = check_organisation(name)
    with Session(engine) as session:
        _programme(session, programme_id)
        organisation = organisation_named(session, name)
        if not take_part(session, programme_id=programme_id, organisation_id=organisation.id):
            raise AdminError(
                "{organisation} already takes part in this programme.",
                organisation=organisation.name,
            )
        session.commit()
        return organisation.id


def add_lead(engine: Engine, *, programme_id: str, email: str) -> str:
    """Make the holder of an existing account a lead of the programme."""
    address = normalise_email(email)
    if address is None:
        raise AdminError(N_("That does not look like an email address."))
    with Session(engine) as session:
        _programme(session, programme_id)
        account = session.exec(select(Account).where(Account.email == address)).first()
        if account is None:
            raise AdminError(
                "No account uses {address}. A lead needs an account: ask them to be given one.",
                address=address,
            )
        if session.get(ProgrammeLead, (programme_id, account.person_id)) is not None:
            raise AdminError("{address} is already a lead of this programme.", address=address)
        session.add(ProgrammeLead(programme_id=programme_id, person_id=account.person_id))
        session.commit()
        return account.person_id


def programme_overview(engine: Engine, *, programme_id: str) -> ProgrammeOverview:
    with Session(engine) as session:
        programme = _programme(session, programme_id)
        organisations = session.exec(
            select(Organisation)
            .join(
                ProgrammeOrganisation,
                col(ProgrammeOrganisation.organisation_id) == col(Organisation.id),
            )
            .where(ProgrammeOrganisation.programme_id == programme_id)
            .order_by(col(Organisation.name))
        ).all()
        leads = session.exec(
            select(Person, Account)
            .join(ProgrammeLead, col(ProgrammeLead.person_id) == col(Person.id))
            .join(Account, col(Account.person_id) == col(Person.id), isouter=True)
            .where(ProgrammeLead.programme_id == programme_id)
            .order_by(col(Person.name))
        ).all()
        sets = session.exec(
            select(LearningSet)
            .where(LearningSet.programme_id == programme_id)
            .order_by(col(LearningSet.name))
        ).all()
        people = session.exec(
            select(Membership.set_id, Membership.role, Person.name)
            .join(Person, col(Person.id) == col(Membership.person_id))
            .join(LearningSet, col(LearningSet.id) == col(Membership.set_id))
            .where(LearningSet.programme_id == programme_id)
            .order_by(col(Person.name))
        ).all()
    members: dict[str, int] = {}
    facilitators: dict[str, list[str]] = {}
    for set_id, role, name in people:
        if role == Role.FACILITATOR.value:
            facilitators.setdefault(set_id, []).append(name)
        else:
            members[set_id] = members.get(set_id, 0) + 1
    return ProgrammeOverview(
        id=programme.id,
        name=programme.name,
        meetings_planned=programme.meetings_planned,
        cadence_weeks=programme.cadence_weeks,
        attendance_target=programme.attendance_target,
        organisations=tuple(Named(o.id, o.name) for o in organisations),
        leads=tuple(
            LeadItem(person.id, person.name, account.email if account else person.email or "")
            for person, account in leads
        ),
        sets=tuple(
            SetSummary(
                id=s.id,
                name=s.name,
                members=members.get(s.id, 0),
                facilitators=tuple(facilitators.get(s.id, ())),
            )
            for s in sets
        ),
    )


def programme_organisations(engine: Engine, *, programme_id: str) -> tuple[Named, ...]:
    with Session(engine) as session:
        rows = session.exec(
            select(Organisation)
            .join(
                ProgrammeOrganisation,
                col(ProgrammeOrganisation.organisation_id) == col(Organisation.id),
            )
            .where(ProgrammeOrganisation.programme_id == programme_id)
            .order_by(col(Organisation.name))
        ).all()
    return tuple(Named(o.id, o.name) for o in rows)


def create_set(
    engine: Engine, *, programme_id: str, settings: SetSettings, ground_rules: str
) -> str:
    settings = check_settings(settings)
    rules = check_ground_rules(ground_rules)
    set_id = new_id()
    with Session(engine) as session:
        _programme(session, programme_id)
        session.add(
            LearningSet(
                id=set_id,
                programme_id=programme_id,
                name=settings.name,
                video_link=settings.video_link,
                anonymous_questions=settings.anonymous_questions,
                questions_to_set=settings.questions_to_set,
                turn_record=_turn_record(settings),
                ground_rules=rules,
            )
        )
        session.commit()
    return set_id


def update_set(engine: Engine, *, set_id: str, settings: SetSettings) -> None:
    settings = check_settings(settings)
    with Session(engine) as session:
        learning_set = session.get(LearningSet, set_id)
        if learning_set is None:
            raise AdminError(N_("No such set."))
        learning_set.name = settings.name
        learning_set.video_link = settings.video_link
        learning_set.anonymous_questions = settings.anonymous_questions
        learning_set.questions_to_set = settings.questions_to_set
        learning_set.turn_record = _turn_record(settings)
        session.add(learning_set)
        session.commit()


def settings_of(learning_set: LearningSet) -> SetSettings:
    return SetSettings(
        name=learning_set.name,
        video_link=learning_set.video_link,
        anonymous_questions=learning_set.anonymous_questions,
        questions_to_set=learning_set.questions_to_set,
        kept_to_set=learning_set.turn_record == "kept_items_visible_to_set",
    )


def _turn_record(settings: SetSettings) -> TurnRecord:
    return "kept_items_visible_to_set" if settings.kept_to_set else "commitment_only"


def _programme(session: Session, programme_id: str) -> Programme:
    programme = session.get(Programme, programme_id)
    if programme is None:
        raise AdminError(N_("No such programme."))
    return programme
