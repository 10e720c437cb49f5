"""What a signed-in facilitator or lead sees first: their sets and next meetings, and the
programmes they lead."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine
from sqlmodel import Session, col, func, select

from app.db.meetings import current_meeting
from app.db.tables import (
    CommitmentRecord,
    LearningSet,
    Meeting,
    Membership,
    Person,
    Programme,
    ProgrammeLead,
)
from app.domain.model import Role


@dataclass(frozen=True)
class Due:
    """What a set's facilitator has to see to: counts and names only, never what was said."""

    open_commitments: int = 0
    """Commitments from closed meetings not yet reported back on, by members still in the set."""
    rules_pending: tuple[str, ...] = ()
    """Members who have not yet accepted the set's ground rules."""
    rota: str | None = None
    """The member on the rota for the next meeting, if any."""

    @property
    def anything(self) -> bool:
        return bool(self.open_commitments or self.rules_pending)


@dataclass(frozen=True)
class SetItem:
    id: str
    name: str
    programme: str
    facilitates: bool
    next: Meeting | None
    due: Due = Due()
    """Filled for the sets this person facilitates (supervision: they may be a member of others)."""


def due_of(session: Session, set_id: str, next_meeting: Meeting | None) -> Due:
    members = session.exec(
        select(Membership, Person)
        .join(Person, col(Person.id) == col(Membership.person_id))
        .where(Membership.set_id == set_id, Membership.role == Role.MEMBER.value)
        .order_by(col(Person.name))
    ).all()
    member_ids = [m.person_id for m, _ in members]
    open_commitments = session.exec(
        select(func.count(col(CommitmentRecord.id)))
        .join(Meeting, col(Meeting.id) == col(CommitmentRecord.meeting_id))
        .where(
            Meeting.set_id == set_id,
            Meeting.status == "closed",
            col(CommitmentRecord.report_status).is_(None),
            col(CommitmentRecord.owner_id).in_(member_ids),
        )
    ).one()
    rota = None
    upcoming = next_meeting is not None and next_meeting.status != "closed"
    if upcoming and next_meeting is not None and next_meeting.rota_person_id is not None:
        person = session.get(Person, next_meeting.rota_person_id)
        rota = person.name if person else None
    return Due(
        open_commitments=open_commitments,
        rules_pending=tuple(p.name for m, p in members if m.rules_accepted_at is None),
        rota=rota,
    )


@dataclass(frozen=True)
class ProgrammeSet:
    id: str
    name: str
    members: int


@dataclass(frozen=True)
class ProgrammeItem:
    id: str
    name: str
    sets: int
    set_list: tuple[ProgrammeSet, ...] = ()
    """The programme's sets with their sizes (a lead sees counts, never content)."""


@dataclass(frozen=True)
class Home:
    name: str
    sets: list[SetItem]
    programmes: list[ProgrammeItem]


def home_of(engine: Engine, person_id: str) -> Home:
    with Session(engine, expire_on_commit=False) as session:
        person = session.get(Person, person_id)
        rows = session.exec(
            select(Membership, LearningSet, Programme)
            .join(LearningSet, col(LearningSet.id) == col(Membership.set_id))
            .join(Programme, col(Programme.id) == col(LearningSet.programme_id), isouter=True)
            .where(Membership.person_id == person_id)
            .order_by(col(LearningSet.name))
        ).all()
        programmes = session.exec(
            select(Programme, func.count(col(LearningSet.id)))
            .join(ProgrammeLead, col(ProgrammeLead.programme_id) == col(Programme.id))
            .join(LearningSet, col(LearningSet.programme_id) == col(Programme.id), isouter=True)
            .where(ProgrammeLead.person_id == person_id)
            .group_by(col(Programme.id))
            .order_by(col(Programme.name))
        ).all()
        led_sets = session.exec(
            select(LearningSet, func.count(col(Membership.person_id)))
            .join(ProgrammeLead, col(ProgrammeLead.programme_id) == col(LearningSet.programme_id))
            .join(
                Membership,
                (col(Membership.set_id) == col(LearningSet.id))
                & (col(Membership.role) == Role.MEMBER.value),
                isouter=True,
            )
            .where(ProgrammeLead.person_id == person_id)
            .group_by(col(LearningSet.id))
            .order_by(col(LearningSet.name))
        ).all()
    by_programme: dict[str, list[ProgrammeSet]] = {}
    for learning_set, members in led_sets:
        if learning_set.programme_id is not None:
            by_programme.setdefault(learning_set.programme_id, []).append(
                ProgrammeSet(id=learning_set.id, name=learning_set.name, members=members)
            )
    sets = []
    for membership, learning_set, programme in rows:
        facilitates = membership.role == Role.FACILITATOR.value
        upcoming = current_meeting(engine, learning_set.id)
        due = Due()
        if facilitates:
            with Session(engine) as session:
                due = due_of(session, learning_set.id, upcoming)
        sets.append(
            SetItem(
                id=learning_set.id,
                name=learning_set.name,
                programme=programme.name if programme else "",
                facilitates=facilitates,
                next=upcoming,
                due=due,
            )
        )
    return Home(
        name=person.name if person else "",
        sets=sets,
        programmes=[
            ProgrammeItem(id=p.id, name=p.name, sets=n, set_list=tuple(by_programme.get(p.id, ())))
            for p, n in programmes
        ],
    )
