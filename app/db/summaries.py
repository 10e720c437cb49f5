"""The close summary of a meeting, for its members and facilitators: replayed from the meeting's
log (views.summary), with a facilitator's attendance corrections applied on top."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from app.db import eventlog
from app.db.tables import Attendance, LearningSet, Meeting, MeetingEvent
from app.domain.engine import replay
from app.domain.model import Commitment, MeetingStatus, PriorCommitment, Role, Slot
from app.domain.views import Airtime, KeptQuestion, summary, view

AttendanceStatus = Literal["present", "late", "apologies", "absent"]
ATTENDANCE_STATUSES: tuple[AttendanceStatus, ...] = ("present", "late", "apologies", "absent")


@dataclass(frozen=True)
class AttendanceRow:
    person_id: str
    name: str
    org: str
    role: Role
    status: AttendanceStatus
    corrected: bool
    """The status is a facilitator's correction rather than what presence showed."""


@dataclass(frozen=True)
class MeetingSummary:
    meeting_id: str
    set_id: str
    set_name: str
    number: int
    title: str
    closed: bool
    scheduled_at: int | None
    started_at: int | None
    closed_at: int | None
    next_meeting_at: int | None
    attendance: tuple[AttendanceRow, ...]
    presenters: tuple[Slot, ...]
    commitments: tuple[Commitment, ...]
    reported: tuple[PriorCommitment, ...]
    names: dict[str, str]
    airtime: tuple[Airtime, ...] = ()
    kept: tuple[KeptQuestion, ...] = ()

    def name(self, person_id: str) -> str:
        return self.names.get(person_id, "Someone")

    @property
    def attended(self) -> int:
        return sum(1 for a in self.attendance if a.status in ("present", "late"))


def meeting_summary(engine: Engine, meeting_id: str, viewer: str) -> MeetingSummary | None:
    """The meeting's summary as `viewer` may read it (the questions presenters kept, through
    the viewer's `view`, as in the room), or None when there is no such meeting."""
    with Session(engine) as session:
        meeting = session.get(Meeting, meeting_id)
        if meeting is None:
            return None
        learning_set = session.get(LearningSet, meeting.set_id)
        rows = session.exec(
            select(MeetingEvent)
            .where(MeetingEvent.meeting_id == meeting_id)
            .order_by(col(MeetingEvent.seq))
        ).all()
        state = replay(meeting_id, (eventlog.from_row(r) for r in rows))
        corrections = {
            a.person_id: corrected
            for a in session.exec(
                select(Attendance).where(Attendance.meeting_id == meeting_id)
            ).all()
            if (corrected := _status(a.status)) is not None
        }
        number, title, set_id = meeting.number, meeting.title, meeting.set_id
        scheduled_at = meeting.scheduled_at
        set_name = learning_set.name if learning_set else ""
    result = summary(view(state, viewer))
    attendance = []
    for a in result.attendance:
        seen: AttendanceStatus = "late" if a.late else ("present" if a.present else "absent")
        fixed = corrections.get(a.participant.id)
        attendance.append(
            AttendanceRow(
                person_id=a.participant.id,
                name=a.participant.name,
                org=a.participant.org,
                role=a.participant.role,
                status=fixed or seen,
                corrected=fixed is not None,
            )
        )
    return MeetingSummary(
        meeting_id=meeting_id,
        set_id=set_id,
        set_name=state.info.set_name or set_name,
        number=number,
        title=title,
        closed=state.status is MeetingStatus.CLOSED,
        scheduled_at=scheduled_at,
        started_at=result.started_at,
        closed_at=result.closed_at,
        next_meeting_at=result.next_meeting_at,
        attendance=tuple(attendance),
        presenters=result.presenters,
        commitments=result.commitments,
        reported=result.reported,
        names={p.id: p.name for p in state.roster},
        airtime=result.airtime,
        kept=result.kept,
    )


def _status(value: str | None) -> AttendanceStatus | None:
    """A facilitator's correction, when it is one of the statuses."""
    return next((s for s in ATTENDANCE_STATUSES if s == value), None)


CSV_COLUMNS = (
    "kind",
    "meeting",
    "person",
    "organisation",
    "role",
    "attendance",
    "what",
    "by_when",
    "how_know",
    "support",
    "status",
    "learned",
    "next_step",
    "issue",
    "minutes",
)


def summary_csv(data: MeetingSummary) -> str:
    """One CSV: a row per attendee (kind "attendance"), presenter ("presenter"), commitment made
    ("commitment") and report-back on an earlier commitment ("report_back")."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    meeting = str(data.number)
    orgs = {a.person_id: a.org for a in data.attendance}

    def row(kind: str, person: str, **fields: str) -> None:
        values = {"kind": kind, "meeting": meeting, "person": data.name(person)}
        values["organisation"] = orgs.get(person, "")
        writer.writerow({k: _cell(v) for k, v in (values | fields).items()})

    for a in data.attendance:
        row("attendance", a.person_id, role=a.role.value, attendance=a.status)
    for s in data.presenters:
        row("presenter", s.member, issue=s.title, minutes=str(s.minutes))
    for c in data.commitments:
        row(
            "commitment",
            c.owner,
            what=c.what,
            by_when=c.by_when,
            how_know=c.how_know,
            support=c.support,
        )
    for p in data.reported:
        row(
            "report_back",
            p.owner,
            what=p.what,
            by_when=p.by_when,
            status=p.status.value if p.status else "",
            learned=p.learned,
            next_step=p.next_step,
        )
    return out.getvalue()


def _cell(value: str) -> str:
    """Keep a spreadsheet from running a cell as a formula (CSV injection)."""
    if value and value[0] in "=+-@\t\r":
        return "'" + value
    return value
