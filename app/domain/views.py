"""What each viewer may see of a meeting, and the summary at its close.

`view(state, viewer)` blanks what the viewer may not know; `redact(event, viewer, settings)`
blanks the same in an event, so that for every event
`apply(view(s, v), redact(ev, v)) == view(apply(s, ev), v)`: a client that folds its redacted
events stays equal to a fresh snapshot of its own view.
"""

from __future__ import annotations

from app.domain import events as e
from app.domain.airtime import airtime_at
from app.domain.model import (
    Commitment,
    Frozen,
    MeetingState,
    Participant,
    PriorCommitment,
    Question,
    Role,
    Settings,
    Slot,
)


def can_read(
    question: Question,
    viewer: str | None,
    settings: Settings,
    roster_role: Role | None,
) -> bool:
    if settings.questions_to_set:
        return True
    return roster_role is Role.FACILITATOR or viewer in (question.presenter, question.author)


def redact_question(
    question: Question, viewer: str | None, settings: Settings, roster_role: Role | None
) -> Question:
    author = question.author
    if question.anonymous and viewer != question.author:
        author = None
    text = question.text if can_read(question, viewer, settings, roster_role) else None
    if author == question.author and text == question.text:
        return question
    return question.model_copy(update={"author": author, "text": text})


def view(state: MeetingState, viewer: str | None) -> MeetingState:
    person = state.person(viewer)
    role = person.role if person else None
    questions = tuple(redact_question(q, viewer, state.settings, role) for q in state.questions)
    # A presenter's notes are theirs alone: not the facilitator's, not the set's.
    notes = tuple(n for n in state.notes if n.owner == viewer)
    return state.model_copy(update={"questions": questions, "notes": notes})


PER_VIEWER: tuple[type[e.Event], ...] = (e.QuestionAsked, e.QuestionTagged, e.NoteSaved)
"""Events each viewer receives redacted their own way (the hub encodes them per socket)."""


def redact(event: e.AnyEvent, viewer: str | None, state: MeetingState) -> e.AnyEvent:
    """The event as `viewer` may see it; `state` is the meeting before the event."""
    if isinstance(event, e.QuestionAsked):
        person = state.person(viewer)
        role = person.role if person else None
        return e.QuestionAsked(
            question=redact_question(event.question, viewer, state.settings, role)
        )
    if isinstance(event, e.NoteSaved) and viewer != event.owner:
        return e.NoteSaved(owner=event.owner, note=None)
    return event


def redact_stamped(stamped: e.Stamped, viewer: str | None, state: MeetingState) -> e.Stamped:
    """The logged event as `viewer` may see it, envelope included: the `actor` of an anonymous
    question is its author, so it is blanked with the author."""
    event = redact(stamped.event, viewer, state)
    if isinstance(event, e.QuestionTagged) and viewer != stamped.actor:
        # The asker of an anonymous question may tag it: who tagged stays with the tagger.
        return stamped.model_copy(update={"actor": None, "actor_role": Role.MEMBER})
    if event is stamped.event:
        return stamped
    actor, role = stamped.actor, stamped.actor_role
    if isinstance(event, e.QuestionAsked) and event.question.author is None:
        # Not even whether a facilitator or a member asked it.
        actor, role = None, Role.MEMBER
    return stamped.model_copy(update={"event": event, "actor": actor, "actor_role": role})


class Attendance(Frozen):
    participant: Participant
    present: bool
    late: bool


class Airtime(Frozen):
    participant: Participant
    ms: int


class KeptQuestion(Frozen):
    presenter: str
    text: str


class Summary(Frozen):
    title: str
    started_at: int | None
    closed_at: int | None
    attendance: tuple[Attendance, ...]
    presenters: tuple[Slot, ...]
    commitments: tuple[Commitment, ...]
    reported: tuple[PriorCommitment, ...]
    next_meeting_at: int | None
    airtime: tuple[Airtime, ...] = ()
    """Speaking time of each person who spoke, most first (app.domain.airtime)."""
    kept: tuple[KeptQuestion, ...] = ()
    """The questions presenters starred to keep, when the set's `turn_record` shows them."""


def summary(state: MeetingState) -> Summary:
    """Who came (late if they first joined past the set's threshold), who presented, what they
    committed to, who spoke how long; and the questions presenters kept when the set shares
    them. Call it on the viewer's `view` (question text is as the viewer may read it); a
    presenter's notes are never part of it."""
    late_ms = state.settings.late_after_minutes * 60_000
    # Opening the room after the close (to read this summary) is not attending.
    came = {
        pid: at
        for pid, at in state.first_seen.items()
        if state.closed_at is None or at <= state.closed_at
    }
    attendance = tuple(
        Attendance(
            participant=p,
            present=p.id in came,
            late=(
                p.id in came
                and state.started_at is not None
                and came[p.id] > state.started_at + late_ms
            ),
        )
        for p in state.roster
    )
    presented = state.slots[: state.presented]
    return Summary(
        title=state.info.title,
        started_at=state.started_at,
        closed_at=state.closed_at,
        attendance=attendance,
        presenters=presented,
        commitments=state.commitments,
        reported=tuple(p for p in state.prior if p.status is not None),
        next_meeting_at=state.info.next_meeting_at,
        airtime=tuple(
            Airtime(participant=p, ms=ms)
            for p, ms in sorted(
                ((p, airtime_at(state, state.closed_at or 0).get(p.id, 0)) for p in state.roster),
                key=lambda row: -row[1],
            )
            if ms > 0
        ),
        kept=(
            tuple(
                KeptQuestion(presenter=q.presenter, text=q.text)
                for q in state.questions
                if q.starred and q.text is not None
            )
            if state.settings.turn_record == "kept_items_visible_to_set"
            else ()
        ),
    )
