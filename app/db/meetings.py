"""Creating meetings: the roster and plan of a set become a meeting's first event."""

from __future__ import annotations

from sqlalchemy import Engine
from sqlmodel import Session, col, func, select

from app.db import eventlog
from app.db.access import new_id
from app.db.tables import (
    CommitmentRecord,
    LearningSet,
    Meeting,
    MeetingEvent,
    Membership,
    Organisation,
    Person,
    Programme,
)
from app.domain import events as e
from app.domain.engine import replay
from app.domain.model import (
    MeetingInfo,
    Participant,
    PriorCommitment,
    Role,
    Settings,
    turn_record_of,
)
from app.domain.templates import DEFAULT_TEMPLATE, PhaseSpec, phases_from, template_from_json
from app.domain.text import N_
from app.domain.views import summary

TITLE_LENGTH = 200
"""Meeting.title's column width."""


def roster(session: Session, set_id: str) -> tuple[Participant, ...]:
    rows = session.exec(
        select(Membership, Person, Organisation)
        .join(Person, col(Person.id) == col(Membership.person_id))
        .join(Organisation, col(Organisation.id) == col(Person.organisation_id), isouter=True)
        .where(Membership.set_id == set_id)
        .order_by(col(Membership.role), col(Person.name))
    ).all()
    return tuple(
        Participant(
            id=person.id, name=person.name, org=org.name if org else "", role=Role(membership.role)
        )
        for membership, person, org in rows
    )


def open_commitments(session: Session, set_id: str) -> tuple[PriorCommitment, ...]:
    """Commitments made at the set's earlier meetings and not yet reported on."""
    rows = session.exec(
        select(CommitmentRecord)
        .join(Meeting, col(Meeting.id) == col(CommitmentRecord.meeting_id))
        .where(Meeting.set_id == set_id, col(CommitmentRecord.report_status).is_(None))
        .order_by(col(CommitmentRecord.created_at))
    ).all()
    return tuple(
        PriorCommitment(id=r.id, owner=r.owner_id, what=r.what, by_when=r.by_when) for r in rows
    )


def presented_before(session: Session, learning_set: LearningSet) -> tuple[str, ...]:
    """The set's members who presented at a closed meeting of the programme (of the set alone
    when it has no programme): each such meeting's log replayed, its summary's presenters."""
    sets = (
        select(LearningSet.id).where(LearningSet.programme_id == learning_set.programme_id)
        if learning_set.programme_id is not None
        else select(LearningSet.id).where(LearningSet.id == learning_set.id)
    )
    meetings = session.exec(
        select(Meeting.id).where(col(Meeting.set_id).in_(sets), Meeting.status == "closed")
    ).all()
    members = {
        m.person_id
        for m in session.exec(
            select(Membership).where(
                Membership.set_id == learning_set.id, Membership.role == Role.MEMBER.value
            )
        ).all()
    }
    presented: set[str] = set()
    for meeting_id in meetings:
        rows = session.exec(
            select(MeetingEvent)
            .where(MeetingEvent.meeting_id == meeting_id)
            .order_by(col(MeetingEvent.seq))
        ).all()
        state = replay(meeting_id, (eventlog.from_row(r) for r in rows))
        presented.update(slot.member for slot in summary(state).presenters)
    return tuple(sorted(presented & members))


def _title(set_name: str, number: int) -> str:
    # Shortened to fit the column: PostgreSQL refuses a longer value (SQLite would keep it).
    suffix = f": meeting {number}"
    room = TITLE_LENGTH - len(suffix)
    name = set_name if len(set_name) <= room else set_name[: room - 1].rstrip() + "…"
    return name + suffix


def template_for(session: Session, learning_set: LearningSet) -> tuple[PhaseSpec, ...]:
    """The set's own template, else its programme's, else the default."""
    own = template_from_json(learning_set.template)
    if own is not None:
        return own
    programme = (
        session.get(Programme, learning_set.programme_id) if learning_set.programme_id else None
    )
    from_programme = template_from_json(programme.template) if programme else None
    return from_programme or DEFAULT_TEMPLATE


def create_meeting(
    engine: Engine,
    *,
    set_id: str,
    now: int,
    scheduled_at: int | None = None,
    template: tuple[PhaseSpec, ...] | None = None,
    duration_minutes: int = 180,
    rota_person_id: str | None = None,
) -> str:
    """A new meeting of the set, with its first event (roster, plan, settings) in the log.

    The plan is `template`, else the set's (template_for); `rota_person_id`, a member of the
    set, holds the controls of this meeting from its first event."""
    with Session(engine) as session:
        learning_set = session.get(LearningSet, set_id)
        if learning_set is None:
            raise LookupError(set_id)
        people = roster(session, set_id)
        if rota_person_id is not None and not any(
            p.id == rota_person_id and p.role is Role.MEMBER for p in people
        ):
            raise ValueError(N_("The rota names someone who is not a member of this set."))
        count = session.exec(
            select(func.count()).select_from(Meeting).where(Meeting.set_id == set_id)
        ).one()
        number = count + 1
        meeting = Meeting(
            id=new_id(),
            set_id=set_id,
            number=number,
            title=_title(learning_set.name, number),
            scheduled_at=scheduled_at,
            duration_minutes=duration_minutes,
            created_at=now,
            rota_person_id=rota_person_id,
        )
        opened = e.MeetingOpened(
            info=MeetingInfo(
                title=meeting.title,
                set_name=learning_set.name,
                scheduled_at=scheduled_at,
                planned_minutes=duration_minutes,
                video_link=learning_set.video_link,
            ),
            settings=Settings(
                anonymous_questions=learning_set.anonymous_questions,
                questions_to_set=learning_set.questions_to_set,
                late_after_minutes=learning_set.late_after_minutes,
                turn_record=turn_record_of(learning_set.turn_record),
            ),
            roster=people,
            phases=phases_from(template or template_for(session, learning_set)),
            prior=open_commitments(session, set_id),
            presented_before=presented_before(session, learning_set),
            delegate=rota_person_id,
        )
        meeting_id = meeting.id
        session.add(meeting)
        session.flush()
        # The meeting and its first event land together: no meeting is ever without its log.
        first = e.Stamped(seq=1, at=now, actor=None, actor_role=Role.SYSTEM, event=opened)
        eventlog.append_in(session, meeting_id, 0, [first])
        session.commit()
    return meeting_id


def current_meeting(engine: Engine, set_id: str) -> Meeting | None:
    """The set's meeting to join: the earliest not closed, else the latest."""
    with Session(engine) as session:
        open_meeting = session.exec(
            select(Meeting)
            .where(Meeting.set_id == set_id, Meeting.status != "closed")
            .order_by(col(Meeting.number))
        ).first()
        if open_meeting is not None:
            return open_meeting
        return session.exec(
            select(Meeting).where(Meeting.set_id == set_id).order_by(col(Meeting.number).desc())
        ).first()


def open_meetings(engine: Engine, *, set_id: str | None = None) -> list[str]:
    """Meetings not yet closed (of one set, when given)."""
    query = select(Meeting.id).where(Meeting.status != "closed")
    if set_id is not None:
        query = query.where(Meeting.set_id == set_id)
    with Session(engine) as session:
        return list(session.exec(query).all())


def set_roster(engine: Engine, set_id: str) -> tuple[Participant, ...]:
    with Session(engine) as session:
        return roster(session, set_id)
