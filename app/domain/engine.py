"""The meeting engine: `decide` turns a command into events, `apply` folds an event into state.

Both are pure: no I/O, no clock (the caller passes `now`), no randomness (new ids come from the
sequence number). Every rule of a meeting, role checks included, lives here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from app.domain import commands as c
from app.domain import events as e
from app.domain.airtime import count_airtime
from app.domain.errors import (
    DomainError,
    Forbidden,
    Invalid,
    MeetingClosed,
    NotAQuestion,
    NotFound,
    NotNow,
    RoomMovedOn,
)
from app.domain.model import (
    ROUND_KINDS,
    STAGE_ORDER,
    Actor,
    Bid,
    Commitment,
    MeetingState,
    MeetingStatus,
    Note,
    Participant,
    Phase,
    PhaseKind,
    PhaseStatus,
    Question,
    Role,
    Slot,
    Stage,
    Timer,
)
from app.domain.questions import prompt_template, read

MAX_PHASES = 30
MAX_QUESTIONS = 2000
MAX_COMMITMENTS_EACH = 10
MAX_NOTES_EACH = 50

# Commands a controller may give before the meeting starts; everything else waits for the start.
_BEFORE_START = frozenset(
    {
        "start_meeting",
        "skip_phase",
        "restore_phase",
        "move_phase",
        "add_phase",
        "hand_over",
        "take_back",
        "join",
        "leave",
        "reschedule",
        "lock_meeting",
        "admit",
        "knock",
        "leave_lobby",
        "revoke_access",
        "set_roster",
    }
)
# Presence is still recorded after the close, and the next meeting's date for the summary;
# nothing else changes.
_AFTER_CLOSE = frozenset({"join", "leave", "reschedule", "revoke_access"})

# Who may send what, checked before anything else about the meeting (docs/security.md).
CONTROLLER_ONLY = frozenset(
    {
        "add_phase",
        "admit",
        "allot",
        "call_next",
        "close_meeting",
        "flag_advice",
        "goto_phase",
        "lock_meeting",
        "move_phase",
        "next_phase",
        "next_speaker",
        "next_stage",
        "restore_phase",
        "set_order",
        "set_slots",
        "set_speaker",
        "skip_phase",
        "start_meeting",
        "timer_add",
        "timer_pause",
        "timer_resume",
        "timer_start",
        "unallot",
    }
)
FACILITATOR_ONLY = frozenset({"hand_over", "take_back"})

Events = list[e.AnyEvent]
Handler = Callable[[MeetingState, Any, Actor, int], Events]


def decide(
    state: MeetingState,
    command: c.AnyCommand,
    actor: Actor,
    now: int,
    *,
    expect_seq: int | None = None,
) -> Events:
    """The events `command` by `actor` at `now` produces, or a DomainError that changes nothing.

    `expect_seq`, when given, is the sequence the sender last saw: if the room has moved past it
    the command is refused rather than applied to a state its sender never saw.
    """
    if command.type in c.SYSTEM_COMMANDS:
        if actor.role is not Role.SYSTEM:
            raise Forbidden("Only the server sends this.")
    else:
        _require_person(state, actor)
        if command.type in FACILITATOR_ONLY:
            _require_facilitator(state, actor)
        elif command.type in CONTROLLER_ONLY:
            _require_controller(state, actor)
    if expect_seq is not None and expect_seq != state.seq:
        raise RoomMovedOn()
    if state.status is MeetingStatus.CLOSED and command.type not in _AFTER_CLOSE:
        raise MeetingClosed()
    if state.status is MeetingStatus.NOT_STARTED and command.type not in _BEFORE_START:
        raise NotNow("The meeting has not started yet.")
    return _HANDLERS[command.type](state, command, actor, now)


def apply(state: MeetingState, stamped: e.Stamped) -> MeetingState:
    """The state after one logged event. Airtime is counted here, from the time the log stamped
    on the event: the engine has no clock, and a replay counts the same."""
    after = _apply_event(state, stamped.event)
    return count_airtime(state, after, stamped.at).model_copy(update={"seq": stamped.seq})


def replay(meeting_id: str, log: Iterable[e.Stamped]) -> MeetingState:
    state = MeetingState(meeting_id=meeting_id)
    for stamped in log:
        state = apply(state, stamped)
    return state


# Guards


def _require_person(state: MeetingState, actor: Actor) -> Participant:
    person = state.person(actor.participant)
    if person is None or not person.active or person.role is not actor.role:
        raise Forbidden("You are not part of this meeting.")
    return person


def _require_controller(state: MeetingState, actor: Actor) -> None:
    if not state.is_controller(actor.participant):
        raise Forbidden("Only the facilitator, or the member holding the controls, can do this.")


def _require_facilitator(state: MeetingState, actor: Actor) -> None:
    person = state.person(actor.participant)
    if person is None or person.role is not Role.FACILITATOR:
        raise Forbidden("Only a facilitator can do this.")


def _require_kind(state: MeetingState, *kinds: PhaseKind) -> Phase:
    phase = state.phase
    if phase is None or phase.kind not in kinds:
        ordered = [k for k in PhaseKind if k in kinds]
        names = " or ".join(k.value.replace("_", " ") for k in ordered)
        # `kinds` lets the web layer name the phases in the reader's language (app.web.refusals).
        raise NotNow(
            "This can only be done during {phases}.",
            phases=names,
            kinds=" ".join(k.value for k in ordered),
        )
    return phase


def _member(state: MeetingState, participant: str) -> Participant:
    person = state.person(participant)
    if person is None:
        raise NotFound("No such person in this meeting.")
    if person.role is not Role.MEMBER:
        raise Invalid("{name} is a facilitator, not a member.", name=person.name)
    return person


def _phase_at(state: MeetingState, phase_id: str) -> int:
    for i, phase in enumerate(state.phases):
        if phase.id == phase_id:
            return i
    raise NotFound("No such phase.")


# Timers


def _countdown(minutes: int, now: int) -> Timer:
    if minutes <= 0:
        return Timer()
    ms = minutes * 60_000
    return Timer(duration_ms=ms, running=True, deadline_ms=now + ms)


def _running(ms: int, now: int) -> Timer:
    return Timer(duration_ms=ms, running=True, deadline_ms=now + ms)


# Phases


def _default_order(state: MeetingState, kind: PhaseKind) -> tuple[str, ...]:
    members = tuple(p.id for p in state.members())
    if kind is PhaseKind.REPORT_BACK:
        owners = {p.owner for p in state.prior}
        return tuple(m for m in members if m in owners)
    return members


def _enter(state: MeetingState, index: int, now: int) -> e.PhaseEntered:
    phases = tuple(
        p.model_copy(update={"status": PhaseStatus.CURRENT})
        if i == index
        else p.model_copy(update={"status": PhaseStatus.DONE})
        if i == state.phase_index and p.status is PhaseStatus.CURRENT
        else p
        for i, p in enumerate(state.phases)
    )
    phase = phases[index]
    order: tuple[str, ...] = ()
    turn_index = -1
    speaker: str | None = None
    presenter_index = state.presenter_index
    stage: Stage | None = None
    timer = Timer()
    if phase.kind in ROUND_KINDS:
        order = _default_order(state, phase.kind)
        if order:
            turn_index, speaker, timer = 0, order[0], _countdown(phase.minutes, now)
    elif phase.kind is PhaseKind.TURNS:
        presenter_index = max(presenter_index, 0) if state.slots else presenter_index
        if 0 <= presenter_index < len(state.slots):
            slot = state.slots[presenter_index]
            stage, speaker, timer = Stage.PRESENT, slot.member, _countdown(slot.minutes, now)
    elif phase.kind is not PhaseKind.CLOSE:
        timer = _countdown(phase.minutes, now)
    return e.PhaseEntered(
        phase_index=index,
        phases=phases,
        order=order,
        turn_index=turn_index,
        speaker=speaker,
        presenter_index=presenter_index,
        stage=stage,
        timer=timer,
    )


def _start_meeting(state: MeetingState, cmd: c.StartMeeting, actor: Actor, now: int) -> Events:
    if state.status is not MeetingStatus.NOT_STARTED:
        raise NotNow("The meeting has already started.")
    first = next(i for i, p in enumerate(state.phases) if p.status is PhaseStatus.PENDING)
    started = e.MeetingStarted(at=now)
    return [started, _enter(state, first, now)]


def _next_phase(state: MeetingState, cmd: c.NextPhase, actor: Actor, now: int) -> Events:
    current = state.phase
    if cmd.from_phase is not None and (current is None or current.id != cmd.from_phase):
        raise RoomMovedOn()
    for i in range(state.phase_index + 1, len(state.phases)):
        if state.phases[i].status is PhaseStatus.PENDING:
            return [_enter(state, i, now)]
    raise NotNow("This is the last phase: close the meeting to finish.")


def _goto_phase(state: MeetingState, cmd: c.GotoPhase, actor: Actor, now: int) -> Events:
    index = _phase_at(state, cmd.phase_id)
    if index == state.phase_index:
        raise NotNow("The room is already in that phase.")
    return [_enter(state, index, now)]


def _editable_phase(state: MeetingState, phase_id: str) -> int:
    index = _phase_at(state, phase_id)
    phase = state.phases[index]
    if phase.kind is PhaseKind.CLOSE:
        raise Invalid("The close phase always ends the meeting.")
    if index <= state.phase_index or phase.status in (PhaseStatus.CURRENT, PhaseStatus.DONE):
        raise NotNow("Only phases still to come can be changed.")
    return index


def _with_status(state: MeetingState, index: int, status: PhaseStatus) -> e.PhasesChanged:
    phases = list(state.phases)
    phases[index] = phases[index].model_copy(update={"status": status})
    return e.PhasesChanged(phases=tuple(phases), phase_index=state.phase_index)


def _skip_phase(state: MeetingState, cmd: c.SkipPhase, actor: Actor, now: int) -> Events:
    index = _editable_phase(state, cmd.phase_id)
    if state.phases[index].status is PhaseStatus.SKIPPED:
        raise NotNow("That phase is already skipped.")
    return [_with_status(state, index, PhaseStatus.SKIPPED)]


def _restore_phase(state: MeetingState, cmd: c.RestorePhase, actor: Actor, now: int) -> Events:
    index = _editable_phase(state, cmd.phase_id)
    if state.phases[index].status is not PhaseStatus.SKIPPED:
        raise NotNow("That phase is not skipped.")
    return [_with_status(state, index, PhaseStatus.PENDING)]


def _insertable(state: MeetingState, to_index: int) -> None:
    last = len(state.phases) - 1  # the close phase
    if not state.phase_index < to_index <= last:
        raise Invalid("A phase can only be placed after the current one and before the close.")


def _move_phase(state: MeetingState, cmd: c.MovePhase, actor: Actor, now: int) -> Events:
    index = _editable_phase(state, cmd.phase_id)
    phases = list(state.phases)
    phase = phases.pop(index)
    # Positions are counted in the list without the moved phase, so the close stays last.
    if not state.phase_index < cmd.to_index <= len(phases) - 1:
        raise Invalid("A phase can only be placed after the current one and before the close.")
    if cmd.to_index == index:
        raise NotNow("The phase is already there.")
    phases.insert(cmd.to_index, phase)
    return [e.PhasesChanged(phases=tuple(phases), phase_index=state.phase_index)]


def _add_phase(state: MeetingState, cmd: c.AddPhase, actor: Actor, now: int) -> Events:
    if cmd.kind is PhaseKind.CLOSE:
        raise Invalid("A meeting has one close phase already.")
    if len(state.phases) >= MAX_PHASES:
        raise Invalid("A meeting holds at most {count} phases.", count=MAX_PHASES)
    at = len(state.phases) - 1 if cmd.at_index is None else cmd.at_index
    _insertable(state, at)
    phase = Phase(id=f"x{state.seq + 1}", kind=cmd.kind, title=cmd.title, minutes=cmd.minutes)
    phases = list(state.phases)
    phases.insert(at, phase)
    return [e.PhasesChanged(phases=tuple(phases), phase_index=state.phase_index)]


# Rounds and speakers


def _set_order(state: MeetingState, cmd: c.SetOrder, actor: Actor, now: int) -> Events:
    phase = _require_kind(state, *ROUND_KINDS)
    if not cmd.order:
        raise Invalid("The order needs at least one person.")
    if len(set(cmd.order)) != len(cmd.order):
        raise Invalid("Each person can appear once in the order.")
    for pid in cmd.order:
        if state.person(pid) is None:
            raise NotFound("No such person in this meeting.")
    order = tuple(cmd.order)
    # Mid-round, the current speaker carries on; before anyone has finished, the round
    # starts again with the new first speaker.
    if state.speaker in order and 0 < state.turn_index < len(state.order):
        return [
            e.OrderSet(
                order=order,
                turn_index=order.index(state.speaker),
                speaker=state.speaker,
                timer=state.timer,
            )
        ]
    return [
        e.OrderSet(
            order=order, turn_index=0, speaker=order[0], timer=_countdown(phase.minutes, now)
        )
    ]


def _next_speaker(state: MeetingState, cmd: c.NextSpeaker, actor: Actor, now: int) -> Events:
    phase = _require_kind(state, *ROUND_KINDS)
    if cmd.from_speaker is not None and cmd.from_speaker != state.speaker:
        raise RoomMovedOn()
    nxt = state.turn_index + 1
    if state.turn_index >= len(state.order):
        raise NotNow("Everyone has had their turn in this round.")
    if nxt < len(state.order):
        speaker = state.order[nxt]
        return [
            e.SpeakerChanged(speaker=speaker, turn_index=nxt, timer=_countdown(phase.minutes, now))
        ]
    return [e.SpeakerChanged(speaker=None, turn_index=len(state.order), timer=Timer())]


def _set_speaker(state: MeetingState, cmd: c.SetSpeaker, actor: Actor, now: int) -> Events:
    if state.person(cmd.participant) is None:
        raise NotFound("No such person in this meeting.")
    phase = state.phase
    if phase is not None and phase.kind in ROUND_KINDS and cmd.participant in state.order:
        return [
            e.SpeakerChanged(
                speaker=cmd.participant,
                turn_index=state.order.index(cmd.participant),
                timer=_countdown(phase.minutes, now),
            )
        ]
    return [
        e.SpeakerChanged(speaker=cmd.participant, turn_index=state.turn_index, timer=state.timer)
    ]


# Presenter turns


def _stage_key(state: MeetingState) -> str:
    return f"{state.presenter_index}:{state.stage.value if state.stage else ''}"


def _turn_start(state: MeetingState, index: int, now: int) -> e.StageChanged:
    if index < len(state.slots):
        slot = state.slots[index]
        return e.StageChanged(
            presenter_index=index,
            stage=Stage.PRESENT,
            speaker=slot.member,
            timer=_countdown(slot.minutes, now),
            hands=(),
        )
    return e.StageChanged(
        presenter_index=len(state.slots), stage=None, speaker=None, timer=Timer(), hands=()
    )


def _next_stage(state: MeetingState, cmd: c.NextStage, actor: Actor, now: int) -> Events:
    _require_kind(state, PhaseKind.TURNS)
    if cmd.from_stage is not None and cmd.from_stage != _stage_key(state):
        raise RoomMovedOn()
    if state.stage is None:
        if not state.slots:
            raise NotNow("Allot presenting time before the turns begin.")
        if state.presenter_index >= len(state.slots):
            raise NotNow("Every presenter has had their turn.")
        return [_turn_start(state, max(state.presenter_index, 0), now)]
    if state.stage is Stage.COMMITMENT:
        return [_turn_start(state, state.presenter_index + 1, now)]
    stage = STAGE_ORDER[STAGE_ORDER.index(state.stage) + 1]
    presenter = state.presenter
    speaker = None if stage is Stage.QUESTIONS else presenter
    hands = state.hands if stage is Stage.QUESTIONS else ()
    return [
        e.StageChanged(
            presenter_index=state.presenter_index,
            stage=stage,
            speaker=speaker,
            timer=state.timer,
            hands=hands,
        )
    ]


def _check_slots(state: MeetingState, slots: tuple[Slot, ...]) -> None:
    members = [s.member for s in slots]
    if len(set(members)) != len(members):
        raise Invalid("Each member can have one slot.")
    for member in members:
        _member(state, member)


def _turns_begun(state: MeetingState) -> bool:
    return state.presenter_index >= 0


def _set_slots(state: MeetingState, cmd: c.SetSlots, actor: Actor, now: int) -> Events:
    if _turns_begun(state):
        raise NotNow("Turns have begun: add or remove presenters one at a time.")
    slots = tuple(Slot(member=s.member, minutes=s.minutes, title=s.title) for s in cmd.slots)
    _check_slots(state, slots)
    return [e.SlotsSet(slots=slots)]


def _allot(state: MeetingState, cmd: c.Allot, actor: Actor, now: int) -> Events:
    _member(state, cmd.member)
    if any(s.member == cmd.member for s in state.slots):
        raise Invalid("That member already has a slot.")
    bid = next((b for b in state.bids if b.member == cmd.member), None)
    minutes = cmd.minutes or (bid.minutes if bid else None)
    if minutes is None:
        raise Invalid("That member has not bid: say how many minutes to allot.")
    slot = Slot(member=cmd.member, minutes=minutes, title=bid.title if bid else "")
    return [e.SlotsSet(slots=(*state.slots, slot))]


def _unallot(state: MeetingState, cmd: c.Unallot, actor: Actor, now: int) -> Events:
    index = next((i for i, s in enumerate(state.slots) if s.member == cmd.member), None)
    if index is None:
        raise NotFound("That member has no slot.")
    if index < state.presented:
        raise NotNow("That turn has already begun.")
    return [e.SlotsSet(slots=state.slots[:index] + state.slots[index + 1 :])]


def _place_bid(state: MeetingState, cmd: c.PlaceBid, actor: Actor, now: int) -> Events:
    _require_kind(state, PhaseKind.BIDDING)
    assert actor.participant is not None
    _member(state, actor.participant)
    return [e.BidPlaced(bid=Bid(member=actor.participant, minutes=cmd.minutes, title=cmd.title))]


def _withdraw_bid(state: MeetingState, cmd: c.WithdrawBid, actor: Actor, now: int) -> Events:
    _require_kind(state, PhaseKind.BIDDING)
    if not any(b.member == actor.participant for b in state.bids):
        raise NotFound("You have no bid to withdraw.")
    assert actor.participant is not None
    return [e.BidWithdrawn(member=actor.participant)]


# Timers


def _timer_start(state: MeetingState, cmd: c.TimerStart, actor: Actor, now: int) -> Events:
    return [e.TimerChanged(action="started", timer=_running(cmd.seconds * 1000, now))]


def _timer_pause(state: MeetingState, cmd: c.TimerPause, actor: Actor, now: int) -> Events:
    if not state.timer.running:
        raise NotNow("The timer is not running.")
    timer = state.timer.model_copy(
        update={"running": False, "deadline_ms": None, "remaining_ms": state.timer.left_ms(now)}
    )
    return [e.TimerChanged(action="paused", timer=timer)]


def _timer_resume(state: MeetingState, cmd: c.TimerResume, actor: Actor, now: int) -> Events:
    timer = state.timer
    if timer.running or timer.remaining_ms <= 0:
        raise NotNow("There is no paused timer to resume.")
    resumed = timer.model_copy(
        update={"running": True, "deadline_ms": now + timer.remaining_ms, "remaining_ms": 0}
    )
    return [e.TimerChanged(action="resumed", timer=resumed)]


def _timer_add(state: MeetingState, cmd: c.TimerAdd, actor: Actor, now: int) -> Events:
    ms = cmd.seconds * 1000
    timer = state.timer
    if timer.running and timer.deadline_ms is not None:
        timer = timer.model_copy(
            update={"deadline_ms": timer.deadline_ms + ms, "duration_ms": timer.duration_ms + ms}
        )
    elif timer.remaining_ms > 0:
        timer = timer.model_copy(
            update={"remaining_ms": timer.remaining_ms + ms, "duration_ms": timer.duration_ms + ms}
        )
    else:
        timer = _running(ms, now)
    return [e.TimerChanged(action="extended", timer=timer)]


def _timer_elapsed(state: MeetingState, cmd: c.TimerElapsed, actor: Actor, now: int) -> Events:
    timer = state.timer
    if not timer.running or timer.deadline_ms != cmd.deadline_ms:
        raise RoomMovedOn("The timer changed before it ran out.")
    if now < cmd.deadline_ms:
        raise NotNow("The timer has not run out yet.")
    done = timer.model_copy(
        update={"running": False, "deadline_ms": None, "remaining_ms": 0, "elapsed": True}
    )
    return [e.TimerChanged(action="elapsed", timer=done)]


# Hands


def _raise_hand(state: MeetingState, cmd: c.RaiseHand, actor: Actor, now: int) -> Events:
    assert actor.participant is not None
    if actor.participant in state.hands:
        raise NotNow("Your hand is already up.")
    if actor.participant == state.presenter:
        raise NotNow("The presenter does not raise a hand in their own turn.")
    return [e.HandRaised(member=actor.participant)]


def _lower_hand(state: MeetingState, cmd: c.LowerHand, actor: Actor, now: int) -> Events:
    member = cmd.member or actor.participant
    assert member is not None
    if member != actor.participant:
        _require_controller(state, actor)
    if member not in state.hands:
        raise NotNow("That hand is not raised.")
    return [e.HandLowered(member=member)]


def _call_next(state: MeetingState, cmd: c.CallNext, actor: Actor, now: int) -> Events:
    if not state.hands:
        raise NotNow("No hands are raised.")
    return [e.HandCalled(member=state.hands[0])]


# Questions


def _question(state: MeetingState, question_id: str) -> Question:
    for q in state.questions:
        if q.id == question_id:
            return q
    raise NotFound("No such question.")


def _ask_question(state: MeetingState, cmd: c.AskQuestion, actor: Actor, now: int) -> Events:
    _require_kind(state, PhaseKind.TURNS)
    presenter = state.presenter
    if presenter is None or state.stage is not Stage.QUESTIONS:
        raise NotNow("Questions are asked in the questions stage of a turn.")
    if actor.participant == presenter:
        raise NotNow("The presenter answers questions rather than asking them.")
    if cmd.anonymous and not state.settings.anonymous_questions:
        raise Invalid("This set does not allow anonymous questions.")
    if len(state.questions) >= MAX_QUESTIONS:
        raise Invalid("This meeting holds no more questions.")
    if not cmd.confirmed:
        reading = read(cmd.text)
        if not reading.is_question:
            raise NotAQuestion(prompt_template(reading), marker=reading.marker)
    question = Question(
        id=f"q{state.seq + 1}",
        presenter=presenter,
        author=actor.participant,
        anonymous=cmd.anonymous,
        text=cmd.text,
        at=now,
        grow=cmd.grow,
    )
    return [e.QuestionAsked(question=question)]


def _tag_question(state: MeetingState, cmd: c.TagQuestion, actor: Actor, now: int) -> Events:
    question = _question(state, cmd.question_id)
    if actor.participant != question.author:
        _require_controller(state, actor)
    if question.grow == cmd.grow:
        raise NotNow("That question is already so.")
    return [e.QuestionTagged(question_id=question.id, grow=cmd.grow)]


# Presenters' private notes


def _save_note(state: MeetingState, cmd: c.SaveNote, actor: Actor, now: int) -> Events:
    owner = actor.participant
    assert owner is not None
    if cmd.note_id is not None:
        # Another's note is "not found": whether it exists is theirs to know.
        existing = next((n for n in state.notes if n.id == cmd.note_id), None)
        if existing is None or existing.owner != owner:
            raise NotFound("No such note.")
        note = existing.model_copy(update={"text": cmd.text, "at": now})
        return [e.NoteSaved(owner=owner, note=note)]
    _require_kind(state, PhaseKind.TURNS)
    if state.presenter is None:
        raise NotNow("Notes are kept by the presenter during their turn.")
    if owner != state.presenter:
        raise Forbidden("Only the presenter keeps notes on their turn.")
    if sum(1 for n in state.notes if n.owner == owner) >= MAX_NOTES_EACH:
        raise Invalid("A presenter keeps at most {count} notes a meeting.", count=MAX_NOTES_EACH)
    note = Note(id=f"n{state.seq + 1}", owner=owner, text=cmd.text, at=now)
    return [e.NoteSaved(owner=owner, note=note)]


def _star_question(state: MeetingState, cmd: c.StarQuestion, actor: Actor, now: int) -> Events:
    question = _question(state, cmd.question_id)
    if actor.participant != question.presenter:
        raise Forbidden("Only the presenter stars the questions to keep.")
    if question.starred == cmd.starred:
        raise NotNow("That question is already so.")
    return [e.QuestionStarred(question_id=question.id, starred=cmd.starred)]


def _flag_advice(state: MeetingState, cmd: c.FlagAdvice, actor: Actor, now: int) -> Events:
    question = _question(state, cmd.question_id)
    if question.advice == cmd.flagged:
        raise NotNow("That contribution is already so.")
    return [e.QuestionFlagged(question_id=question.id, advice=cmd.flagged)]


# Commitments


def _save_commitment(state: MeetingState, cmd: c.SaveCommitment, actor: Actor, now: int) -> Events:
    carried_from: str | None = None
    if cmd.commitment_id is None:
        _require_kind(state, PhaseKind.TURNS)
        owner = state.presenter
        if owner is None or state.stage not in (Stage.REFLECTION, Stage.COMMITMENT):
            raise NotNow("Commitments are made at the end of a presenter's turn.")
        if actor.participant != owner:
            _require_controller(state, actor)
        if sum(1 for x in state.commitments if x.owner == owner) >= MAX_COMMITMENTS_EACH:
            raise Invalid(
                "A presenter makes at most {count} commitments.", count=MAX_COMMITMENTS_EACH
            )
        commitment_id = f"c{state.seq + 1}"
    else:
        existing = next((x for x in state.commitments if x.id == cmd.commitment_id), None)
        if existing is None:
            raise NotFound("No such commitment.")
        owner, commitment_id, carried_from = existing.owner, existing.id, existing.carried_from
        if actor.participant != owner:
            _require_controller(state, actor)
    commitment = Commitment(
        id=commitment_id,
        owner=owner,
        what=cmd.what,
        by_when=cmd.by_when,
        how_know=cmd.how_know,
        support=cmd.support,
        at=now,
        carried_from=carried_from,
    )
    return [e.CommitmentSaved(commitment=commitment)]


def _report_back(state: MeetingState, cmd: c.ReportBack, actor: Actor, now: int) -> Events:
    prior = next((p for p in state.prior if p.id == cmd.commitment_id), None)
    if prior is None:
        raise NotFound("No such commitment to report on.")
    if actor.participant != prior.owner:
        _require_controller(state, actor)
    reported = e.CommitmentReported(
        commitment_id=prior.id, status=cmd.status, learned=cmd.learned, next_step=cmd.next_step
    )
    if not cmd.carry:
        return [reported]
    return [reported, _carried(state, prior.id, prior.owner, cmd.next_step, now)]


def _carried(
    state: MeetingState, prior_id: str, owner: str, next_step: str, now: int
) -> e.CommitmentSaved:
    """The next step of a report as a commitment of this meeting: the one already carried from
    that report when there is one (its other fields kept), else a new one."""
    if not next_step:
        raise Invalid("Write the next step to record it as a new commitment.")
    person = state.person(owner)
    if person is None or not person.active:
        raise Invalid("Only a member still in the set can take on a new commitment.")
    existing = next((x for x in state.commitments if x.carried_from == prior_id), None)
    if existing is not None:
        return e.CommitmentSaved(
            commitment=existing.model_copy(update={"what": next_step, "at": now})
        )
    if sum(1 for x in state.commitments if x.owner == owner) >= MAX_COMMITMENTS_EACH:
        raise Invalid(
            "A member makes at most {count} commitments a meeting.", count=MAX_COMMITMENTS_EACH
        )
    # Two events come of this command: the new id is that of the first, unique in the log.
    commitment = Commitment(
        id=f"c{state.seq + 1}", owner=owner, what=next_step, at=now, carried_from=prior_id
    )
    return e.CommitmentSaved(commitment=commitment)


# Controls and the close


def _hand_over(state: MeetingState, cmd: c.HandOver, actor: Actor, now: int) -> Events:
    _member(state, cmd.member)
    if state.delegate == cmd.member:
        raise NotNow("That member already holds the controls.")
    return [e.ControlsHanded(member=cmd.member, watch=cmd.watch)]


def _take_back(state: MeetingState, cmd: c.TakeBack, actor: Actor, now: int) -> Events:
    if state.delegate is None:
        raise NotNow("No member holds the controls.")
    return [e.ControlsHanded(member=None)]


def _reschedule(state: MeetingState, cmd: c.Reschedule, actor: Actor, now: int) -> Events:
    info = state.info
    moved = (cmd.scheduled_at, cmd.planned_minutes) != (info.scheduled_at, info.planned_minutes)
    if moved and state.status is not MeetingStatus.NOT_STARTED:
        raise NotNow("The meeting has started: its date and length stay as they were.")
    if not moved and cmd.next_meeting_at == info.next_meeting_at:
        raise NotNow("The meeting's dates are already so.")
    dates = {
        "scheduled_at": cmd.scheduled_at,
        "planned_minutes": cmd.planned_minutes,
        "next_meeting_at": cmd.next_meeting_at,
    }
    return [e.MeetingRescheduled(info=info.model_copy(update=dates))]


def _close_meeting(state: MeetingState, cmd: c.CloseMeeting, actor: Actor, now: int) -> Events:
    return [e.MeetingClosed(at=now, timer=Timer())]


# The lobby and access


def _lock_meeting(state: MeetingState, cmd: c.LockMeeting, actor: Actor, now: int) -> Events:
    if state.locked == cmd.locked:
        if cmd.locked:
            raise NotNow("The meeting is already locked.")
        raise NotNow("It is not locked.")
    if cmd.locked:
        inside = tuple(p.id for p in state.members() if p.id in state.online)
        admitted = (*state.admitted, *(p for p in inside if p not in state.admitted))
        return [e.MeetingLocked(locked=True, admitted=admitted, waiting=())]
    # Unlocking lets everyone waiting in.
    return [e.MeetingLocked(locked=False, admitted=(*state.admitted, *state.waiting), waiting=())]


def _admit(state: MeetingState, cmd: c.Admit, actor: Actor, now: int) -> Events:
    _member(state, cmd.member)
    if state.may_enter(cmd.member):
        raise NotNow("That member can already come in.")
    return [e.MemberAdmitted(participant=cmd.member)]


def _knock(state: MeetingState, cmd: c.Knock, actor: Actor, now: int) -> Events:
    person = state.person(cmd.participant)
    if person is None or not person.active:
        raise Forbidden("You are not part of this meeting.")
    if state.may_enter(cmd.participant):
        raise NotNow("The room is open to you.")
    if cmd.participant in state.waiting:
        raise NotNow("Already waiting.")
    return [e.MemberWaiting(participant=cmd.participant)]


def _leave_lobby(state: MeetingState, cmd: c.LeaveLobby, actor: Actor, now: int) -> Events:
    if cmd.participant not in state.waiting:
        raise NotNow("Not waiting.")
    return [e.WaitingLeft(participant=cmd.participant)]


def _revoke_access(state: MeetingState, cmd: c.RevokeAccess, actor: Actor, now: int) -> Events:
    if state.person(cmd.participant) is None:
        raise NotFound("No such person in this meeting.")
    return [e.AccessRevoked(participant=cmd.participant)]


def _set_roster(state: MeetingState, cmd: c.SetRoster, actor: Actor, now: int) -> Events:
    """Follow the set's membership: newcomers join the roster; those who left stay on it,
    inactive, so the meeting's history keeps their names."""
    ids = [p.id for p in cmd.roster]
    if len(set(ids)) != len(ids):
        raise Invalid("Each person appears once on the roster.")
    current = {p.id: p for p in cmd.roster}
    kept = tuple(
        current[p.id].model_copy(update={"active": True})
        if p.id in current
        else p.model_copy(update={"active": False})
        for p in state.roster
    )
    known = {p.id for p in state.roster}
    roster = kept + tuple(p for p in cmd.roster if p.id not in known)
    if roster == state.roster:
        raise NotNow("The roster is unchanged.")
    return [e.RosterSet(roster=roster)]


# Presence


def _join(state: MeetingState, cmd: c.Join, actor: Actor, now: int) -> Events:
    person = state.person(cmd.participant)
    if person is None or not person.active:
        raise Forbidden("You are not part of this meeting.")
    if cmd.connection in state.connections:
        raise Invalid("That connection has already joined.")
    if not state.may_enter(cmd.participant):
        raise NotNow("The meeting is locked: wait in the lobby to be let in.")
    return [e.MemberJoined(connection=cmd.connection, participant=cmd.participant, at=now)]


def _leave(state: MeetingState, cmd: c.Leave, actor: Actor, now: int) -> Events:
    participant = state.connections.get(cmd.connection)
    if participant is None:
        raise NotFound("No such connection.")
    return [e.MemberLeft(connection=cmd.connection, participant=participant, at=now)]


_HANDLERS: dict[str, Handler] = {
    "start_meeting": _start_meeting,
    "next_phase": _next_phase,
    "goto_phase": _goto_phase,
    "skip_phase": _skip_phase,
    "restore_phase": _restore_phase,
    "move_phase": _move_phase,
    "add_phase": _add_phase,
    "set_order": _set_order,
    "next_speaker": _next_speaker,
    "set_speaker": _set_speaker,
    "next_stage": _next_stage,
    "set_slots": _set_slots,
    "allot": _allot,
    "unallot": _unallot,
    "timer_start": _timer_start,
    "timer_pause": _timer_pause,
    "timer_resume": _timer_resume,
    "timer_add": _timer_add,
    "call_next": _call_next,
    "flag_advice": _flag_advice,
    "hand_over": _hand_over,
    "take_back": _take_back,
    "close_meeting": _close_meeting,
    "raise_hand": _raise_hand,
    "lower_hand": _lower_hand,
    "ask_question": _ask_question,
    "tag_question": _tag_question,
    "save_note": _save_note,
    "star_question": _star_question,
    "place_bid": _place_bid,
    "withdraw_bid": _withdraw_bid,
    "save_commitment": _save_commitment,
    "report_back": _report_back,
    "join": _join,
    "leave": _leave,
    "timer_elapsed": _timer_elapsed,
    "reschedule": _reschedule,
    "lock_meeting": _lock_meeting,
    "admit": _admit,
    "knock": _knock,
    "leave_lobby": _leave_lobby,
    "revoke_access": _revoke_access,
    "set_roster": _set_roster,
}
assert set(_HANDLERS) == set(c.COMMAND_TYPES), "every command needs exactly one handler"


# Apply


def _replace_by_id(items: tuple[Any, ...], item: Any) -> tuple[Any, ...]:
    if any(x.id == item.id for x in items):
        return tuple(item if x.id == item.id else x for x in items)
    return (*items, item)


def _presented(s: MeetingState, presenter_index: int, stage: Stage | None) -> int:
    """A turn has begun once its presenter reached a stage; turns begin in slot order."""
    return max(s.presented, presenter_index + 1) if stage is not None else s.presented


def _apply_event(s: MeetingState, ev: e.AnyEvent) -> MeetingState:
    match ev:
        case e.MeetingOpened():
            return s.model_copy(
                update={
                    "info": ev.info,
                    "settings": ev.settings,
                    "roster": ev.roster,
                    "phases": ev.phases,
                    "prior": ev.prior,
                    "presented_before": ev.presented_before,
                    "delegate": ev.delegate,
                }
            )
        case e.MeetingStarted():
            return s.model_copy(update={"status": MeetingStatus.LIVE, "started_at": ev.at})
        case e.PhaseEntered():
            return s.model_copy(
                update={
                    "phase_index": ev.phase_index,
                    "phases": ev.phases,
                    "order": ev.order,
                    "turn_index": ev.turn_index,
                    "speaker": ev.speaker,
                    "presenter_index": ev.presenter_index,
                    "stage": ev.stage,
                    "timer": ev.timer,
                    "hands": (),
                    "presented": _presented(s, ev.presenter_index, ev.stage),
                }
            )
        case e.PhasesChanged():
            return s.model_copy(update={"phases": ev.phases, "phase_index": ev.phase_index})
        case e.OrderSet():
            return s.model_copy(
                update={
                    "order": ev.order,
                    "turn_index": ev.turn_index,
                    "speaker": ev.speaker,
                    "timer": ev.timer,
                }
            )
        case e.SpeakerChanged():
            return s.model_copy(
                update={"speaker": ev.speaker, "turn_index": ev.turn_index, "timer": ev.timer}
            )
        case e.StageChanged():
            return s.model_copy(
                update={
                    "presenter_index": ev.presenter_index,
                    "stage": ev.stage,
                    "speaker": ev.speaker,
                    "timer": ev.timer,
                    "hands": ev.hands,
                    "presented": _presented(s, ev.presenter_index, ev.stage),
                }
            )
        case e.SlotsSet():
            return s.model_copy(update={"slots": ev.slots})
        case e.BidPlaced():
            bids = tuple(b for b in s.bids if b.member != ev.bid.member)
            return s.model_copy(update={"bids": (*bids, ev.bid)})
        case e.BidWithdrawn():
            return s.model_copy(update={"bids": tuple(b for b in s.bids if b.member != ev.member)})
        case e.TimerChanged():
            return s.model_copy(update={"timer": ev.timer})
        case e.HandRaised():
            return s.model_copy(update={"hands": (*s.hands, ev.member)})
        case e.HandLowered():
            return s.model_copy(update={"hands": tuple(h for h in s.hands if h != ev.member)})
        case e.HandCalled():
            return s.model_copy(
                update={"hands": tuple(h for h in s.hands if h != ev.member), "speaker": ev.member}
            )
        case e.QuestionAsked():
            return s.model_copy(update={"questions": (*s.questions, ev.question)})
        case e.QuestionFlagged():
            return s.model_copy(
                update={
                    "questions": tuple(
                        q.model_copy(update={"advice": ev.advice}) if q.id == ev.question_id else q
                        for q in s.questions
                    )
                }
            )
        case e.QuestionTagged():
            return s.model_copy(
                update={
                    "questions": tuple(
                        q.model_copy(update={"grow": ev.grow}) if q.id == ev.question_id else q
                        for q in s.questions
                    )
                }
            )
        case e.NoteSaved():
            if ev.note is None:  # someone else's note, as this viewer receives it
                return s
            return s.model_copy(update={"notes": _replace_by_id(s.notes, ev.note)})
        case e.QuestionStarred():
            return s.model_copy(
                update={
                    "questions": tuple(
                        q.model_copy(update={"starred": ev.starred})
                        if q.id == ev.question_id
                        else q
                        for q in s.questions
                    )
                }
            )
        case e.CommitmentSaved():
            return s.model_copy(
                update={"commitments": _replace_by_id(s.commitments, ev.commitment)}
            )
        case e.CommitmentReported():
            return s.model_copy(
                update={
                    "prior": tuple(
                        p.model_copy(
                            update={
                                "status": ev.status,
                                "learned": ev.learned,
                                "next_step": ev.next_step,
                            }
                        )
                        if p.id == ev.commitment_id
                        else p
                        for p in s.prior
                    )
                }
            )
        case e.ControlsHanded():
            return s.model_copy(
                update={"delegate": ev.member, "watching": ev.member is not None and ev.watch}
            )
        case e.MeetingRescheduled():
            return s.model_copy(update={"info": ev.info})
        case e.MeetingClosed():
            phases = tuple(
                p.model_copy(update={"status": PhaseStatus.DONE})
                if p.status is PhaseStatus.CURRENT
                else p
                for p in s.phases
            )
            return s.model_copy(
                update={
                    "status": MeetingStatus.CLOSED,
                    "closed_at": ev.at,
                    "speaker": None,
                    "hands": (),
                    "timer": ev.timer,
                    "stage": None,
                    "phases": phases,
                }
            )
        case e.MeetingLocked():
            return s.model_copy(
                update={"locked": ev.locked, "admitted": ev.admitted, "waiting": ev.waiting}
            )
        case e.MemberWaiting():
            return s.model_copy(update={"waiting": (*s.waiting, ev.participant)})
        case e.MemberAdmitted():
            return s.model_copy(
                update={
                    "admitted": (*s.admitted, ev.participant),
                    "waiting": tuple(w for w in s.waiting if w != ev.participant),
                }
            )
        case e.WaitingLeft():
            return s.model_copy(
                update={"waiting": tuple(w for w in s.waiting if w != ev.participant)}
            )
        case e.AccessRevoked():
            return s
        case e.RosterSet():
            kept = {p.id for p in ev.roster if p.active}
            return s.model_copy(
                update={
                    "roster": ev.roster,
                    "speaker": s.speaker if s.speaker in kept else None,
                    "hands": tuple(h for h in s.hands if h in kept),
                    "delegate": s.delegate if s.delegate in kept else None,
                    "watching": s.watching and s.delegate in kept,
                    "admitted": tuple(a for a in s.admitted if a in kept),
                    "waiting": tuple(w for w in s.waiting if w in kept),
                }
            )
        case e.MemberJoined():
            first_seen = (
                s.first_seen
                if ev.participant in s.first_seen
                else {**s.first_seen, ev.participant: ev.at}
            )
            return s.model_copy(
                update={
                    "connections": {**s.connections, ev.connection: ev.participant},
                    "first_seen": first_seen,
                }
            )
        case e.MemberLeft():
            return s.model_copy(
                update={
                    "connections": {k: v for k, v in s.connections.items() if k != ev.connection}
                }
            )
    raise DomainError("invalid", f"Unknown event {ev!r}")  # pragma: no cover - exhaustive match
