"""Commands: what a participant (or the server) asks the meeting to do.

Each command is a pydantic model with a literal `type`; `parse_command` validates untrusted input
into one of them. Limits on lengths live here so that no oversized value reaches the engine.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    field_validator,
    model_validator,
)

from app.domain.model import GrowStage, Participant, PhaseKind, ReportStatus

Id = Annotated[str, StringConstraints(min_length=1, max_length=64, strip_whitespace=True)]
Line = Annotated[str, StringConstraints(max_length=200, strip_whitespace=True)]
Text = Annotated[str, StringConstraints(max_length=1000, strip_whitespace=True)]
Seconds = Annotated[int, Field(ge=1, le=4 * 3600)]
Minutes = Annotated[int, Field(ge=1, le=240)]


class Command(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        # PostgreSQL's text cannot hold NUL: it would fail the write, not just this command.
        if _has_nul(data):
            raise ValueError("text may not contain NUL characters")
        return data


def _has_nul(value: Any) -> bool:
    # A walk with a stack of its own: untrusted JSON nests as deep as its parser allows, which
    # is deeper than Python's recursion limit.
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
    return False


def _split(value: Any) -> Any:
    """Forms send lists as one comma-separated string; API clients send JSON lists."""
    if isinstance(value, str):
        return [part for part in (p.strip() for p in value.split(",")) if part]
    return value


# Facilitator (or the member holding the controls)


class StartMeeting(Command):
    type: Literal["start_meeting"] = "start_meeting"


class NextPhase(Command):
    type: Literal["next_phase"] = "next_phase"
    from_phase: Id | None = None
    """When given, the command is refused unless this phase is still the current one."""


class GotoPhase(Command):
    type: Literal["goto_phase"] = "goto_phase"
    phase_id: Id


class SkipPhase(Command):
    type: Literal["skip_phase"] = "skip_phase"
    phase_id: Id


class RestorePhase(Command):
    type: Literal["restore_phase"] = "restore_phase"
    phase_id: Id


class MovePhase(Command):
    type: Literal["move_phase"] = "move_phase"
    phase_id: Id
    to_index: Annotated[int, Field(ge=0, le=100)]


class AddPhase(Command):
    type: Literal["add_phase"] = "add_phase"
    kind: PhaseKind = PhaseKind.CUSTOM
    title: Annotated[str, StringConstraints(min_length=1, max_length=80, strip_whitespace=True)]
    minutes: Annotated[int, Field(ge=0, le=240)] = 10
    at_index: Annotated[int, Field(ge=0, le=100)] | None = None


class SetOrder(Command):
    type: Literal["set_order"] = "set_order"
    order: Annotated[list[Id], Field(max_length=40)]

    _split = field_validator("order", mode="before")(_split)


class NextSpeaker(Command):
    type: Literal["next_speaker"] = "next_speaker"
    from_speaker: Id | None = None


class SetSpeaker(Command):
    type: Literal["set_speaker"] = "set_speaker"
    participant: Id


class NextStage(Command):
    type: Literal["next_stage"] = "next_stage"
    from_stage: Id | None = None
    """When given ("<presenter index>:<stage>"), refused unless the turn is still there."""


class SlotIn(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    member: Id
    minutes: Minutes
    title: Line = ""


class SetSlots(Command):
    type: Literal["set_slots"] = "set_slots"
    slots: Annotated[list[SlotIn], Field(max_length=40)]


class Allot(Command):
    """Give a member a presenting slot, from their bid when they made one."""

    type: Literal["allot"] = "allot"
    member: Id
    minutes: Minutes | None = None


class Unallot(Command):
    type: Literal["unallot"] = "unallot"
    member: Id


class TimerStart(Command):
    type: Literal["timer_start"] = "timer_start"
    seconds: Seconds


class TimerPause(Command):
    type: Literal["timer_pause"] = "timer_pause"


class TimerResume(Command):
    type: Literal["timer_resume"] = "timer_resume"


class TimerAdd(Command):
    type: Literal["timer_add"] = "timer_add"
    seconds: Seconds


class CallNext(Command):
    """Call the first raised hand: they become the speaker."""

    type: Literal["call_next"] = "call_next"


class FlagAdvice(Command):
    """Mark a contribution as advice, asking for it to be put as a question."""

    type: Literal["flag_advice"] = "flag_advice"
    question_id: Id
    flagged: bool = True


class HandOver(Command):
    type: Literal["hand_over"] = "hand_over"
    member: Id
    watch: bool = False
    """The facilitators then watch: their room shows no controls but "take back"."""


class TakeBack(Command):
    type: Literal["take_back"] = "take_back"


class CloseMeeting(Command):
    type: Literal["close_meeting"] = "close_meeting"


class LockMeeting(Command):
    """Lock (or unlock) the meeting: newcomers then wait in the lobby until admitted."""

    type: Literal["lock_meeting"] = "lock_meeting"
    locked: bool = True


class Admit(Command):
    type: Literal["admit"] = "admit"
    member: Id


# Members (and facilitators where it makes sense)


class RaiseHand(Command):
    type: Literal["raise_hand"] = "raise_hand"


class LowerHand(Command):
    """Lower one's own hand; a facilitator may lower anyone's."""

    type: Literal["lower_hand"] = "lower_hand"
    member: Id | None = None


class AskQuestion(Command):
    """Ask the presenter a question. One that does not read as a question (app.domain.questions)
    is refused with `not_a_question` unless `confirmed`: the sender saw the prompt and sends it
    as it is."""

    type: Literal["ask_question"] = "ask_question"
    text: Annotated[str, StringConstraints(min_length=1, max_length=1000, strip_whitespace=True)]
    anonymous: bool = False
    grow: GrowStage | None = None
    confirmed: bool = False


class TagQuestion(Command):
    """Tag a question with a GROW stage (or none): its asker, or a controller."""

    type: Literal["tag_question"] = "tag_question"
    question_id: Id
    grow: GrowStage | None = None


class SaveNote(Command):
    """The presenter's private note on their own turn: new (no id) or edited."""

    type: Literal["save_note"] = "save_note"
    note_id: Id | None = None
    text: Annotated[str, StringConstraints(min_length=1, max_length=2000, strip_whitespace=True)]


class StarQuestion(Command):
    type: Literal["star_question"] = "star_question"
    question_id: Id
    starred: bool = True


class PlaceBid(Command):
    type: Literal["place_bid"] = "place_bid"
    minutes: Minutes
    title: Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]


class WithdrawBid(Command):
    type: Literal["withdraw_bid"] = "withdraw_bid"


class SaveCommitment(Command):
    """Create (no id) or edit a commitment. The presenter writes their own; a facilitator may
    record one for the presenter."""

    type: Literal["save_commitment"] = "save_commitment"
    commitment_id: Id | None = None
    what: Annotated[str, StringConstraints(min_length=1, max_length=1000, strip_whitespace=True)]
    by_when: Line = ""
    how_know: Text = ""
    support: Text = ""


class ReportBack(Command):
    """Report on a commitment from an earlier meeting. With `carry`, the next step also becomes
    a commitment of this meeting, owned by the same member (edited, not duplicated, when the
    report is saved again)."""

    type: Literal["report_back"] = "report_back"
    commitment_id: Id
    status: ReportStatus
    learned: Text = ""
    next_step: Text = ""
    carry: bool = False


# The server's own


class Join(Command):
    type: Literal["join"] = "join"
    connection: Id
    participant: Id


class Leave(Command):
    type: Literal["leave"] = "leave"
    connection: Id


class TimerElapsed(Command):
    type: Literal["timer_elapsed"] = "timer_elapsed"
    deadline_ms: int


class Reschedule(Command):
    """The set's schedule changed this meeting's date or length (only before it starts), or
    the date of the meeting after it (shown in the summary, even after the close)."""

    type: Literal["reschedule"] = "reschedule"
    scheduled_at: Annotated[int, Field(ge=0)] | None = None
    planned_minutes: Annotated[int, Field(ge=1, le=1440)] = 180
    next_meeting_at: Annotated[int, Field(ge=0)] | None = None


class Knock(Command):
    """Someone arrived at a locked meeting and waits in the lobby."""

    type: Literal["knock"] = "knock"
    participant: Id


class LeaveLobby(Command):
    type: Literal["leave_lobby"] = "leave_lobby"
    participant: Id


class RevokeAccess(Command):
    """A person's link was revoked: their open sockets close (they may come back with a valid
    session)."""

    type: Literal["revoke_access"] = "revoke_access"
    participant: Id


class SetRoster(Command):
    """The set's membership changed: who is in the meeting follows it."""

    type: Literal["set_roster"] = "set_roster"
    roster: tuple[Participant, ...]


AnyCommand = Annotated[
    StartMeeting
    | NextPhase
    | GotoPhase
    | SkipPhase
    | RestorePhase
    | MovePhase
    | AddPhase
    | SetOrder
    | NextSpeaker
    | SetSpeaker
    | NextStage
    | SetSlots
    | Allot
    | Unallot
    | TimerStart
    | TimerPause
    | TimerResume
    | TimerAdd
    | CallNext
    | FlagAdvice
    | HandOver
    | TakeBack
    | CloseMeeting
    | LockMeeting
    | Admit
    | RaiseHand
    | LowerHand
    | AskQuestion
    | TagQuestion
    | SaveNote
    | StarQuestion
    | PlaceBid
    | WithdrawBid
    | SaveCommitment
    | ReportBack
    | Join
    | Leave
    | Reschedule
    | TimerElapsed
    | Knock
    | LeaveLobby
    | RevokeAccess
    | SetRoster,
    Field(discriminator="type"),
]

SYSTEM_COMMANDS = frozenset(
    {
        "join",
        "leave",
        "timer_elapsed",
        "reschedule",
        "knock",
        "leave_lobby",
        "revoke_access",
        "set_roster",
    }
)
"""Sent by the server alone; a client that names one is refused."""

_adapter: TypeAdapter[AnyCommand] = TypeAdapter(AnyCommand)

COMMAND_TYPES: tuple[str, ...] = tuple(
    cls.model_fields["type"].default for cls in get_args(get_args(AnyCommand)[0])
)


def parse_command(data: object) -> AnyCommand:
    """Validate untrusted data into a command; raises pydantic.ValidationError."""
    return _adapter.validate_python(data)
