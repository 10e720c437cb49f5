"""Attendance and the programme report: counts and rates, never content.

Attendance is taken from presence (the `Attendance` rows the meeting log projects: when a
member first joined, and whether that was late) and corrected by a facilitator (`status`:
present, late, apologies or absent). A member's effective status at a meeting is the
correction, else late or present from presence, else absent. Attended means present or late;
apologies are not attended but are counted apart. Rates are attended over member-meetings of
closed meetings, for each member, set and programme.

The programme report adds commitments made and how they were reported back, the feedback
scores' averages over time and the presenting spread (who presented is read from each
meeting's log: the engine's summary names the members whose turns were taken, never what they
brought). Nothing here reads a commitment's text, a question, an issue title, a feedback
comment or a learning-log entry.

The pure computation (`effective_status`, `rate`, `tally`, `average`) is separate from the
queries (`meeting_attendance`, `correct_attendance`, `programme_report`).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from app.db import eventlog
from app.db.refusal import Refusal
from app.db.tables import (
    Attendance,
    CommitmentRecord,
    Feedback,
    LearningSet,
    Meeting,
    MeetingEvent,
    Membership,
    Person,
    Programme,
)
from app.domain.engine import replay
from app.domain.model import Role
from app.domain.text import N_
from app.domain.views import summary

STATUSES: tuple[str, ...] = ("present", "late", "apologies", "absent")
ATTENDED: frozenset[str] = frozenset({"present", "late"})
REPORT_STATUSES: tuple[str, ...] = ("done", "partly", "not_done", "changed")
MIN_FEEDBACK = 3
"""Feedback averages are shown for at least this many answers: fewer would tell a lead how
one member scored a meeting."""


class AttendanceError(Refusal, ValueError):
    """A correction refused, with a sentence to show by the form."""


# Pure computation


def effective_status(*, joined: bool, late: bool, correction: str | None) -> str:
    """The facilitator's correction, else what presence recorded, else absent."""
    if correction in STATUSES:
        return str(correction)
    if joined:
        return "late" if late else "present"
    return "absent"


def rate(attended: int, possible: int) -> Fraction | None:
    """Attended over possible member-meetings; None when there were none."""
    return Fraction(attended, possible) if possible else None


def percent(value: Fraction | None) -> str:
    """A rate as a percentage with one decimal ("83.3"), half up; "" for no rate."""
    if value is None:
        return ""
    tenths = math.floor(value * 1000 + Fraction(1, 2))
    return f"{tenths // 10}.{tenths % 10}"


def average(scores: Iterable[int], *, minimum: int = MIN_FEEDBACK) -> Fraction | None:
    values = list(scores)
    if len(values) < max(minimum, 1):
        return None
    return Fraction(sum(values), len(values))


def two_places(value: Fraction | None) -> str:
    """An average with two decimals ("3.67"), half up; "" for none."""
    if value is None:
        return ""
    hundredths = math.floor(value * 100 + Fraction(1, 2))
    return f"{hundredths // 100}.{hundredths % 100:02d}"


@dataclass(frozen=True)
class Tally:
    """Attendance counted over member-meetings."""

    present: int = 0
    late: int = 0
    apologies: int = 0
    absent: int = 0

    @property
    def attended(self) -> int:
        return self.present + self.late

    @property
    def possible(self) -> int:
        return self.present + self.late + self.apologies + self.absent

    @property
    def rate(self) -> Fraction | None:
        return rate(self.attended, self.possible)

    @property
    def percent(self) -> str:
        return percent(self.rate)

    def __add__(self, other: Tally) -> Tally:
        return Tally(
            present=self.present + other.present,
            late=self.late + other.late,
            apologies=self.apologies + other.apologies,
            absent=self.absent + other.absent,
        )


def tally(statuses: Iterable[str]) -> Tally:
    counts = {s: 0 for s in STATUSES}
    for status in statuses:
        counts[status] += 1
    return Tally(**counts)


def total(tallies: Iterable[Tally]) -> Tally:
    result = Tally()
    for t in tallies:
        result = result + t
    return result


@dataclass(frozen=True)
class Commitments:
    made: int = 0
    done: int = 0
    partly: int = 0
    not_done: int = 0
    changed: int = 0

    @property
    def open(self) -> int:
        return self.made - self.done - self.partly - self.not_done - self.changed

    @property
    def completion(self) -> Fraction | None:
        return rate(self.done, self.made)

    def __add__(self, other: Commitments) -> Commitments:
        return Commitments(
            made=self.made + other.made,
            done=self.done + other.done,
            partly=self.partly + other.partly,
            not_done=self.not_done + other.not_done,
            changed=self.changed + other.changed,
        )


def count_commitments(report_statuses: Iterable[str | None]) -> Commitments:
    counts = {s: 0 for s in REPORT_STATUSES}
    made = 0
    for status in report_statuses:
        made += 1
        if status in counts:
            counts[status] += 1
    return Commitments(made=made, **counts)


@dataclass(frozen=True)
class Scores:
    """Feedback scores' averages (None below MIN_FEEDBACK answers)."""

    responses: int = 0
    usefulness: Fraction | None = None
    safety: Fraction | None = None
    challenge: Fraction | None = None


def scores(rows: Iterable[tuple[int, int, int]]) -> Scores:
    values = list(rows)
    return Scores(
        responses=len(values),
        usefulness=average(v[0] for v in values),
        safety=average(v[1] for v in values),
        challenge=average(v[2] for v in values),
    )


# A meeting's attendance page


@dataclass(frozen=True)
class AttendanceRow:
    person_id: str
    name: str
    joined_at: int | None
    """When presence first saw them in the room (None: not before the meeting closed)."""
    late: bool
    correction: str | None
    status: str


@dataclass(frozen=True)
class MeetingAttendance:
    meeting_id: str
    set_id: str
    set_name: str
    number: int
    meeting_status: str
    scheduled_at: int | None
    rows: tuple[AttendanceRow, ...]
    late_after_minutes: int

    @property
    def taken(self) -> bool:
        """Attendance is taken once a meeting has started."""
        return self.meeting_status != "not_started"

    @property
    def tally(self) -> Tally:
        return tally(r.status for r in self.rows)


def meeting_attendance(engine: Engine, *, meeting_id: str) -> MeetingAttendance:
    """Every member of the meeting's set with what presence recorded and any correction."""
    with Session(engine) as session:
        meeting = session.get(Meeting, meeting_id)
        if meeting is None:
            raise AttendanceError(N_("No such meeting."))
        learning_set = session.get(LearningSet, meeting.set_id)
        assert learning_set is not None
        members = session.exec(
            select(Person.id, Person.name)
            .join(Membership, col(Membership.person_id) == col(Person.id))
            .where(Membership.set_id == meeting.set_id, Membership.role == Role.MEMBER.value)
            .order_by(col(Person.name), col(Person.id))
        ).all()
        records = {
            a.person_id: a
            for a in session.exec(select(Attendance).where(Attendance.meeting_id == meeting_id))
        }
        closed_at = _closed_at(session, [meeting_id]).get(meeting_id)
    rows = []
    for person_id, name in members:
        record = records.get(person_id)
        joined = _joined(record, closed_at)
        late = joined and record is not None and record.late
        correction = record.status if record is not None else None
        rows.append(
            AttendanceRow(
                person_id=person_id,
                name=name,
                joined_at=record.first_joined_at if joined and record is not None else None,
                late=late,
                correction=correction if correction in STATUSES else None,
                status=effective_status(joined=joined, late=late, correction=correction),
            )
        )
    return MeetingAttendance(
        meeting_id=meeting.id,
        set_id=meeting.set_id,
        set_name=learning_set.name,
        number=meeting.number,
        meeting_status=meeting.status,
        scheduled_at=meeting.scheduled_at,
        rows=tuple(rows),
        late_after_minutes=learning_set.late_after_minutes,
    )


NO_PRESENCE = 0
"""`first_joined_at` of a row a correction created for someone presence never saw."""


def correct_attendance(
    engine: Engine,
    *,
    meeting_id: str,
    corrections: Mapping[str, str],
    by: str,
    now: int,
) -> int:
    """Save a facilitator's corrections (person id -> a status, or "" for "as recorded"), all
    or none. Returns how many changed."""
    current = meeting_attendance(engine, meeting_id=meeting_id)
    if not current.taken:
        raise AttendanceError(N_("Attendance is taken once the meeting has started."))
    roster = {r.person_id: r for r in current.rows}
    for person_id, status in corrections.items():
        if person_id not in roster:
            raise AttendanceError(N_("Someone in the form is not a member of this set; reload."))
        if status and status not in STATUSES:
            raise AttendanceError(N_("Choose present, late, apologies or absent for each member."))
    changed = 0
    with Session(engine) as session:
        for person_id, status in corrections.items():
            wanted = status or None
            if roster[person_id].correction == wanted:
                continue
            record = session.get(Attendance, (meeting_id, person_id))
            if record is None:
                if wanted is None:
                    continue
                record = Attendance(
                    meeting_id=meeting_id, person_id=person_id, first_joined_at=NO_PRESENCE
                )
            record.status = wanted
            record.corrected_by = by
            record.corrected_at = now
            session.add(record)
            changed += 1
        session.commit()
    return changed


def _joined(record: Attendance | None, closed_at: int | None) -> bool:
    """Presence saw them before the meeting closed (opening the room afterwards to read its
    summary is not attending)."""
    if record is None or record.first_joined_at == NO_PRESENCE:
        return False
    return closed_at is None or record.first_joined_at <= closed_at


def _closed_at(session: Session, meeting_ids: list[str]) -> dict[str, int]:
    if not meeting_ids:
        return {}
    rows = session.exec(
        select(MeetingEvent.meeting_id, MeetingEvent.at).where(
            col(MeetingEvent.meeting_id).in_(meeting_ids),
            MeetingEvent.type == "meeting_closed",
        )
    ).all()
    return {meeting_id: at for meeting_id, at in rows}


# The programme report


@dataclass(frozen=True)
class MeetingFigures:
    meeting_id: str
    number: int
    scheduled_at: int | None
    attendance: Tally
    commitments: Commitments
    feedback: Scores
    presentations: int


@dataclass(frozen=True)
class MemberAttendance:
    name: str
    attendance: Tally


@dataclass(frozen=True)
class SetFigures:
    set_id: str
    name: str
    members: int
    meetings: tuple[MeetingFigures, ...]
    member_attendance: tuple[MemberAttendance, ...]
    presented: int
    """Members of the set who have presented at least once."""

    @property
    def attendance(self) -> Tally:
        return total(m.attendance for m in self.meetings)

    @property
    def commitments(self) -> Commitments:
        result = Commitments()
        for m in self.meetings:
            result = result + m.commitments
        return result

    @property
    def presentations(self) -> int:
        return sum(m.presentations for m in self.meetings)


@dataclass(frozen=True)
class NumberFigures:
    """Every set's meeting of one number together: the programme over time."""

    number: int
    attendance: Tally
    feedback: Scores
    presentations: int


@dataclass(frozen=True)
class ProgrammeReport:
    programme_id: str
    name: str
    target: int
    """Attendance target, percent."""
    sets: tuple[SetFigures, ...]
    over_time: tuple[NumberFigures, ...] = field(default=())

    @property
    def target_rate(self) -> Fraction:
        return Fraction(self.target, 100)

    @property
    def attendance(self) -> Tally:
        return total(s.attendance for s in self.sets)

    @property
    def commitments(self) -> Commitments:
        result = Commitments()
        for s in self.sets:
            result = result + s.commitments
        return result

    @property
    def members(self) -> int:
        return sum(s.members for s in self.sets)

    @property
    def presented(self) -> int:
        return sum(s.presented for s in self.sets)

    @property
    def presentations(self) -> int:
        return sum(s.presentations for s in self.sets)

    @property
    def meetings_closed(self) -> int:
        return sum(len(s.meetings) for s in self.sets)

    def meets_target(self, value: Fraction | None) -> bool:
        return value is not None and value >= self.target_rate


def programme_report(engine: Engine, *, programme_id: str) -> ProgrammeReport:
    """The programme's figures over its closed meetings, per set and per meeting."""
    with Session(engine) as session:
        programme = session.get(Programme, programme_id)
        if programme is None:
            raise LookupError(programme_id)
        sets = session.exec(
            select(LearningSet)
            .where(LearningSet.programme_id == programme_id)
            .order_by(col(LearningSet.name), col(LearningSet.id))
        ).all()
        set_ids = [s.id for s in sets]
        members_of: dict[str, list[tuple[str, str]]] = defaultdict(list)
        for set_id, person_id, name in session.exec(
            select(Membership.set_id, Person.id, Person.name)
            .join(Person, col(Person.id) == col(Membership.person_id))
            .where(col(Membership.set_id).in_(set_ids), Membership.role == Role.MEMBER.value)
            .order_by(col(Person.name), col(Person.id))
        ):
            members_of[set_id].append((person_id, name))
        meetings = session.exec(
            select(Meeting)
            .where(col(Meeting.set_id).in_(set_ids), Meeting.status == "closed")
            .order_by(col(Meeting.set_id), col(Meeting.number))
        ).all()
        meeting_ids = [m.id for m in meetings]
        closed_at = _closed_at(session, meeting_ids)
        records = {
            (a.meeting_id, a.person_id): a
            for a in session.exec(
                select(Attendance).where(col(Attendance.meeting_id).in_(meeting_ids))
            )
        }
        commitment_statuses: dict[str, list[str | None]] = defaultdict(list)
        for meeting_id, status in session.exec(
            select(CommitmentRecord.meeting_id, CommitmentRecord.report_status).where(
                col(CommitmentRecord.meeting_id).in_(meeting_ids)
            )
        ):
            commitment_statuses[meeting_id].append(status)
        feedback: dict[str, list[tuple[int, int, int]]] = defaultdict(list)
        # The scores alone: the comment is content and is never read here.
        for meeting_id, usefulness, safety, challenge in session.exec(
            select(
                Feedback.meeting_id, Feedback.usefulness, Feedback.safety, Feedback.challenge
            ).where(col(Feedback.meeting_id).in_(meeting_ids))
        ):
            feedback[meeting_id].append((usefulness, safety, challenge))
    presenters = {m.id: presenters_of(engine, meeting_id=m.id) for m in meetings}

    by_set: dict[str, list[Meeting]] = defaultdict(list)
    for meeting in meetings:
        by_set[meeting.set_id].append(meeting)
    set_figures = []
    for learning_set in sets:
        roster = members_of[learning_set.id]
        member_statuses: dict[str, list[str]] = defaultdict(list)
        meeting_figures = []
        presented: set[str] = set()
        for meeting in by_set[learning_set.id]:
            statuses = []
            for person_id, _ in roster:
                record = records.get((meeting.id, person_id))
                joined = _joined(record, closed_at.get(meeting.id))
                status = effective_status(
                    joined=joined,
                    late=joined and record is not None and record.late,
                    correction=record.status if record is not None else None,
                )
                statuses.append(status)
                member_statuses[person_id].append(status)
            presented |= set(presenters[meeting.id])
            meeting_figures.append(
                MeetingFigures(
                    meeting_id=meeting.id,
                    number=meeting.number,
                    scheduled_at=meeting.scheduled_at,
                    attendance=tally(statuses),
                    commitments=count_commitments(commitment_statuses[meeting.id]),
                    feedback=scores(feedback[meeting.id]),
                    presentations=len(presenters[meeting.id]),
                )
            )
        set_figures.append(
            SetFigures(
                set_id=learning_set.id,
                name=learning_set.name,
                members=len(roster),
                meetings=tuple(meeting_figures),
                member_attendance=tuple(
                    MemberAttendance(name=name, attendance=tally(member_statuses[person_id]))
                    for person_id, name in roster
                ),
                presented=len(presented & {person_id for person_id, _ in roster}),
            )
        )
    return ProgrammeReport(
        programme_id=programme.id,
        name=programme.name,
        target=programme.attendance_target,
        sets=tuple(set_figures),
        over_time=over_time(set_figures, feedback_of=feedback),
    )


def over_time(
    sets: Iterable[SetFigures], *, feedback_of: Mapping[str, list[tuple[int, int, int]]]
) -> tuple[NumberFigures, ...]:
    """Each meeting number across the sets: attendance and every answer's scores together."""
    attendance: dict[int, list[Tally]] = defaultdict(list)
    answers: dict[int, list[tuple[int, int, int]]] = defaultdict(list)
    presentations: dict[int, int] = defaultdict(int)
    for s in sets:
        for m in s.meetings:
            attendance[m.number].append(m.attendance)
            answers[m.number].extend(feedback_of.get(m.meeting_id, []))
            presentations[m.number] += m.presentations
    return tuple(
        NumberFigures(
            number=n,
            attendance=total(attendance[n]),
            feedback=scores(answers[n]),
            presentations=presentations[n],
        )
        for n in sorted(attendance)
    )


def presenters_of(engine: Engine, *, meeting_id: str) -> tuple[str, ...]:
    """The members whose presenting turns were taken at a meeting (ids only), from its log."""
    log = eventlog.load(engine, meeting_id)
    if not log:
        return ()
    return tuple(dict.fromkeys(slot.member for slot in summary(replay(meeting_id, log)).presenters))
