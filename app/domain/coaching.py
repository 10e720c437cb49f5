"""Prompts for novice facilitators: for each moment of a meeting, a short script to say, the
suggested next step, and the command the step's button sends.

`coach(state)` is pure: the room shows it to a member holding the controls (a set on its way to
facilitating itself), so that someone running their first meeting always knows what to say and
what comes next. It suggests; it never decides anything for the room.
"""

from __future__ import annotations

from collections.abc import Callable

from pydantic import Field

from app.domain.model import (
    ROUND_KINDS,
    Frozen,
    MeetingState,
    MeetingStatus,
    PhaseKind,
    PhaseStatus,
    Stage,
)
from app.domain.text import N_


class Said(Frozen):
    """A sentence as an English template with its `{named}` values: the room translates the
    template into the viewer's language, then fills it (app.web.render)."""

    template: str
    params: dict[str, str] = Field(default_factory=dict)

    @property
    def text(self) -> str:
        return self.template.format(**self.params) if self.params else self.template


def say(template: str, **params: str) -> Said:
    return Said(template=template, params=params)


NOTHING = Said(template="")


class Coaching(Frozen):
    said_script: Said = NOTHING
    """What the facilitator might say now."""
    said_next: Said = NOTHING
    """The suggested next step, in a sentence."""
    command: dict[str, str] | None = None
    """The command the step's button sends (its "type" and fields), or None when the step is
    done elsewhere (a form in the room)."""
    said_label: Said = NOTHING
    """The button's label."""

    @property
    def script(self) -> str:
        return self.said_script.text

    @property
    def next_step(self) -> str:
        return self.said_next.text

    @property
    def label(self) -> str:
        return self.said_label.text


ROUND_SCRIPTS: dict[PhaseKind, str] = {
    PhaseKind.CHECK_IN: N_(
        "Invite each person in turn: how are you arriving today? Keep it short, "
        "and no discussion yet."
    ),
    PhaseKind.REPORT_BACK: N_(
        "Ask each member how their commitments went and what they learned. "
        "The set may ask questions; no judging."
    ),
    PhaseKind.PROCESS_REVIEW: N_(
        "Ask each person in turn: how did we work as a set today? What "
        "helped, what could we do better?"
    ),
    PhaseKind.CHECK_OUT: N_("Invite each person in turn to say one thought they leave with."),
}

STAGE_SCRIPTS: dict[Stage, str] = {
    Stage.PRESENT: N_(
        "Invite {p} to present their issue. Everyone else listens without interrupting."
    ),
    Stage.QUESTIONS: N_(
        "Questions only, no advice. Call on raised hands in turn. If someone offers "
        "advice, flag it and ask them to put it as a question. Look at which GROW stages (goal, "
        "reality, options, will) the questions have covered."
    ),
    Stage.REFLECTION: N_(
        "Invite {p} to reflect on what they heard. Others speak only if {p} invites them."
    ),
    Stage.COMMITMENT: N_(
        "Help {p} shape a commitment: what they will do, by when, how they will "
        "know, and what support they want from the set."
    ),
}


def coach(state: MeetingState) -> Coaching | None:
    """The script and suggested next step for the meeting's current moment (None once closed)."""
    if state.status is MeetingStatus.CLOSED:
        return None
    if state.status is MeetingStatus.NOT_STARTED:
        return Coaching(
            said_script=say(
                "Welcome everyone, check that the call works, and remind the set of its "
                "ground rules: what is said here stays here, and we ask questions rather than "
                "give advice."
            ),
            said_next=say("When everyone is here, start the meeting."),
            command={"type": "start_meeting"},
            said_label=say("Start the meeting"),
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
            said_next=say("Move on to {phase}.", phase=next_phase.title),
            command={"type": "next_phase", "from_phase": phase.id},
            said_label=say("Next phase: {phase}", phase=next_phase.title),
        )
        if next_phase is not None
        else None
    )

    if phase.kind in ROUND_KINDS:
        script = say(ROUND_SCRIPTS[phase.kind])
        if state.order and state.turn_index < len(state.order):
            following = state.turn_index + 1
            who = name(state.speaker)
            if following < len(state.order):
                after = name(state.order[following])
                step = (
                    say("Time is up: thank {who} and invite {after}.", who=who, after=after)
                    if elapsed
                    else say("When {who} has finished, invite {after}.", who=who, after=after)
                )
                label = say("Next speaker: {after}", after=after)
            else:
                step = (
                    say("Time is up: thank {who}; the round is then complete.", who=who)
                    if elapsed
                    else say("When {who} has finished, end the round.", who=who)
                )
                label = say("End the round")
            return Coaching(
                said_script=script,
                said_next=step,
                command={"type": "next_speaker", "from_speaker": state.speaker or ""},
                said_label=label,
            )
        if move_on is not None:
            return move_on.model_copy(
                update={
                    "said_script": script,
                    "said_next": say(
                        "Everyone has spoken. Move on to {phase}.",
                        **move_on.said_next.params,
                    ),
                }
            )
        return Coaching(said_script=script, said_next=say("Everyone has spoken."))

    if phase.kind is PhaseKind.BIDDING:
        script = say(
            "Invite bids: who would like time today, how many minutes, and their issue in one "
            "line. Allot slots so that the plan fits the time left."
        )
        if not state.slots:
            return Coaching(
                said_script=script, said_next=say("Allot time to those who bid (below).")
            )
        if move_on is not None:
            return move_on.model_copy(
                update={
                    "said_script": script,
                    "said_next": say("When the plan is agreed, move on to the presenters' turns."),
                }
            )
        return Coaching(said_script=script, said_next=say("When the plan is agreed, move on."))

    if phase.kind is PhaseKind.TURNS:
        return _turn(state, name, elapsed, move_on)

    if phase.kind is PhaseKind.CLOSE:
        return Coaching(
            said_script=say(
                "Thank everyone, remind them of the next meeting's date and of their "
                "commitments, and close the meeting."
            ),
            said_next=say("Close the meeting: everyone then sees the summary."),
            command={"type": "close_meeting"},
            said_label=say("Close the meeting"),
        )

    script = (
        say("Run {phase}. Time is up.", phase=phase.title)
        if elapsed
        else say("Run {phase}.", phase=phase.title)
    )
    if move_on is not None:
        return move_on.model_copy(update={"said_script": script})
    return Coaching(said_script=script, said_next=say("Move on when you are ready."))


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
                said_script=say("Between turns. Check the next presenter is ready."),
                said_next=say("Start {p}'s turn.", p=first),
                command=next_stage,
                said_label=say("Start turn: {p}", p=first),
            )
        done = say("Every presenter has had their turn.")
        if move_on is not None:
            return move_on.model_copy(update={"said_script": done})
        return Coaching(said_script=done, said_next=say("Move on."))
    script = say(STAGE_SCRIPTS[state.stage], p=p)
    if state.stage is Stage.PRESENT:
        step = (
            say("Time is up: thank {p} and open the questions.", p=p)
            if elapsed
            else say("When {p} has finished presenting, open the questions.", p=p)
        )
        return Coaching(
            said_script=script,
            said_next=step,
            command=next_stage,
            said_label=say("Next stage: Questions"),
        )
    if state.stage is Stage.QUESTIONS:
        if state.hands:
            hand = name(state.hands[0])
            return Coaching(
                said_script=script,
                said_next=say("{p} has a hand up: call on them.", p=hand),
                command={"type": "call_next"},
                said_label=say("Call on {p}", p=hand),
            )
        step = (
            say("Time is up: invite the presenter to reflect.")
            if elapsed
            else say("When the questions run dry, invite the presenter to reflect.")
        )
        return Coaching(
            said_script=script,
            said_next=step,
            command=next_stage,
            said_label=say("Next stage: Reflection"),
        )
    if state.stage is Stage.REFLECTION:
        step = (
            say("Time is up: invite {p} to commit to an action.", p=p)
            if elapsed
            else say("When {p} has reflected, invite them to commit to an action.", p=p)
        )
        return Coaching(
            said_script=script,
            said_next=step,
            command=next_stage,
            said_label=say("Next stage: Commitment"),
        )
    committed = any(x.owner == presenter for x in state.commitments)
    if not committed:
        return Coaching(
            said_script=script,
            said_next=say("Once {p} has a commitment, record it below.", p=p),
        )
    following = state.presenter_index + 1
    if following < len(state.slots):
        nxt = name(state.slots[following].member)
        return Coaching(
            said_script=script,
            said_next=say("Thank {p}, and move on to {next}'s turn.", p=p, next=nxt),
            command=next_stage,
            said_label=say("Next presenter: {next}", next=nxt),
        )
    return Coaching(
        said_script=script,
        said_next=say("Thank {p}: that was the last turn.", p=p),
        command=next_stage,
        said_label=say("Finish the turns"),
    )
