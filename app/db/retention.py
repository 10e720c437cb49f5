"""The retention period: what was said in a meeting is removed once the meeting has been
closed for longer than it (`python -m app purge`, run by cron like `send-reminders`).

What goes, in each meeting closed more than `days` days ago and not purged before:

- the text of every question, bid and slot title, commitment (what, by when, how I will know,
  support), report-back given there (learned, next step) becomes "[removed]", in the tables and
  in the meeting log (app.db.scrub); feedback comments become empty;
- commitment updates on its commitments and learning-log entries tied to it are deleted.

What stays: every row and id, the meeting log's events (so each meeting still replays to the
same presenters and phases), attendance, feedback scores, commitment statuses, names. The
programme report reads only those, so it gives the same figures after a purge as before
(tests/integration/test_retention.py). The meeting's `purged_at` is set, so each meeting is
purged once, and the audit log gets one row per meeting. A commitment still open when its
meeting is purged is reported back on later under its marker.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, delete, update
from sqlmodel import Session, col, select

from app.db import audit, scrub
from app.db.tables import (
    CommitmentRecord,
    CommitmentUpdate,
    Feedback,
    LearningLogEntry,
    Meeting,
    MeetingEvent,
    QuestionRecord,
)

DAY_MS = 86_400_000


@dataclass(frozen=True)
class Purged:
    meetings: int
    events: int


def due(session: Session, *, now: int, days: int) -> list[str]:
    """Meetings closed before the cutoff and not yet purged (closed: the log's close event)."""
    cutoff = now - days * DAY_MS
    closed_before = select(MeetingEvent.meeting_id).where(
        MeetingEvent.type == "meeting_closed", col(MeetingEvent.at) < cutoff
    )
    return list(
        session.exec(
            select(Meeting.id)
            .where(
                Meeting.status == "closed",
                col(Meeting.purged_at).is_(None),
                col(Meeting.id).in_(closed_before),
            )
            .order_by(col(Meeting.created_at))
        )
    )


def purge(engine: Engine, *, now: int, days: int) -> Purged:
    """Remove the content of every meeting due; one transaction per meeting."""
    if days < 0:
        raise ValueError("the retention period cannot be negative")
    with Session(engine) as session:
        meeting_ids = due(session, now=now, days=days)
    events = 0
    for meeting_id in meeting_ids:
        events += _purge_meeting(engine, meeting_id, now=now)
    return Purged(meetings=len(meeting_ids), events=events)


def _purge_meeting(engine: Engine, meeting_id: str, *, now: int) -> int:
    marker = scrub.REMOVED
    with Session(engine) as session:
        meeting = session.get(Meeting, meeting_id)
        if meeting is None or meeting.purged_at is not None:
            return 0
        changed = scrub.redact_log(session, [meeting_id], scrub.Redaction(marker=marker))
        session.exec(
            update(QuestionRecord)
            .where(col(QuestionRecord.meeting_id) == meeting_id)
            .values(text=marker)
        )
        commitments = list(
            session.exec(select(CommitmentRecord).where(CommitmentRecord.meeting_id == meeting_id))
        )
        for c in commitments:
            c.what = marker
            for name in ("by_when", "how_know", "support", "learned", "next_step"):
                if getattr(c, name):
                    setattr(c, name, marker)
            session.add(c)
        # Report-backs given at this meeting live on the earlier meeting's commitment rows.
        reported_here = session.exec(
            select(CommitmentRecord).where(CommitmentRecord.reported_meeting_id == meeting_id)
        )
        for c in reported_here:
            for name in ("learned", "next_step"):
                if getattr(c, name):
                    setattr(c, name, marker)
            session.add(c)
        changed += scrub.redact_priors(session, meeting.set_id, [c.id for c in commitments], marker)
        session.exec(
            delete(CommitmentUpdate).where(
                col(CommitmentUpdate.commitment_id).in_([c.id for c in commitments])
            )
        )
        session.exec(
            update(Feedback).where(col(Feedback.meeting_id) == meeting_id).values(comment="")
        )
        session.exec(delete(LearningLogEntry).where(col(LearningLogEntry.meeting_id) == meeting_id))
        meeting.purged_at = now
        session.add(meeting)
        session.flush()
        audit.record(
            session.connection(),
            at=now,
            action=audit.Action.CONTENT_PURGED,
            actor_id=None,
            actor_role="server",
            programme_id=audit.programme_of(session, meeting.set_id),
            set_id=meeting.set_id,
            meeting_id=meeting_id,
        )
        session.commit()
    return changed
