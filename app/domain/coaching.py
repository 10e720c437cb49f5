"""Prompts for novice facilitators: for each moment of a meeting, a short script to say, the
suggested next step, and the command the step's button sends.

`coach(state)` is pure: the room shows it to a member holding the controls (a set on its way to
facilitating itself), so that someone running their first meeting always knows what to say and
what comes next. It suggests; it never decides anything for the room.
"""

from __future__ import annotations

from collections.abc import Callable

from app.domain.model import (
    ROUND_KINDS,
    Frozen,
    MeetingState,
    MeetingStatus,
    PhaseKind,
    PhaseStatus,
    Stage,
)


class Coaching(Frozen):
    script: str
    """What the facilitator might say now."""
    next_step: str
    """The suggested next step, in a sentence."""
    command: dict[str, str] | None = None
    """The command the step's button sends (its "type" and fields), or None when the step is
    done elsewhere (a form in the room)."""
    label: str = ""
    """The button's label."""


ROUND_SCRIPTS: dict[PhaseKind, str] = {
    PhaseKind.CHECK_IN: "Invite each person in turn: how are you arriving today? Keep it short, "
    "and no discussion yet.",
    PhaseKind.REPORT_BACK: "Ask each member how their commitments went and what they learned. "
    "The set may ask questions; no judging.",
    PhaseKind.PROCESS_REVIEW: "Ask each person in turn: how did we work as a set today? What "
    "helped, what could we do better?",
    PhaseKind.CHECK_OUT: "Invite each person in turn to say one thought they leave with.",
}

STAGE_SCRIPTS: dict[Stage, str] = {
    Stage.PRESENT: "Invite {p} to present their issue. Everyone else listens without interrupting.",
    Stage.QUESTIONS: "Questions only, no advice. Call on raised hands in turn. If someone offers "
    "advice, flag it and ask them to put it as a question. Look at which GROW stages (goal, "
    "reality, options, will) the questions have covered.",
    Stage.REFLECTION: "Invite {p} to reflect on what they heard. Others speak only if {p} "
    "invites them.",
    Stage.COMMITMENT: "Help {p} shape a commitment: what they will do, by when, how they will "
    "know, and what support they want from the set.",
}


def coach(state: MeetingState) -> Coaching | None:
    """The script and suggested next step for the meeting's current moment (None once closed)."""
    if state.status is MeetingStatus.CLOSED:
        return None
    if state.status is MeetingStatus.NOT_STARTED:
        return Coaching(
            script="Welcome everyone, check that the call works, and remind the set of its "
            "ground rules: what is said here stays here, and we ask questions rather than "
            "give advice.",
            next_step="When everyone is here, start the meeting.",
            command={"type": "start_meeting"},
            label="Start the meeting",
        )
    phase = state.phase
    if phase is None:
        return None

    def name(pid: str | None) -> str:
        person = state.person(pid)
        return person.name if person else "the presenter"

    elapsed = state.timer.elapsed
    next_phase = next(
        (p for p in state.phases[state.phase_index + 1 :] if p.status is PhaseStatus.PENDING),
        None,
    )
    move_on = (
        Coaching(
            script="",
            next_step=f"Move on to {next_phase.title}.",
            command={"type": "next_phase", "from_phase": phase.id},
            label=f"Next phase: {next_phase.title}",
        )
        if next_phase is not None
        else None
    )

    if phase.kind in ROUND_KINDS:
        script = ROUND_SCRIPTS[phase.kind]
        if state.order and state.turn_index < len(state.order):
            following = state.turn_index + 1
            who = name(state.speaker)
            if following < len(state.order):
                after = name(state.order[following])
                step = (
                    f"Time is up: thank {who} and invite {after}."
                    if elapsed
                    else f"When {who} has finished, invite {after}."
                )
                label = f"Next speaker: {after}"
            else:
                step = (
                    f"Time is up: thank {who}; the round is then complete."
                    if elapsed
                    else f"When {who} has finished, end the round."
                )
                label = "End the round"
            return Coaching(
                script=script,
                next_step=step,
                command={"type": "next_speaker", "from_speaker": state.speaker or ""},
                label=label,
            )
        if move_on is not None:
            return move_on.model_copy(
                update={"script": script, "next_step": "Everyone has spoken. " + move_on.next_step}
            )
        return Coaching(script=script, next_step="Everyone has spoken.")

    if phase.kind is PhaseKind.BIDDING:
        script = (
            "Invite bids: who would like time today, how many minutes, and their issue in one "
            "line. Allot slots so that the plan fits the time left."
        )
        if not state.slots:
            return Coaching(script=script, next_step="Allot time to those who bid (below).")
        if move_on is not None:
            return move_on.model_copy(
                update={
                    "script": script,
                    "next_step": "When the plan is agreed, move on to the presenters' turns.",
                }
            )
        return Coaching(script=script, next_step="When the plan is agreed, move on.")

    if phase.kind is PhaseKind.TURNS:
        return _turn(state, name, elapsed, move_on)

    if phase.kind is PhaseKind.CLOSE:
        return Coaching(
            script="Thank everyone, remind them of the next meeting's date and of their "
            "commitments, and close the meeting.",
            next_step="Close the meeting: everyone then sees the summary.",
            command={"type": "close_meeting"},
            label="Close the meeting",
        )

    script = f"Run {phase.title}." + (" Time is up." if elapsed else "")
    if move_on is not None:
        return move_on.model_copy(update={"script": script})
    return Coaching(script=script, next_step="Move on when you are ready.")


def _turn(
    state: MeetingState,
    name: Callable[[str | None], str],
    elapsed: bool,
    move_on: Coaching | None,
) -> Coaching:
    stage_key = f"{state.presenter_index}:{state.stage.value if state.stage else ''}"
    next_stage = {"type": "next_stage", "from_stage": stage_key}
    presenter = state.presenter
    p = name(presenter)
    if state.stage is None:
        index = max(state.presenter_index, 0)
        if state.slots and index < len(state.slots):
            first = name(state.slots[index].member)
            return Coaching(
                script="Between turns. Check the next presenter is ready.",
                next_step=f"Start {first}'s turn.",
                command=next_stage,
                label=f"Start turn: {first}",
            )
        if move_on is not None:
            return move_on.model_copy(update={"script": "Every presenter has had their turn."})
        return Coaching(script="Every presenter has had their turn.", next_step="Move on.")
    script = STAGE_SCRIPTS[state.stage].format(p=p)
    if state.stage is Stage.PRESENT:
        step = (
            f"Time is up: thank {p} and open the questions."
            if elapsed
            else f"When {p} has finished presenting, open the questions."
        )
        return Coaching(
            script=script, next_step=step, command=next_stage, label="Next stage: Questions"
        )
    if state.stage is Stage.QUESTIONS:
        if state.hands:
            hand = name(state.hands[0])
            return Coaching(
                script=script,
                next_step=f"{hand} has a hand up: call on them.",
                command={"type": "call_next"},
                label=f"Call on {hand}",
            )
        step = (
            "Time is up: invite the presenter to reflect."
            if elapsed
            else "When the questions run dry, invite the presenter to reflect."
        )
        return Coaching(
            script=script, next_step=step, command=next_stage, label="Next stage: Reflection"
        )
    if state.stage is Stage.REFLECTION:
        step = (
            f"Time is up: invite {p} to commit to an action."
            if elapsed
            else f"When {p} has reflected, invite them to commit to an action."
        )
        return Coaching(
            script=script, next_step=step, command=next_stage, label="Next stage: Commitment"
        )
    committed = any(x.owner == presenter for x in state.commitments)
    if not committed:
        return Coaching(
            script=script,
            next_step=f"Once {p} has a commitment, record it below.",
        )
    following = state.presenter_index + 1
    if following < len(state.slots):
        nxt = name(state.slots[following].member)
        return Coaching(
            script=script,
            next_step=f"Thank {p}, and move on to {nxt}'s turn.",
            command=next_stage,
            label=f"Next presenter: {nxt}",
        )
    return Coaching(
        script=script,
        next_step=f"Thank {p}: that was the last turn.",
        command=next_stage,
        label="Finish the turns",
    )
