"""Random meetings: any command from anyone at any time, and the rules that must always hold."""

from __future__ import annotations

import os
from collections.abc import Callable

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from app.domain import commands as c
from app.domain import events as e
from app.domain.airtime import airtime_at, counting
from app.domain.engine import MAX_COMMITMENTS_EACH, apply, decide, replay
from app.domain.errors import DomainError
from app.domain.model import (
    STAGE_ORDER,
    Actor,
    GrowStage,
    MeetingState,
    MeetingStatus,
    Participant,
    PhaseKind,
    PhaseStatus,
    ReportStatus,
    Role,
    Settings,
    Stage,
)
from app.domain.views import redact, summary, view
from tests.factories import Log, opened, prior_commitment, roster, stamp

ERROR_CODES = frozenset(
    {"forbidden", "not_now", "invalid", "not_found", "moved_on", "closed", "not_a_question"}
)
PHASE_MOVES = frozenset({"phase_entered", "phases_changed", "stage_changed"})
STRANGER = "zz"

Draw = st.DataObject
Builder = Callable[[Draw, MeetingState], c.AnyCommand]


def _pick(data: Draw, options: list[str] | tuple[str, ...]) -> str:
    """One of the options; a stranger when there are none (every member may have left)."""
    return data.draw(st.sampled_from(list(options) or [STRANGER]))


def _person(data: Draw, state: MeetingState) -> str:
    return _pick(data, [p.id for p in state.roster] + [STRANGER])


def _member(data: Draw, state: MeetingState) -> str:
    return _pick(data, [p.id for p in state.members()] + [STRANGER, "f"])


def _phase_id(data: Draw, state: MeetingState) -> str:
    return _pick(data, [p.id for p in state.phases] + ["p99"])


def _question_id(data: Draw, state: MeetingState) -> str:
    return _pick(data, [q.id for q in state.questions] + ["q0"])


def _connection(data: Draw, state: MeetingState) -> str:
    return _pick(data, [*state.connections, "k1", "k2", "k3"])


def _from_stage(data: Draw, state: MeetingState) -> str | None:
    keys = [f"{state.presenter_index}:{state.stage.value if state.stage else ''}"]
    keys += [f"{i}:{s.value}" for i in range(2) for s in STAGE_ORDER]
    return data.draw(st.none() | st.sampled_from(keys))


SECONDS = st.integers(1, 600)
MINUTES = st.integers(1, 30)
TEXT = st.sampled_from(["Why now?", "What have you tried?", "You should just quit."])


def _keep(flags: list[bool], s: MeetingState) -> tuple[Participant, ...]:
    """The roster less the members whose flag is off (facilitators always stay)."""
    return tuple(
        p for p, keep in zip(s.roster, flags, strict=True) if keep or p.role is Role.FACILITATOR
    )


BUILDERS: dict[str, Builder] = {
    "start_meeting": lambda d, s: c.StartMeeting(),
    "next_phase": lambda d, s: c.NextPhase(
        from_phase=d.draw(st.none() | st.sampled_from([p.id for p in s.phases]))
    ),
    "goto_phase": lambda d, s: c.GotoPhase(phase_id=_phase_id(d, s)),
    "skip_phase": lambda d, s: c.SkipPhase(phase_id=_phase_id(d, s)),
    "restore_phase": lambda d, s: c.RestorePhase(phase_id=_phase_id(d, s)),
    "move_phase": lambda d, s: c.MovePhase(
        phase_id=_phase_id(d, s), to_index=d.draw(st.integers(0, len(s.phases)))
    ),
    "add_phase": lambda d, s: c.AddPhase(
        kind=d.draw(st.sampled_from(PhaseKind)),
        title="Added",
        minutes=d.draw(st.integers(0, 5)),
        at_index=d.draw(st.none() | st.integers(0, len(s.phases))),
    ),
    "set_order": lambda d, s: c.SetOrder(
        order=d.draw(st.lists(st.sampled_from([p.id for p in s.roster] + [STRANGER]), max_size=4))
    ),
    "next_speaker": lambda d, s: c.NextSpeaker(
        from_speaker=d.draw(st.none() | st.sampled_from([p.id for p in s.roster]))
    ),
    "set_speaker": lambda d, s: c.SetSpeaker(participant=_person(d, s)),
    "next_stage": lambda d, s: c.NextStage(from_stage=_from_stage(d, s)),
    "set_slots": lambda d, s: c.SetSlots(
        slots=[
            c.SlotIn(member=m, minutes=d.draw(MINUTES))
            for m in d.draw(st.lists(st.sampled_from([p.id for p in s.roster]), max_size=3))
        ]
    ),
    "allot": lambda d, s: c.Allot(member=_member(d, s), minutes=d.draw(st.none() | MINUTES)),
    "unallot": lambda d, s: c.Unallot(member=_member(d, s)),
    "timer_start": lambda d, s: c.TimerStart(seconds=d.draw(SECONDS)),
    "timer_pause": lambda d, s: c.TimerPause(),
    "timer_resume": lambda d, s: c.TimerResume(),
    "timer_add": lambda d, s: c.TimerAdd(seconds=d.draw(SECONDS)),
    "call_next": lambda d, s: c.CallNext(),
    "flag_advice": lambda d, s: c.FlagAdvice(
        question_id=_question_id(d, s), flagged=d.draw(st.booleans())
    ),
    "hand_over": lambda d, s: c.HandOver(member=_member(d, s), watch=d.draw(st.booleans())),
    "take_back": lambda d, s: c.TakeBack(),
    "close_meeting": lambda d, s: c.CloseMeeting(),
    "raise_hand": lambda d, s: c.RaiseHand(),
    "lower_hand": lambda d, s: c.LowerHand(member=d.draw(st.none() | st.just(_person(d, s)))),
    "ask_question": lambda d, s: c.AskQuestion(
        text=d.draw(TEXT),
        anonymous=d.draw(st.booleans()),
        grow=d.draw(st.none() | st.sampled_from(GrowStage)),
        confirmed=d.draw(st.booleans()),
    ),
    "tag_question": lambda d, s: c.TagQuestion(
        question_id=_question_id(d, s), grow=d.draw(st.none() | st.sampled_from(GrowStage))
    ),
    "save_note": lambda d, s: c.SaveNote(
        note_id=d.draw(st.none() | st.sampled_from([n.id for n in s.notes] + ["n0"])),
        text=d.draw(TEXT),
    ),
    "star_question": lambda d, s: c.StarQuestion(
        question_id=_question_id(d, s), starred=d.draw(st.booleans())
    ),
    "place_bid": lambda d, s: c.PlaceBid(minutes=d.draw(MINUTES), title="An issue"),
    "withdraw_bid": lambda d, s: c.WithdrawBid(),
    "save_commitment": lambda d, s: c.SaveCommitment(
        commitment_id=d.draw(st.none() | st.sampled_from([x.id for x in s.commitments] + ["c0"])),
        what=d.draw(TEXT),
    ),
    "report_back": lambda d, s: c.ReportBack(
        commitment_id=_pick(d, [p.id for p in s.prior] + ["pc-zz"]),
        status=d.draw(st.sampled_from(ReportStatus)),
        next_step=d.draw(st.sampled_from(["", "Try again"])),
        carry=d.draw(st.booleans()),
    ),
    "join": lambda d, s: c.Join(connection=_connection(d, s), participant=_person(d, s)),
    "leave": lambda d, s: c.Leave(connection=_connection(d, s)),
    "reschedule": lambda d, s: c.Reschedule(
        scheduled_at=d.draw(st.none() | st.integers(0, 2**41)),
        planned_minutes=d.draw(st.integers(1, 1440)),
        next_meeting_at=d.draw(st.none() | st.integers(0, 2**41)),
    ),
    "timer_elapsed": lambda d, s: c.TimerElapsed(
        deadline_ms=s.timer.deadline_ms or d.draw(st.integers(0, 2**41))
    ),
    "lock_meeting": lambda d, s: c.LockMeeting(locked=d.draw(st.booleans())),
    "admit": lambda d, s: c.Admit(member=_person(d, s)),
    "knock": lambda d, s: c.Knock(participant=_person(d, s)),
    "leave_lobby": lambda d, s: c.LeaveLobby(participant=_person(d, s)),
    "revoke_access": lambda d, s: c.RevokeAccess(participant=_person(d, s)),
    "set_roster": lambda d, s: c.SetRoster(
        roster=_keep(
            d.draw(st.lists(st.booleans(), min_size=len(s.roster), max_size=len(s.roster))), s
        )
    ),
}


PRELUDE: tuple[tuple[c.AnyCommand, str | None], ...] = (
    (c.Join(connection="k1", participant="m1"), None),
    (c.StartMeeting(), "f"),
    (c.RaiseHand(), "m2"),
    (c.NextPhase(), "f"),
    (c.NextPhase(), "f"),
    (c.PlaceBid(minutes=10, title="Bid"), "m1"),
    (c.Allot(member="m1"), "f"),
    (c.Allot(member="m2", minutes=5), "f"),
    (c.NextPhase(), "f"),
    (c.RaiseHand(), "m2"),
    (c.NextStage(), "f"),
    (c.AskQuestion(text="Why?", anonymous=True), "m2"),
    (c.NextStage(), "f"),
    (c.SaveCommitment(what="Try"), "m1"),
    (c.NextStage(), "f"),
    (c.NextStage(), "f"),
)
"""The usual path through a meeting, by roster id (None for the server)."""


def test_every_command_type_has_a_builder() -> None:
    assert set(BUILDERS) == set(c.COMMAND_TYPES)


class Meeting(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.log = Log()
        self.owners: dict[str, str] = {}
        """Each commitment's owner when it was made."""

    @initialize(
        members=st.integers(2, 5),
        facilitators=st.integers(1, 2),
        anonymous=st.booleans(),
        to_set=st.booleans(),
        with_prior=st.booleans(),
        depth=st.integers(0, len(PRELUDE)),
    )
    def open(
        self,
        members: int,
        facilitators: int,
        anonymous: bool,
        to_set: bool,
        with_prior: bool,
        depth: int,
    ) -> None:
        people = roster(members=members, facilitators=facilitators)
        prior = [prior_commitment(owner="m1"), prior_commitment(owner="m2")] if with_prior else []
        opening = opened(
            people=people,
            settings=Settings(anonymous_questions=anonymous, questions_to_set=to_set),
            prior=prior,
        )
        self.log = Log(opening)
        # Start most runs part-way along the usual path, so that short runs reach deep states.
        for command, who in PRELUDE[:depth]:
            self.send(command, self.log.actor(who), self.log.now + 1000, None)

    # Who sends: the roster in their roles, mostly, but also a stranger, the server, a member
    # claiming to be a facilitator.
    def actors(self) -> list[Actor]:
        s = self.log.state
        real = [Actor(participant=p.id, role=p.role) for p in s.roster]
        facilitators = [a for a in real if a.role is Role.FACILITATOR]
        return [
            *real,
            *facilitators * 3,
            Actor(participant=STRANGER, role=Role.MEMBER),
            Actor.system(),
            Actor(participant="m1", role=Role.FACILITATOR),
        ]

    def send(self, command: c.AnyCommand, actor: Actor, now: int, expect_seq: int | None) -> None:
        log = self.log
        before = log.state
        dumped = before.model_dump()
        try:
            events = decide(before, command, actor, now, expect_seq=expect_seq)
        except DomainError as err:
            assert err.code in ERROR_CODES and err.message
            assert log.state is before and before.model_dump() == dumped
            return
        assert events
        state = before
        for event in events:
            stamped = stamp(
                event, seq=state.seq + 1, at=now, actor=actor.participant, actor_role=actor.role
            )
            after = apply(state, stamped)
            self.check_event(state, event, actor)
            self.check_views(state, stamped, after)
            state = after
        log.append(events, actor, now)
        log.now = max(log.now, now)
        assert log.state == state

    def check_event(self, state: MeetingState, event: e.AnyEvent, actor: Actor) -> None:
        if event.type in PHASE_MOVES:
            person = state.person(actor.participant)
            assert person is not None and person.role is actor.role
            assert person.role is Role.FACILITATOR or person.id == state.delegate, event.type
        if isinstance(event, e.CommitmentSaved):
            made = event.commitment
            if made.id in self.owners:
                assert made.owner == self.owners[made.id]
            elif made.carried_from is not None:
                # A reported next step carried on: its owner is the earlier commitment's.
                prior = next(p for p in state.prior if p.id == made.carried_from)
                assert made.owner == prior.owner
                self.owners[made.id] = made.owner
            else:
                assert made.owner == state.presenter
                self.owners[made.id] = made.owner

    def check_views(self, state: MeetingState, stamped: e.Stamped, after: MeetingState) -> None:
        viewers: list[str | None] = [*(p.id for p in state.roster), None, STRANGER]
        for viewer in viewers:
            seen = stamped.model_copy(update={"event": redact(stamped.event, viewer, state)})
            assert apply(view(state, viewer), seen) == view(after, viewer), viewer

    def clock(self, data: Draw) -> int:
        return self.log.now + data.draw(st.integers(0, 90_000), label="advance ms")

    def expect_seq(self, data: Draw) -> int | None:
        choice = data.draw(st.sampled_from(["none", "none", "none", "current", "stale"]))
        seq = self.log.state.seq
        return {"none": None, "current": seq, "stale": seq - 1}[choice]

    @rule(data=st.data())
    def anything(self, data: Draw) -> None:
        kind = _pick(data, c.COMMAND_TYPES)
        command = BUILDERS[kind](data, self.log.state)
        if kind in c.SYSTEM_COMMANDS and data.draw(st.integers(0, 4), label="by server") > 0:
            actor = Actor.system()
        else:
            actor = data.draw(st.sampled_from(self.actors()), label="actor")
        self.send(command, actor, self.clock(data), self.expect_seq(data))

    @rule(data=st.data())
    def facilitator_moves_on(self, data: Draw) -> None:
        """The common path, so that random runs reach the turns, their stages and the close."""
        s = self.log.state
        phase = s.phase
        members = [p.id for p in s.members()]
        options: list[c.AnyCommand] = [c.NextPhase()]
        if s.status is MeetingStatus.NOT_STARTED:
            options = [c.StartMeeting()]
        elif phase is not None and phase.kind is PhaseKind.TURNS:
            if len(s.slots) < 2 or s.presenter_index >= len(s.slots):
                options.append(c.Allot(member=_pick(data, members), minutes=data.draw(MINUTES)))
            options += [c.NextStage()] * 4
        elif phase is not None and phase.kind is PhaseKind.BIDDING and len(s.slots) < 3:
            options = [c.Allot(member=_pick(data, members), minutes=data.draw(MINUTES))]
        elif phase is not None and phase.kind is PhaseKind.CLOSE:
            options = [c.CloseMeeting(), c.GotoPhase(phase_id=_phase_id(data, s))]
        else:
            options += [c.NextSpeaker(), c.CallNext(), c.HandOver(member=_pick(data, members))]
        if s.status is not MeetingStatus.CLOSED:
            edit = _pick(data, ["skip_phase", "restore_phase", "move_phase", "add_phase"])
            options.append(BUILDERS[edit](data, s))
        command = data.draw(st.sampled_from(options), label="move")
        who = _pick(data, ["f", "f", s.delegate or "f"])
        self.send(command, self.log.actor(who), self.clock(data), None)

    @rule(data=st.data())
    def member_takes_part(self, data: Draw) -> None:
        s = self.log.state
        others = [p.id for p in s.members() if p.id != s.presenter]
        who = _pick(data, others or ["m1"])
        command: c.AnyCommand = c.RaiseHand()
        if s.stage is Stage.QUESTIONS:
            command = BUILDERS["ask_question"](data, s)
        elif s.stage in (Stage.REFLECTION, Stage.COMMITMENT) and s.presenter:
            who = s.presenter
            kind = _pick(data, ["save_commitment", "star_question"])
            command = BUILDERS[kind](data, s)
        elif s.phase is not None and s.phase.kind is PhaseKind.BIDDING:
            command = BUILDERS["place_bid"](data, s)
        elif data.draw(st.booleans(), label="report back") and s.prior:
            owner = s.prior[0]
            who, command = owner.owner, BUILDERS["report_back"](data, s)
        self.send(command, self.log.actor(who), self.clock(data), None)

    @rule(data=st.data())
    def timer_runs_out(self, data: Draw) -> None:
        timer = self.log.state.timer
        if not timer.running and data.draw(st.booleans(), label="start one"):
            command = _pick(data, ["timer_start", "timer_add", "timer_resume"])
            self.send(
                BUILDERS[command](data, self.log.state), self.log.actor("f"), self.clock(data), None
            )
            timer = self.log.state.timer
        deadline = timer.deadline_ms if timer.deadline_ms is not None else self.log.now
        late = data.draw(st.integers(-1000, 5000), label="ms after deadline")
        now = max(self.log.now, deadline + late)
        self.send(c.TimerElapsed(deadline_ms=deadline), Actor.system(), now, None)

    # Invariants

    @invariant()
    def speaker_is_on_the_roster(self) -> None:
        s = self.log.state
        assert s.speaker is None or s.person(s.speaker) is not None
        assert len(set(s.hands)) == len(s.hands)
        assert all(s.person(h) is not None for h in s.hands)
        assert s.delegate is None or s.person(s.delegate) is not None

    @invariant()
    def timers_never_negative(self) -> None:
        t = self.log.state.timer
        assert t.remaining_ms >= 0 and t.duration_ms >= 0
        assert (t.deadline_ms is not None) == t.running
        assert t.left_ms(self.log.now) >= 0

    @invariant()
    def one_current_phase_and_the_close_last(self) -> None:
        s = self.log.state
        current = [i for i, p in enumerate(s.phases) if p.status is PhaseStatus.CURRENT]
        assert len(current) <= 1
        if s.status is MeetingStatus.LIVE:
            assert current == [s.phase_index]
        else:
            assert current == []
        if s.status is MeetingStatus.NOT_STARTED:
            assert s.phase_index == -1
        kinds = [p.kind for p in s.phases]
        assert kinds[-1] is PhaseKind.CLOSE and kinds.count(PhaseKind.CLOSE) == 1
        assert s.phases[-1].status is not PhaseStatus.SKIPPED
        assert len({p.id for p in s.phases}) == len(s.phases)

    @invariant()
    def turns_are_consistent(self) -> None:
        s = self.log.state
        if s.stage is not None:
            assert s.phase is not None and s.phase.kind is PhaseKind.TURNS
            assert s.presenter is not None
        members = [x.member for x in s.slots]
        assert len(set(members)) == len(members)
        for x in s.slots:
            person = s.person(x.member)
            assert person is not None and person.role is Role.MEMBER

    @invariant()
    def commitments_belong_to_their_presenters(self) -> None:
        s = self.log.state
        assert {x.id: x.owner for x in s.commitments} == self.owners
        for owner in set(self.owners.values()):
            assert sum(1 for x in s.commitments if x.owner == owner) <= MAX_COMMITMENTS_EACH
        for q in s.questions:
            assert q.author is not None and q.text is not None and q.author != q.presenter

    @invariant()
    def notes_are_their_owners_alone(self) -> None:
        s = self.log.state
        assert len({n.id for n in s.notes}) == len(s.notes)
        for viewer in [*(p.id for p in s.roster), None, STRANGER]:
            assert all(n.owner == viewer for n in view(s, viewer).notes)

    @invariant()
    def airtime_adds_up(self) -> None:
        """Nobody's airtime is negative, and all of it fits in the time since the start; the
        count runs only while someone speaks in a live meeting."""
        s = self.log.state
        assert all(ms >= 0 for ms in s.airtime.values())
        assert set(s.airtime) <= {p.id for p in s.roster}
        if s.started_at is None:
            assert not s.airtime and s.airtime_since is None
        else:
            end = s.closed_at if s.closed_at is not None else self.log.now
            assert sum(airtime_at(s, end).values()) <= end - s.started_at
        assert (s.airtime_since is not None) == counting(s)

    @invariant()
    def the_log_replays_to_the_state(self) -> None:
        log = self.log
        assert log.state.seq == len(log.events)
        assert [x.seq for x in log.events] == list(range(1, len(log.events) + 1))
        assert replay(log.meeting_id, log.events) == log.state

    @invariant()
    def the_summary_holds(self) -> None:
        s = self.log.state
        result = summary(s)
        assert len(result.attendance) == len(s.roster)
        assert all(a.present or not a.late for a in result.attendance)
        assert set(result.presenters) <= set(s.slots)


settings.register_profile(
    "engine",
    max_examples=100,
    stateful_step_count=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("engine-thorough", settings.get_profile("engine"), max_examples=2000)

TestMeeting = Meeting.TestCase
TestMeeting.settings = settings.get_profile(os.environ.get("SETROOM_ENGINE_PROFILE", "engine"))
