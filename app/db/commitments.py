"""A member's chain of commitments across a set's meetings, and the short updates they post on
an open one between meetings.

A member reads their own commitments alone; the set's facilitators read every member's open
commitments with their updates, to prepare the next meeting."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from app.db.access import new_id
from app.db.refusal import Refusal
from app.db.tables import CommitmentRecord, CommitmentUpdate, Meeting, Membership, Person
from app.domain.model import Role
from app.domain.text import N_

MAX_UPDATE = 1000


class CommitmentError(Refusal):
    """An update that cannot be taken: the message says why, for the member."""


@dataclass(frozen=True)
class Update:
    id: str
    text: str
    at: int


@dataclass(frozen=True)
class Commitment:
    id: str
    owner_id: str
    owner_name: str
    meeting_id: str
    meeting_number: int
    what: str
    by_when: str
    how_know: str
    support: str
    report_status: str | None
    reported_number: int | None
    """The meeting it was reported back at."""
    learned: str
    next_step: str
    updates: tuple[Update, ...]
    """Newest first."""
    open: bool
    """Made at a closed meeting and not yet reported back: a member may post updates on it."""


def _load(session: Session, set_id: str, owner_id: str | None) -> list[Commitment]:
    query = (
        select(CommitmentRecord, Meeting, Person)
        .join(Meeting, col(Meeting.id) == col(CommitmentRecord.meeting_id))
        .join(Person, col(Person.id) == col(CommitmentRecord.owner_id))
        .where(Meeting.set_id == set_id)
    )
    if owner_id is not None:
        query = query.where(CommitmentRecord.owner_id == owner_id)
    rows = session.exec(query.order_by(col(Meeting.number), col(CommitmentRecord.created_at))).all()
    numbers = dict(
        session.exec(select(Meeting.id, Meeting.number).where(Meeting.set_id == set_id)).all()
    )
    ids = [record.id for record, _, _ in rows]
    updates: dict[str, list[Update]] = {}
    if ids:
        for u in session.exec(
            select(CommitmentUpdate)
            .where(col(CommitmentUpdate.commitment_id).in_(ids))
            .order_by(col(CommitmentUpdate.created_at).desc(), col(CommitmentUpdate.id))
        ).all():
            updates.setdefault(u.commitment_id, []).append(
                Update(id=u.id, text=u.text, at=u.created_at)
            )
    return [
        Commitment(
            id=record.id,
            owner_id=record.owner_id,
            owner_name=person.name,
            meeting_id=meeting.id,
            meeting_number=meeting.number,
            what=record.what,
            by_when=record.by_when,
            how_know=record.how_know,
            support=record.support,
            report_status=record.report_status,
            reported_number=numbers.get(record.reported_meeting_id or ""),
            learned=record.learned,
            next_step=record.next_step,
            updates=tuple(updates.get(record.id, ())),
            open=record.report_status is None and meeting.status == "closed",
        )
        for record, meeting, person in rows
    ]


def my_commitments(engine: Engine, *, set_id: str, person_id: str) -> list[Commitment]:
    """The person's own commitments at the set's meetings, oldest meeting first: their chain."""
    with Session(engine) as session:
        return _load(session, set_id, person_id)


def open_for_facilitators(engine: Engine, *, set_id: str) -> list[Commitment]:
    """Every member's open commitments in the set, with their updates, by member."""
    with Session(engine) as session:
        members = set(
            session.exec(
                select(Membership.person_id).where(
                    Membership.set_id == set_id, Membership.role == Role.MEMBER.value
                )
            ).all()
        )
        found = [c for c in _load(session, set_id, None) if c.open and c.owner_id in members]
    return sorted(found, key=lambda c: (c.owner_name, c.owner_id, c.meeting_number))


def post_update(
    engine: Engine, *, set_id: str, person_id: str, commitment_id: str, text: str, now: int
) -> str:
    """A member's short update on their own open commitment."""
    text = text.strip()
    if not text:
        raise CommitmentError(N_("Write your update first."))
    if len(text) > MAX_UPDATE:
        raise CommitmentError(
            "Keep an update under {limit} characters.", limit=format(MAX_UPDATE, ",")
        )
    with Session(engine) as session:
        record = session.get(CommitmentRecord, commitment_id) if commitment_id else None
        meeting = session.get(Meeting, record.meeting_id) if record is not None else None
        if (
            record is None
            or meeting is None
            or meeting.set_id != set_id
            or record.owner_id != person_id
        ):
            raise CommitmentError(N_("That commitment is not one of yours."))
        if meeting.status != "closed":
            raise CommitmentError(N_("Updates open once the meeting it was made at has closed."))
        if record.report_status is not None:
            raise CommitmentError(N_("You have reported back on that commitment already."))
        update = CommitmentUpdate(
            id=new_id(), commitment_id=record.id, person_id=person_id, text=text, created_at=now
        )
        session.add(update)
        session.commit()
        return update.id
