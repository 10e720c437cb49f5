"""The one-minute feedback form after a meeting: one per member and meeting, given once the
meeting has closed and editable for FEEDBACK_DAYS after the close.

Ratings are counts for the programme report; the free text is content, seen by its author
(and the set's facilitators), never by a lead."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine
from sqlmodel import Session, col, func, select

from app.db.refusal import Refusal, Term
from app.db.tables import Feedback, Meeting, MeetingEvent, Membership
from app.domain.model import Role
from app.domain.text import N_

FEEDBACK_DAYS = 14
"""A member gives or changes their feedback until this many days after the meeting closed."""
MAX_COMMENT = 2000
RATINGS = (1, 2, 3, 4, 5)
DAY_MS = 86_400_000


class FeedbackError(Refusal):
    """Feedback that cannot be taken: the message says why, for the person giving it."""


@dataclass(frozen=True)
class FeedbackView:
    meeting_id: str
    set_id: str
    number: int
    title: str
    closed: bool
    closed_at: int | None
    open_until: int | None
    """The last moment feedback can be given or changed (None until the meeting closes)."""
    is_member: bool
    mine: Feedback | None
    given: int
    """How many members have given feedback (a count; never who said what)."""
    members: int
    comments: tuple[str, ...] = ()
    """The members' comments, unattributed: for the set's facilitators alone."""

    def accepting(self, now: int) -> bool:
        return self.closed and self.open_until is not None and now <= self.open_until


@dataclass(frozen=True)
class FeedbackDue:
    """A closed meeting a member can still give (or change) feedback on."""

    meeting_id: str
    number: int
    open_until: int
    given: bool


def closed_at(session: Session, meeting: Meeting) -> int:
    """When the meeting closed: its close event, else its last event, else its creation."""
    closed = session.exec(
        select(func.max(col(MeetingEvent.at))).where(
            MeetingEvent.meeting_id == meeting.id, MeetingEvent.type == "meeting_closed"
        )
    ).one()
    if closed is None:
        closed = session.exec(
            select(func.max(col(MeetingEvent.at))).where(MeetingEvent.meeting_id == meeting.id)
        ).one()
    return int(closed) if closed is not None else meeting.created_at


def _is_member(session: Session, set_id: str, person_id: str) -> bool:
    membership = session.get(Membership, (set_id, person_id))
    return membership is not None and membership.role == Role.MEMBER.value


def feedback_view(
    engine: Engine, *, meeting_id: str, person_id: str, with_comments: bool = False
) -> FeedbackView:
    """The meeting's feedback as `person_id` may see it: their own answer, how many have
    answered, and (`with_comments`, for a facilitator of the set) the comments unattributed."""
    with Session(engine, expire_on_commit=False) as session:
        meeting = session.get(Meeting, meeting_id)
        if meeting is None:
            raise LookupError(meeting_id)
        closed = meeting.status == "closed"
        at = closed_at(session, meeting) if closed else None
        given = session.exec(
            select(func.count()).select_from(Feedback).where(Feedback.meeting_id == meeting_id)
        ).one()
        members = session.exec(
            select(func.count())
            .select_from(Membership)
            .where(Membership.set_id == meeting.set_id, Membership.role == Role.MEMBER.value)
        ).one()
        return FeedbackView(
            meeting_id=meeting.id,
            set_id=meeting.set_id,
            number=meeting.number,
            title=meeting.title,
            closed=closed,
            closed_at=at,
            open_until=at + FEEDBACK_DAYS * DAY_MS if at is not None else None,
            is_member=_is_member(session, meeting.set_id, person_id),
            mine=session.get(Feedback, (meeting_id, person_id)),
            given=given,
            members=members,
            comments=tuple(
                sorted(
                    session.exec(
                        select(Feedback.comment).where(
                            Feedback.meeting_id == meeting_id, Feedback.comment != ""
                        )
                    ).all()
                )
            )
            if with_comments
            else (),
        )


RATING_NAMES = (N_("usefulness"), N_("safety"), N_("challenge"))
"""The ratings as a refusal names them (the form's field names)."""


def rating(raw: str, *, what: str) -> int:
    """A rating from a form: a whole number from 1 to 5."""
    text = raw.strip()
    if text not in {str(r) for r in RATINGS}:
        raise FeedbackError("Choose a rating from 1 to 5 for {what}.", what=Term(what))
    return int(text)


def save_feedback(
    engine: Engine,
    *,
    meeting_id: str,
    person_id: str,
    usefulness: int,
    safety: int,
    challenge: int,
    comment: str,
    now: int,
) -> None:
    """Give, or change, a member's feedback on a closed meeting."""
    for value in (usefulness, safety, challenge):
        if value not in RATINGS:
            raise FeedbackError(N_("Each rating is a whole number from 1 to 5."))
    comment = comment.strip()
    if len(comment) > MAX_COMMENT:
        raise FeedbackError(
            "Keep your comment under {limit} characters.", limit=format(MAX_COMMENT, ",")
        )
    with Session(engine) as session:
        meeting = session.get(Meeting, meeting_id)
        if meeting is None:
            raise LookupError(meeting_id)
        if not _is_member(session, meeting.set_id, person_id):
            raise FeedbackError(
                N_("Feedback is given by the set's members; facilitators give none.")
            )
        if meeting.status != "closed":
            raise FeedbackError(N_("Feedback opens when the meeting has closed."))
        if now > closed_at(session, meeting) + FEEDBACK_DAYS * DAY_MS:
            raise FeedbackError(
                "Feedback on this meeting closed {days} days after the meeting.", days=FEEDBACK_DAYS
            )
        mine = session.get(Feedback, (meeting_id, person_id))
        if mine is None:
            mine = Feedback(
                meeting_id=meeting_id,
                person_id=person_id,
                usefulness=usefulness,
                safety=safety,
                challenge=challenge,
                comment=comment,
                created_at=now,
            )
        else:
            mine.usefulness, mine.safety, mine.challenge = usefulness, safety, challenge
            mine.comment = comment
        session.add(mine)
        session.commit()


def feedback_due(engine: Engine, *, set_id: str, person_id: str, now: int) -> list[FeedbackDue]:
    """The set's closed meetings whose feedback window is still open, for a member of the set,
    newest first; nothing for anyone else."""
    with Session(engine) as session:
        if not _is_member(session, set_id, person_id):
            return []
        meetings = session.exec(
            select(Meeting)
            .where(Meeting.set_id == set_id, Meeting.status == "closed")
            .order_by(col(Meeting.number).desc())
        ).all()
        given = set(
            session.exec(select(Feedback.meeting_id).where(Feedback.person_id == person_id)).all()
        )
        due = []
        for meeting in meetings:
            until = closed_at(session, meeting) + FEEDBACK_DAYS * DAY_MS
            if now <= until:
                due.append(
                    FeedbackDue(
                        meeting_id=meeting.id,
                        number=meeting.number,
                        open_until=until,
                        given=meeting.id in given,
                    )
                )
        return due
