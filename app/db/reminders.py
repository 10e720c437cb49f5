"""Reminders before a meeting: each member of the set gets one mail per meeting with the
meeting's date and time and their open commitments (`python -m app send-reminders`, for cron).

A reminder is claimed (its ReminderSent row committed) before it is sent, so two runs at once
never send the same one twice; a send that fails gives its claim back for the next run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from app.db.tables import (
    CommitmentRecord,
    LearningSet,
    Meeting,
    Membership,
    Person,
    ReminderSent,
)
from app.domain.model import Role

DAY_MS = 86_400_000

Sender = Callable[[str, str, str], None]
"""send(to, subject, body)."""


@dataclass(frozen=True)
class OpenCommitment:
    what: str
    by_when: str


@dataclass(frozen=True)
class Reminder:
    meeting_id: str
    person_id: str
    email: str
    name: str
    set_name: str
    number: int
    scheduled_at: int
    duration_minutes: int
    video_link: str
    commitments: tuple[OpenCommitment, ...]

    @property
    def subject(self) -> str:
        return f"{self.set_name}: meeting {self.number} on {_date(self.scheduled_at)}"

    def body(self, public_url: str) -> str:
        """The mail: never a join link's token (it is personal, and a mail can be forwarded)."""
        lines = [
            f"Hello {self.name},",
            "",
            f"{self.set_name} meets on {_date(self.scheduled_at)} for "
            f"{self.duration_minutes} minutes (meeting {self.number}).",
            "",
            "To join, open your personal Setroom link: the one your facilitator sent you "
            f"({public_url}). If you cannot find it, ask your facilitator for a new one.",
        ]
        if self.video_link:
            lines += ["", f"The video call: {self.video_link}"]
        lines.append("")
        if self.commitments:
            lines.append("Your open commitments, to report back on:")
            for c in self.commitments:
                lines.append(f"- {c.what}" + (f" (by {c.by_when})" if c.by_when else ""))
        else:
            lines.append("You have no open commitments to report back on.")
        lines += ["", "See you there.", "Setroom"]
        return "\n".join(lines)


def _date(ms: int) -> str:
    at = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return f"{at:%a} {at.day} {at:%b %Y, %H:%M} UTC"


def due(engine: Engine, *, now: int, days: int) -> list[Reminder]:
    """Reminders not yet sent for meetings not started and scheduled from now to `days` ahead,
    one per member of the set with an email address."""
    with Session(engine) as session:
        meetings = session.exec(
            select(Meeting, LearningSet)
            .join(LearningSet, col(LearningSet.id) == col(Meeting.set_id))
            .where(
                Meeting.status == "not_started",
                col(Meeting.scheduled_at).is_not(None),
                col(Meeting.scheduled_at) >= now,
                col(Meeting.scheduled_at) <= now + days * DAY_MS,
            )
            .order_by(col(Meeting.scheduled_at))
        ).all()
        reminders: list[Reminder] = []
        for meeting, learning_set in meetings:
            assert meeting.scheduled_at is not None
            sent = set(
                session.exec(
                    select(ReminderSent.person_id).where(ReminderSent.meeting_id == meeting.id)
                ).all()
            )
            people = session.exec(
                select(Person)
                .join(Membership, col(Membership.person_id) == col(Person.id))
                .where(Membership.set_id == meeting.set_id, Membership.role == Role.MEMBER.value)
                .order_by(col(Person.name))
            ).all()
            for person in people:
                if person.id in sent or not person.email:
                    continue
                reminders.append(
                    Reminder(
                        meeting_id=meeting.id,
                        person_id=person.id,
                        email=person.email,
                        name=person.name,
                        set_name=learning_set.name,
                        number=meeting.number,
                        scheduled_at=meeting.scheduled_at,
                        duration_minutes=meeting.duration_minutes,
                        video_link=learning_set.video_link,
                        commitments=_open_commitments(session, meeting, person.id),
                    )
                )
        return reminders


def _open_commitments(
    session: Session, meeting: Meeting, person_id: str
) -> tuple[OpenCommitment, ...]:
    """What the member committed to at the set's earlier meetings and has not reported on: the
    report-back list of the meeting ahead."""
    rows = session.exec(
        select(CommitmentRecord)
        .join(Meeting, col(Meeting.id) == col(CommitmentRecord.meeting_id))
        .where(
            Meeting.set_id == meeting.set_id,
            Meeting.id != meeting.id,
            CommitmentRecord.owner_id == person_id,
            col(CommitmentRecord.report_status).is_(None),
        )
        .order_by(col(CommitmentRecord.created_at))
    ).all()
    return tuple(OpenCommitment(what=r.what, by_when=r.by_when) for r in rows)


@dataclass(frozen=True)
class Outcome:
    sent: int
    failed: int


def send_due(engine: Engine, *, now: int, days: int, public_url: str, send: Sender) -> Outcome:
    """Send every due reminder once, recording each in ReminderSent."""
    sent = failed = 0
    for reminder in due(engine, now=now, days=days):
        if not _claim(engine, reminder, now):
            continue  # another run took it
        try:
            send(reminder.email, reminder.subject, reminder.body(public_url))
        except Exception:
            _release(engine, reminder)
            failed += 1
            continue
        sent += 1
    return Outcome(sent=sent, failed=failed)


def _claim(engine: Engine, reminder: Reminder, now: int) -> bool:
    with Session(engine) as session:
        session.add(
            ReminderSent(meeting_id=reminder.meeting_id, person_id=reminder.person_id, sent_at=now)
        )
        try:
            session.commit()
        except IntegrityError:
            return False
    return True


def _release(engine: Engine, reminder: Reminder) -> None:
    with Session(engine) as session:
        row = session.get(ReminderSent, (reminder.meeting_id, reminder.person_id))
        if row is not None:
            session.delete(row)
            session.commit()
