"""The shapes of a meeting: people, phases, timers, questions, commitments, and the state itself.

Every model is frozen; the engine makes a new state for every event. Times are integer
milliseconds since the Unix epoch, given to the engine by its caller (it has no clock).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Role(StrEnum):
    FACILITATOR = "facilitator"
    MEMBER = "member"
    SYSTEM = "system"


class PhaseKind(StrEnum):
    CHECK_IN = "check_in"
    REPORT_BACK = "report_back"
    BIDDING = "bidding"
    TURNS = "turns"
    PROCESS_REVIEW = "process_review"
    CHECK_OUT = "check_out"
    CUSTOM = "custom"
    CLOSE = "close"


ROUND_KINDS = frozenset(
    {PhaseKind.CHECK_IN, PhaseKind.REPORT_BACK, PhaseKind.PROCESS_REVIEW, PhaseKind.CHECK_OUT}
)
"""Phases where each member speaks in turn for `minutes` each."""


class PhaseStatus(StrEnum):
    PENDING = "pending"
    CURRENT = "current"
    DONE = "done"
    SKIPPED = "skipped"


class Stage(StrEnum):
    """The stages of one presenter's turn, in order."""

    PRESENT = "present"
    QUESTIONS = "questions"
    REFLECTION = "reflection"
    COMMITMENT = "commitment"


STAGE_ORDER: tuple[Stage, ...] = (
    Stage.PRESENT,
    Stage.QUESTIONS,
    Stage.REFLECTION,
    Stage.COMMITMENT,
)


class MeetingStatus(StrEnum):
    NOT_STARTED = "not_started"
    LIVE = "live"
    CLOSED = "closed"


class ReportStatus(StrEnum):
    DONE = "done"
    PARTLY = "partly"
    NOT_DONE = "not_done"
    CHANGED = "changed"


class GrowStage(StrEnum):
    """The GROW model's stages (goal, reality, options, will), which a question can be tagged
    with, so the presenter's turn shows which the set has covered."""

    GOAL = "goal"
    REALITY = "reality"
    OPTIONS = "options"
    WILL = "will"


TurnRecord = Literal["commitment_only", "kept_items_visible_to_set"]


def turn_record_of(value: str) -> TurnRecord:
    """A stored setting as a TurnRecord; anything unknown is the default, which keeps least."""
    if value == "kept_items_visible_to_set":
        return "kept_items_visible_to_set"
    return "commitment_only"


class Participant(Frozen):
    id: str
    name: str
    org: str = ""
    role: Role = Role.MEMBER
    active: bool = True
    """False once removed from the set: kept for the meeting's history, but no longer let in."""


class Actor(Frozen):
    """Who sends a command: a participant of the meeting, or the server itself."""

    participant: str | None
    role: Role

    @staticmethod
    def system() -> Actor:
        return Actor(participant=None, role=Role.SYSTEM)


class Phase(Frozen):
    id: str
    kind: PhaseKind
    title: str
    minutes: int = Field(ge=0, le=600)
    """Per person in a round phase; for the whole phase otherwise (a turn's time is its slot)."""
    status: PhaseStatus = PhaseStatus.PENDING


class Settings(Frozen):
    anonymous_questions: bool = True
    questions_to_set: bool = True
    """Whether typed questions are shown to the whole set, or to the presenter and facilitators."""
    late_after_minutes: int = 10
    turn_record: TurnRecord = "commitment_only"
    """What of a turn the set sees later: its commitments only (the default), or also the
    questions the presenter starred to keep. A presenter's notes are theirs alone either way."""


class MeetingInfo(Frozen):
    title: str
    set_name: str = ""
    scheduled_at: int | None = None
    planned_minutes: int = 180
    video_link: str = ""
    next_meeting_at: int | None = None


class Timer(Frozen):
    """A countdown held as a deadline while running, as the time left while paused."""

    duration_ms: int = Field(default=0, ge=0)
    running: bool = False
    deadline_ms: int | None = None
    remaining_ms: int = Field(default=0, ge=0)
    elapsed: bool = False

    def left_ms(self, now: int) -> int:
        if self.running and self.deadline_ms is not None:
            return max(0, self.deadline_ms - now)
        return self.remaining_ms


class Bid(Frozen):
    member: str
    minutes: int
    title: str


class Slot(Frozen):
    """A presenter's allotted turn."""

    member: str
    minutes: int
    title: str = ""


class Question(Frozen):
    id: str
    presenter: str
    author: str | None
    """None when the viewer may not know who asked (anonymous questions)."""
    anonymous: bool
    text: str | None
    """None when the viewer may not read it (the set does not share questions)."""
    advice: bool = False
    starred: bool = False
    at: int
    grow: GrowStage | None = None


class Note(Frozen):
    """A presenter's private note on their own turn: seen by its owner alone (views.view)."""

    id: str
    owner: str
    text: str
    at: int


class Commitment(Frozen):
    id: str
    owner: str
    what: str
    by_when: str = ""
    how_know: str = ""
    support: str = ""
    at: int
    carried_from: str | None = None
    """The earlier commitment whose reported next step this one carries on, if any."""


class PriorCommitment(Frozen):
    """A commitment from an earlier meeting, reported back on in this one."""

    id: str
    owner: str
    what: str
    by_when: str = ""
    status: ReportStatus | None = None
    learned: str = ""
    next_step: str = ""


class MeetingState(Frozen):
    meeting_id: str
    seq: int = 0
    status: MeetingStatus = MeetingStatus.NOT_STARTED
    info: MeetingInfo = MeetingInfo(title="")
    settings: Settings = Settings()
    roster: tuple[Participant, ...] = ()
    phases: tuple[Phase, ...] = ()
    phase_index: int = -1
    order: tuple[str, ...] = ()
    turn_index: int = -1
    speaker: str | None = None
    bids: tuple[Bid, ...] = ()
    slots: tuple[Slot, ...] = ()
    presenter_index: int = -1
    stage: Stage | None = None
    presented: int = 0
    """How many slots, from the first, have begun their turn; later ones may still be withdrawn."""
    hands: tuple[str, ...] = ()
    timer: Timer = Timer()
    questions: tuple[Question, ...] = ()
    commitments: tuple[Commitment, ...] = ()
    prior: tuple[PriorCommitment, ...] = ()
    presented_before: tuple[str, ...] = ()
    """Members who presented at an earlier meeting of the programme (the presenting spread)."""
    delegate: str | None = None
    locked: bool = False
    admitted: tuple[str, ...] = ()
    """Members let into a locked meeting (or in it when it was locked)."""
    waiting: tuple[str, ...] = ()
    """Members in the lobby of a locked meeting, in order of arrival."""
    connections: dict[str, str] = {}
    """Open connections: connection id -> participant id."""
    first_seen: dict[str, int] = {}
    """When each participant first connected (attendance)."""
    started_at: int | None = None
    closed_at: int | None = None
    notes: tuple[Note, ...] = ()
    """Presenters' private notes; views.view keeps only the viewer's own."""
    watching: bool = False
    """The facilitators watch while a member holds the controls: their room shows no controls
    but "take back" (the engine still lets a facilitator act)."""
    airtime: dict[str, int] = {}
    """Milliseconds each participant has held the floor as the speaker (engine.apply, from the
    times the log stamps on events)."""
    airtime_since: int | None = None
    """When the current speaker's time began counting (None: nobody's time counts now)."""

    # Derived reads. They hold no rule of their own beyond what the names say.

    def person(self, participant: str | None) -> Participant | None:
        for p in self.roster:
            if p.id == participant:
                return p
        return None

    @property
    def phase(self) -> Phase | None:
        if 0 <= self.phase_index < len(self.phases):
            return self.phases[self.phase_index]
        return None

    @property
    def presenter(self) -> str | None:
        if 0 <= self.presenter_index < len(self.slots) and self.stage is not None:
            return self.slots[self.presenter_index].member
        return None

    @property
    def online(self) -> frozenset[str]:
        return frozenset(self.connections.values())

    def is_controller(self, participant: str | None) -> bool:
        """A facilitator, or the member the facilitator handed the controls to."""
        person = self.person(participant)
        if person is None or not person.active:
            return False
        return person.role is Role.FACILITATOR or participant == self.delegate

    def may_enter(self, participant: str | None) -> bool:
        """Whether the room is open to this person now: a facilitator is never locked out."""
        person = self.person(participant)
        if person is None or not person.active:
            return False
        return (
            not self.locked
            or person.role is Role.FACILITATOR
            or participant == self.delegate
            or participant in self.admitted
        )

    def members(self) -> tuple[Participant, ...]:
        return tuple(p for p in self.roster if p.role is Role.MEMBER and p.active)

    def not_presented(self) -> tuple[Participant, ...]:
        """Members who have not presented in the programme: not at an earlier meeting, nor in a
        turn of this one that has begun."""
        done = {*self.presented_before, *(s.member for s in self.slots[: self.presented])}
        return tuple(p for p in self.members() if p.id not in done)
