"""Events: what happened in a meeting. The state is the fold of its events.

Events carry the resulting values (the new order, speaker, timer), so `apply` only assigns and a
replay never needs a clock.
"""

from __future__ import annotations

from typing import Annotated, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from app.domain.model import (
    Bid,
    Commitment,
    GrowStage,
    MeetingInfo,
    Note,
    Participant,
    Phase,
    PriorCommitment,
    Question,
    ReportStatus,
    Role,
    Settings,
    Slot,
    Stage,
    Timer,
)


class Event(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class MeetingOpened(Event):
    """The first event of every meeting: who is in it, its plan and its settings."""

    type: Literal["meeting_opened"] = "meeting_opened"
    info: MeetingInfo
    settings: Settings
    roster: tuple[Participant, ...]
    phases: tuple[Phase, ...]
    prior: tuple[PriorCommitment, ...] = ()
    presented_before: tuple[str, ...] = ()
    """Members of the set who presented at an earlier meeting of the programme."""
    delegate: str | None = None
    """The member on the set's rota for this meeting: they hold the controls from the start."""


class MeetingStarted(Event):
    type: Literal["meeting_started"] = "meeting_started"
    at: int


class PhaseEntered(Event):
    """The room moved to a phase; `phases` holds every phase's status after the move."""

    type: Literal["phase_entered"] = "phase_entered"
    phase_index: int
    phases: tuple[Phase, ...]
    order: tuple[str, ...]
    turn_index: int
    speaker: str | None
    presenter_index: int
    stage: Stage | None
    timer: Timer


class PhasesChanged(Event):
    """The plan of phases was edited (skip, restore, move, add)."""

    type: Literal["phases_changed"] = "phases_changed"
    phases: tuple[Phase, ...]
    phase_index: int


class OrderSet(Event):
    type: Literal["order_set"] = "order_set"
    order: tuple[str, ...]
    turn_index: int
    speaker: str | None
    timer: Timer


class SpeakerChanged(Event):
    type: Literal["speaker_changed"] = "speaker_changed"
    speaker: str | None
    turn_index: int
    timer: Timer


class StageChanged(Event):
    type: Literal["stage_changed"] = "stage_changed"
    presenter_index: int
    stage: Stage | None
    speaker: str | None
    timer: Timer
    hands: tuple[str, ...]


class SlotsSet(Event):
    type: Literal["slots_set"] = "slots_set"
    slots: tuple[Slot, ...]


class BidPlaced(Event):
    type: Literal["bid_placed"] = "bid_placed"
    bid: Bid


class BidWithdrawn(Event):
    type: Literal["bid_withdrawn"] = "bid_withdrawn"
    member: str


TimerAction = Literal["started", "paused", "resumed", "extended", "elapsed"]


class TimerChanged(Event):
    type: Literal["timer_changed"] = "timer_changed"
    action: TimerAction
    timer: Timer


class HandRaised(Event):
    type: Literal["hand_raised"] = "hand_raised"
    member: str


class HandLowered(Event):
    type: Literal["hand_lowered"] = "hand_lowered"
    member: str


class HandCalled(Event):
    """The first hand in the queue was called: it leaves the queue and speaks."""

    type: Literal["hand_called"] = "hand_called"
    member: str


class QuestionAsked(Event):
    type: Literal["question_asked"] = "question_asked"
    question: Question


class QuestionFlagged(Event):
    type: Literal["question_flagged"] = "question_flagged"
    question_id: str
    advice: bool


class QuestionTagged(Event):
    type: Literal["question_tagged"] = "question_tagged"
    question_id: str
    grow: GrowStage | None


class NoteSaved(Event):
    """A presenter's private note. Anyone else receives it with `note` None (views.redact), which
    changes nothing in their view."""

    type: Literal["note_saved"] = "note_saved"
    owner: str
    note: Note | None


class QuestionStarred(Event):
    type: Literal["question_starred"] = "question_starred"
    question_id: str
    starred: bool


class CommitmentSaved(Event):
    type: Literal["commitment_saved"] = "commitment_saved"
    commitment: Commitment


class CommitmentReported(Event):
    type: Literal["commitment_reported"] = "commitment_reported"
    commitment_id: str
    status: ReportStatus
    learned: str
    next_step: str


class ControlsHanded(Event):
    """The facilitator handed the controls to a member, or took them back (member None)."""

    type: Literal["controls_handed"] = "controls_handed"
    member: str | None
    watch: bool = False


class MeetingClosed(Event):
    type: Literal["meeting_closed"] = "meeting_closed"
    at: int
    timer: Timer


class MeetingRescheduled(Event):
    """The meeting's date, length or next date changed (the set's schedule)."""

    type: Literal["meeting_rescheduled"] = "meeting_rescheduled"
    info: MeetingInfo


class MeetingLocked(Event):
    """Locked: newcomers wait in the lobby; those in the room when it locked stay admitted."""

    type: Literal["meeting_locked"] = "meeting_locked"
    locked: bool
    admitted: tuple[str, ...]
    waiting: tuple[str, ...]


class MemberWaiting(Event):
    type: Literal["member_waiting"] = "member_waiting"
    participant: str


class MemberAdmitted(Event):
    type: Literal["member_admitted"] = "member_admitted"
    participant: str


class WaitingLeft(Event):
    type: Literal["waiting_left"] = "waiting_left"
    participant: str


class AccessRevoked(Event):
    """The person's sockets close; the state does not change."""

    type: Literal["access_revoked"] = "access_revoked"
    participant: str


class RosterSet(Event):
    type: Literal["roster_set"] = "roster_set"
    roster: tuple[Participant, ...]


class MemberJoined(Event):
    type: Literal["member_joined"] = "member_joined"
    connection: str
    participant: str
    at: int


class MemberLeft(Event):
    type: Literal["member_left"] = "member_left"
    connection: str
    participant: str
    at: int


AnyEvent = Annotated[
    MeetingOpened
    | MeetingStarted
    | PhaseEntered
    | PhasesChanged
    | OrderSet
    | SpeakerChanged
    | StageChanged
    | SlotsSet
    | BidPlaced
    | BidWithdrawn
    | TimerChanged
    | HandRaised
    | HandLowered
    | HandCalled
    | QuestionAsked
    | QuestionFlagged
    | QuestionTagged
    | NoteSaved
    | QuestionStarred
    | CommitmentSaved
    | CommitmentReported
    | ControlsHanded
    | MeetingClosed
    | MeetingRescheduled
    | MeetingLocked
    | MemberWaiting
    | MemberAdmitted
    | WaitingLeft
    | AccessRevoked
    | RosterSet
    | MemberJoined
    | MemberLeft,
    Field(discriminator="type"),
]

EVENT_TYPES: tuple[str, ...] = tuple(
    cls.model_fields["type"].default for cls in get_args(get_args(AnyEvent)[0])
)

_adapter: TypeAdapter[AnyEvent] = TypeAdapter(AnyEvent)


def parse_event(data: object) -> AnyEvent:
    return _adapter.validate_python(data)


class Stamped(BaseModel):
    """An event as the log holds it: its place in the meeting, when, and whose command made it."""

    model_config = ConfigDict(frozen=True)
    seq: int
    at: int
    actor: str | None
    actor_role: Role
    event: AnyEvent
