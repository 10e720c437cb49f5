"""The append-only meeting event log, and the projections written with it.

`append` writes a batch of events at the sequence numbers that follow `expected_seq` in one
transaction, together with their projections. Two writers racing for the same sequence cannot both
commit (the log is unique on meeting and sequence): the loser gets `SequenceConflict`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Engine, insert
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from app.db import audit
from app.db.tables import Attendance, CommitmentRecord, Meeting, MeetingEvent, QuestionRecord
from app.domain import events as e
from app.domain.model import Role


class SequenceConflict(Exception):
    """Another writer appended to this meeting first."""


def to_row(meeting_id: str, stamped: e.Stamped) -> MeetingEvent:
    return MeetingEvent(**_values(meeting_id, stamped))


def _values(meeting_id: str, stamped: e.Stamped) -> dict[str, Any]:
    return {
        "meeting_id": meeting_id,
        "seq": stamped.seq,
        "type": stamped.event.type,
        "payload": stamped.event.model_dump_json(),
        "actor": stamped.actor,
        "actor_role": stamped.actor_role.value,
        "at": stamped.at,
    }


_INSERT_EVENT = insert(MeetingEvent.__table__)  # type: ignore[attr-defined]
"""The log's row as one Core INSERT: the ORM's unit of work (add, flush, identity map) cost more
than twice as much per event, and nothing reads the row back as an object."""


def from_row(row: MeetingEvent) -> e.Stamped:
    return e.Stamped(
        seq=row.seq,
        at=row.at,
        actor=row.actor,
        actor_role=Role(row.actor_role),
        event=e.parse_event(json.loads(row.payload)),
    )


def load(engine: Engine, meeting_id: str, *, after: int = 0) -> list[e.Stamped]:
    with Session(engine) as session:
        rows = session.exec(
            select(MeetingEvent)
            .where(MeetingEvent.meeting_id == meeting_id, col(MeetingEvent.seq) > after)
            .order_by(col(MeetingEvent.seq))
        ).all()
        return [from_row(r) for r in rows]


def last_seq(engine: Engine, meeting_id: str) -> int:
    with Session(engine) as session:
        row = session.exec(
            select(MeetingEvent.seq)
            .where(MeetingEvent.meeting_id == meeting_id)
            .order_by(col(MeetingEvent.seq).desc())
            .limit(1)
        ).first()
        return row or 0


def append(
    engine: Engine,
    meeting_id: str,
    expected_seq: int,
    batch: Sequence[e.Stamped],
    *,
    late_after_ms: int = 10 * 60_000,
) -> None:
    """Append `batch` (numbered from expected_seq + 1) with its projections, all or nothing."""
    if not any(isinstance(s.event, _PROJECTED) for s in batch):
        # Most live events (timers, hands, phases) have no projection: the rows alone, without
        # an ORM session, in one transaction.
        _check_follows(expected_seq, batch)
        try:
            with engine.begin() as connection:
                connection.execute(_INSERT_EVENT, [_values(meeting_id, s) for s in batch])
        except IntegrityError as error:
            if _is_sequence_clash(error):
                raise SequenceConflict(meeting_id) from error
            raise
        return
    with Session(engine) as session:
        try:
            append_in(session, meeting_id, expected_seq, batch, late_after_ms=late_after_ms)
            session.commit()
        except IntegrityError as error:
            session.rollback()
            if _is_sequence_clash(error):
                raise SequenceConflict(meeting_id) from error
            raise  # a projection's own constraint: a bug to see, not a race to retry


def append_in(
    session: Session,
    meeting_id: str,
    expected_seq: int,
    batch: Sequence[e.Stamped],
    *,
    late_after_ms: int = 10 * 60_000,
) -> None:
    """`append`'s writes inside the caller's transaction (which commits them)."""
    _check_follows(expected_seq, batch)
    connection = session.connection()  # the session's own transaction
    for stamped in batch:
        # Raises IntegrityError at once when another writer holds this sequence, as a flush did.
        connection.execute(_INSERT_EVENT, _values(meeting_id, stamped))
        _project(session, meeting_id, stamped, late_after_ms)


def _check_follows(expected_seq: int, batch: Sequence[e.Stamped]) -> None:
    for offset, stamped in enumerate(batch, start=1):
        if stamped.seq != expected_seq + offset:
            raise ValueError("events must follow the expected sequence without gaps")


def _is_sequence_clash(error: IntegrityError) -> bool:
    """Whether another writer took the sequence (PostgreSQL names the constraint; SQLite names
    its columns)."""
    diag = getattr(error.orig, "diag", None)
    if diag is not None and getattr(diag, "constraint_name", None):
        return bool(diag.constraint_name == "uq_meeting_event_seq")
    return "meeting_event.meeting_id, meeting_event.seq" in str(error.orig)


_PROJECTED = (
    e.MeetingStarted,
    e.MeetingClosed,
    e.MeetingRescheduled,
    e.QuestionAsked,
    e.QuestionFlagged,
    e.QuestionStarred,
    e.CommitmentSaved,
    e.CommitmentReported,
    e.MemberJoined,
    e.MemberLeft,
    e.MeetingLocked,
    e.ControlsHanded,
    e.MemberAdmitted,
)
"""The events that write more than their log row: a new case in `_project` needs its type here,
or it never runs (and `append` writes events of no other type without a session)."""


def _project(session: Session, meeting_id: str, stamped: e.Stamped, late_after_ms: int) -> None:
    ev = stamped.event
    if not isinstance(ev, _PROJECTED):
        return
    _audit(session, meeting_id, stamped)
    match ev:
        case e.MeetingStarted() | e.MeetingClosed():
            meeting = session.get(Meeting, meeting_id)
            if meeting is not None:
                meeting.status = "live" if isinstance(ev, e.MeetingStarted) else "closed"
                session.add(meeting)
        case e.MeetingRescheduled():
            meeting = session.get(Meeting, meeting_id)
            if meeting is not None:
                meeting.scheduled_at = ev.info.scheduled_at
                meeting.duration_minutes = ev.info.planned_minutes
                session.add(meeting)
        case e.QuestionAsked():
            q = ev.question
            session.add(
                QuestionRecord(
                    id=f"{meeting_id}.{q.id}",
                    meeting_id=meeting_id,
                    presenter_id=q.presenter,
                    author_id=q.author,
                    anonymous=q.anonymous,
                    text=q.text or "",
                    at=q.at,
                )
            )
        case e.QuestionFlagged() | e.QuestionStarred():
            question = session.get(QuestionRecord, f"{meeting_id}.{ev.question_id}")
            if question is not None:
                if isinstance(ev, e.QuestionFlagged):
                    question.advice = ev.advice
                else:
                    question.starred = ev.starred
                session.add(question)
        case e.CommitmentSaved():
            c = ev.commitment
            key = f"{meeting_id}.{c.id}"
            record = session.get(CommitmentRecord, key)
            if record is None:
                record = CommitmentRecord(
                    id=key,
                    meeting_id=meeting_id,
                    owner_id=c.owner,
                    what=c.what,
                    created_at=stamped.at,
                    updated_at=stamped.at,
                )
            record.what, record.by_when = c.what, c.by_when
            record.how_know, record.support = c.how_know, c.support
            record.updated_at = stamped.at
            session.add(record)
        case e.CommitmentReported():
            # Prior commitments carry their record's key as their id.
            prior = session.get(CommitmentRecord, ev.commitment_id)
            if prior is not None:
                prior.report_status = ev.status.value
                prior.reported_meeting_id = meeting_id
                prior.learned, prior.next_step = ev.learned, ev.next_step
                session.add(prior)
        case e.MemberJoined():
            row = session.get(Attendance, (meeting_id, ev.participant))
            if row is None:
                started = _started_at(session, meeting_id)
                late = started is not None and ev.at > started + late_after_ms
                session.add(
                    Attendance(
                        meeting_id=meeting_id,
                        person_id=ev.participant,
                        first_joined_at=ev.at,
                        late=late,
                    )
                )
        case e.MemberLeft():
            row = session.get(Attendance, (meeting_id, ev.participant))
            if row is not None:
                row.last_left_at = ev.at
                session.add(row)
        case _:
            pass


def _started_at(session: Session, meeting_id: str) -> int | None:
    row = session.exec(
        select(MeetingEvent.at).where(
            MeetingEvent.meeting_id == meeting_id, MeetingEvent.type == "meeting_started"
        )
    ).first()
    return row


def _audited(event: e.Event) -> tuple[audit.Action, str | None] | None:
    """The audit log's action for a facilitator's (or controller's) event, and whom it was
    about; None for events not audited."""
    match event:
        case e.MeetingStarted():
            return audit.Action.MEETING_STARTED, None
        case e.MeetingClosed():
            return audit.Action.MEETING_CLOSED, None
        case e.MeetingLocked(locked=locked):
            return (audit.Action.MEETING_LOCKED if locked else audit.Action.MEETING_UNLOCKED), None
        case e.ControlsHanded(member=None):
            return audit.Action.CONTROLS_TAKEN_BACK, None
        case e.ControlsHanded(member=member):
            return audit.Action.CONTROLS_HANDED, member
        case e.MemberAdmitted(participant=participant):
            return audit.Action.MEMBER_ADMITTED, participant
    return None


def _audit(session: Session, meeting_id: str, stamped: e.Stamped) -> None:
    audited = _audited(stamped.event)
    if audited is None:
        return
    action, subject = audited
    meeting = session.get(Meeting, meeting_id)
    set_id = meeting.set_id if meeting is not None else None
    audit.record(
        session.connection(),
        at=stamped.at,
        action=action,
        actor_id=stamped.actor,
        actor_role=stamped.actor_role.value,
        programme_id=audit.programme_of(session, set_id),
        set_id=set_id,
        meeting_id=meeting_id,
        subject_id=subject,
    )
