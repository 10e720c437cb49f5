"""The learning log: a member's private notes in a set. Every function takes the author's own
person id and reads or changes that person's entries alone: there is no function that returns
another person's entries, for anyone."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from app.db.access import new_id
from app.db.refusal import Refusal
from app.db.tables import LearningLogEntry, Meeting
from app.domain.text import N_

MAX_ENTRY = 5000


class LogError(Refusal):
    """An entry that cannot be saved or found: the message says why, for its author."""


@dataclass(frozen=True)
class MeetingChoice:
    id: str
    number: int


def my_entries(engine: Engine, *, set_id: str, person_id: str) -> list[LearningLogEntry]:
    """The person's own entries in the set, newest first."""
    with Session(engine, expire_on_commit=False) as session:
        return list(
            session.exec(
                select(LearningLogEntry)
                .where(LearningLogEntry.set_id == set_id, LearningLogEntry.person_id == person_id)
                .order_by(col(LearningLogEntry.created_at).desc(), col(LearningLogEntry.id))
            ).all()
        )


def meetings_of(engine: Engine, *, set_id: str) -> list[MeetingChoice]:
    """The set's meetings, that an entry may be about."""
    with Session(engine) as session:
        rows = session.exec(
            select(Meeting.id, Meeting.number)
            .where(Meeting.set_id == set_id)
            .order_by(col(Meeting.number))
        ).all()
    return [MeetingChoice(id=i, number=n) for i, n in rows]


def _text(text: str) -> str:
    text = text.strip()
    if not text:
        raise LogError(N_("Write something to keep."))
    if len(text) > MAX_ENTRY:
        raise LogError("Keep an entry under {limit} characters.", limit=format(MAX_ENTRY, ","))
    return text


def _meeting(session: Session, set_id: str, meeting_id: str) -> str | None:
    if not meeting_id:
        return None
    meeting = session.get(Meeting, meeting_id)
    if meeting is None or meeting.set_id != set_id:
        raise LogError(N_("Choose one of this set's meetings, or none."))
    return meeting.id


def add_entry(
    engine: Engine, *, set_id: str, person_id: str, text: str, meeting_id: str = "", now: int
) -> str:
    text = _text(text)
    with Session(engine) as session:
        entry = LearningLogEntry(
            id=new_id(),
            person_id=person_id,
            set_id=set_id,
            meeting_id=_meeting(session, set_id, meeting_id),
            text=text,
            created_at=now,
            updated_at=now,
        )
        session.add(entry)
        session.commit()
        return entry.id


def _own(session: Session, set_id: str, person_id: str, entry_id: str) -> LearningLogEntry:
    """The entry if it is the person's own in this set; anyone else's is 'not found' (the same
    answer as for no entry at all, so nothing is learned about it)."""
    entry = session.get(LearningLogEntry, entry_id) if entry_id else None
    if entry is None or entry.person_id != person_id or entry.set_id != set_id:
        raise LogError(N_("That entry is not in your log."))
    return entry


def edit_entry(
    engine: Engine,
    *,
    set_id: str,
    person_id: str,
    entry_id: str,
    text: str,
    meeting_id: str = "",
    now: int,
) -> None:
    text = _text(text)
    with Session(engine) as session:
        entry = _own(session, set_id, person_id, entry_id)
        entry.text = text
        entry.meeting_id = _meeting(session, set_id, meeting_id)
        entry.updated_at = now
        session.add(entry)
        session.commit()


def delete_entry(engine: Engine, *, set_id: str, person_id: str, entry_id: str) -> None:
    with Session(engine) as session:
        session.delete(_own(session, set_id, person_id, entry_id))
        session.commit()
