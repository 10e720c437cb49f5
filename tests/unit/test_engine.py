"""The meeting engine: every command in every phase, then the rules one by one."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import pytest

from app.domain import commands as c
from app.domain import events as e
from app.domain.engine import MAX_COMMITMENTS_EACH, MAX_PHASES, replay
from app.domain.errors import DomainError
from app.domain.model import (
    Actor,
    GrowStage,
    MeetingInfo,
    MeetingState,
    MeetingStatus,
    PhaseKind,
    PhaseStatus,
    ReportStatus,
    Role,
    Settings,
    Stage,
    Timer,
)
from app.domain.templates import DEFAULT_TEMPLATE, PhaseSpec
from app.domain.views import summary
from tests.factories import START_MS, Log, opened, prior_commitment, roster

MIN = 60_000
DAY = 86_400_000

# --- A meeting at every position ---------------------------------------------------------------
#
# Roster: facilitator "f", members m1..m6. m1 and m2 have commitments from the last meeting.
# Plan: p1 check-in, p2 report-back, p3 bidding, p4 turns, p5 process review, p6 check-out,
# an added "Reading" phase (skipped), p7 close. m3 and m4 bid and are allotted slots; m3 presents
# first, m5 asks a question, m3 commits. In every live position m6 has a hand up, and the server
# holds one connection for f and one for m1.

POSITIONS: tuple[str, ...] = (
    "not_started",
    "check_in",
    "report_back",
    "bidding",
    "present",
    "questions",
    "reflection",
    "commitment",
    "process_review",
    "check_out",
    "close_phase",
    "closed",
)
LIVE = POSITIONS[1:-1]
ERROR_CODES = frozenset(
    {"forbidden", "not_now", "invalid", "not_found", "moved_on", "closed", "not_a_question"}
)


def new_meeting(*, members: int = 6, settings: Settings | None = None) -> Log:
    prior = (prior_commitment(owner="m1"), prior_commitment(owner="m2"))
    return Log(opened(people=roster(members=members), settings=settings, prior=prior))


def extra_phase_id(state: MeetingState) -> str:
    return next(p.id for p in state.phases if p.title == "Reading")


def _setup(position: str) -> Log:
    log = new_meeting()
    log.do(c.Join(connection="conn-f", participant="f"), None)
    log.do(c.Join(connection="conn-m1", participant="m1"), None)
    log.do(c.AddPhase(title="Reading", minutes=5), "f")
    log.do(c.SkipPhase(phase_id=extra_phase_id(log.state)), "f")
    steps: list[tuple[str, Callable[[Log], object]]] = [
        ("check_in", lambda g: g.do(c.StartMeeting(), "f")),
        ("report_back", lambda g: g.do(c.NextPhase(), "f")),
        ("bidding", _bidding),
        ("present", lambda g: g.do(c.NextPhase(), "f")),
        ("questions", lambda g: g.do(c.NextStage(), "f")),
        ("reflection", lambda g: g.do(c.NextStage(), "f")),
        ("commitment", lambda g: g.do(c.NextStage(), "f")),
        ("process_review", lambda g: g.do(c.NextPhase(), "f")),
        ("check_out", lambda g: g.do(c.NextPhase(), "f")),
        ("close_phase", lambda g: g.do(c.NextPhase(), "f")),
        ("closed", lambda g: g.do(c.CloseMeeting(), "f")),
    ]
    for name, step in steps:
        if position == "not_started":
            break
        step(log)
        if name == "questions":
            log.do(c.AskQuestion(text="What have you tried so far?"), "m5")
        if name == "reflection":
            log.do(c.SaveCommitment(what="Ask my team for feedback", by_when="May"), "m3")
        if name != "closed" and "m6" not in log.state.hands:
            log.do(c.RaiseHand(), "m6")
        if name == position:
            break
    return log


def _bidding(log: Log) -> None:
    log.do(c.NextPhase(), "f")
    log.do(c.PlaceBid(minutes=10, title="A restructure"), "m3")
    log.do(c.PlaceBid(minutes=15, title="A difficult colleague"), "m4")
    log.do(c.Allot(member="m3"), "f")
    log.do(c.Allot(member="m4"), "f")


@cache
def _built(position: str) -> Log:
    return _setup(position)


def at(position: str) -> Log:
    """A fresh meeting at `position` (built once, forked for each test)."""
    return _built(position).fork()


def test_positions_are_what_they_say() -> None:
    kinds = {
        "check_in": PhaseKind.CHECK_IN,
        "report_back": PhaseKind.REPORT_BACK,
        "bidding": PhaseKind.BIDDING,
        "present": PhaseKind.TURNS,
        "questions": PhaseKind.TURNS,
        "reflection": PhaseKind.TURNS,
        "commitment": PhaseKind.TURNS,
        "process_review": PhaseKind.PROCESS_REVIEW,
        "check_out": PhaseKind.CHECK_OUT,
        "close_phase": PhaseKind.CLOSE,
    }
    assert at("not_started").state.status is MeetingStatus.NOT_STARTED
    assert at("closed").state.status is MeetingStatus.CLOSED
    for position, kind in kinds.items():
        state = at(position).state
        assert state.status is MeetingStatus.LIVE
        assert state.phase is not None and state.phase.kind is kind, position
        assert state.hands == ("m6",)
    for stage in Stage:
        state = at(stage.value).state
        assert state.stage is stage and state.presenter == "m3"


# --- The command matrix ------------------------------------------------------------------------

Made = tuple[c.AnyCommand, Actor | str | None, int | None]


@dataclass(frozen=True)
class Case:
    """One way to send a command, and what it does at each position.

    `expect` maps a position to an error code, or to the event types produced ("a+b")."""

    name: str
    make: Callable[[Log], Made]
    expect: dict[str, str]
    prep: Callable[[Log], object] | None = None
    controller_only: bool = False


def expect(
    live: str, *, not_started: str = "not_now", closed: str = "closed", **at: str
) -> dict[str, str]:
    unknown = set(at) - set(LIVE)
    assert not unknown, unknown
    table = {"not_started": not_started, "closed": closed}
    table.update({p: at.get(p, live) for p in LIVE})
    return table


def only(live_ok: str, positions: tuple[str, ...], otherwise: str = "not_now") -> dict[str, str]:
    return expect(otherwise, **dict.fromkeys(positions, live_ok))


def tolerant(*commands: tuple[c.AnyCommand, str | None]) -> Callable[[Log], None]:
    """A case's preparation: send each command, ignoring refusals (the case then expects them)."""

    def prep(log: Log) -> None:
        for command, who in commands:
            with contextlib.suppress(DomainError):
                log.do(command, who)

    return prep


def question_id(log: Log) -> str:
    return log.state.questions[0].id if log.state.questions else "q-none"


def commitment_id(log: Log) -> str:
    return log.state.commitments[0].id if log.state.commitments else "c-none"


ROUNDS = ("check_in", "report_back", "process_review", "check_out")
TURNS = ("present", "questions", "reflection", "commitment")
FROM_QUESTIONS = (
    "questions",
    "reflection",
    "commitment",
    "process_review",
    "check_out",
    "close_phase",
)
TIMED = LIVE[:-1]  # a countdown runs in every live position but the close phase

CASES: dict[str, list[Case]] = {
    "start_meeting": [
        Case(
            "start",
            lambda g: (c.StartMeeting(), "f", None),
            expect("not_now", not_started="meeting_started+phase_entered"),
            controller_only=True,
        )
    ],
    "next_phase": [
        Case(
            "next",
            lambda g: (c.NextPhase(), "f", None),
            expect("phase_entered", close_phase="not_now"),
            controller_only=True,
        )
    ],
    "goto_phase": [
        Case(
            "goto check-in",
            lambda g: (c.GotoPhase(phase_id="p1"), "f", None),
            expect("phase_entered", check_in="not_now"),
            controller_only=True,
        )
    ],
    "skip_phase": [
        Case(
            "skip check-out",
            lambda g: (c.SkipPhase(phase_id="p6"), "f", None),
            expect(
                "phases_changed",
                not_started="phases_changed",
                check_out="not_now",
                close_phase="not_now",
            ),
            controller_only=True,
        )
    ],
    "restore_phase": [
        Case(
            "restore the skipped reading",
            lambda g: (c.RestorePhase(phase_id=extra_phase_id(g.state)), "f", None),
            expect("phases_changed", not_started="phases_changed", close_phase="not_now"),
            controller_only=True,
        )
    ],
    "move_phase": [
        Case(
            "move reading before check-out",
            lambda g: (c.MovePhase(phase_id=extra_phase_id(g.state), to_index=5), "f", None),
            expect(
                "phases_changed",
                not_started="phases_changed",
                check_out="invalid",
                close_phase="not_now",
            ),
            controller_only=True,
        )
    ],
    "add_phase": [
        Case(
            "add before the close",
            lambda g: (c.AddPhase(title="Appreciations", minutes=3), "f", None),
            expect("phases_changed", not_started="phases_changed", close_phase="invalid"),
            controller_only=True,
        )
    ],
    "set_order": [
        Case(
            "m2 then m1",
            lambda g: (c.SetOrder(order=["m2", "m1"]), "f", None),
            only("order_set", ROUNDS),
            controller_only=True,
        )
    ],
    "next_speaker": [
        Case(
            "next",
            lambda g: (c.NextSpeaker(), "f", None),
            only("speaker_changed", ROUNDS),
            controller_only=True,
        )
    ],
    "set_speaker": [
        Case(
            "m2 speaks",
            lambda g: (c.SetSpeaker(participant="m2"), "f", None),
            expect("speaker_changed"),
            controller_only=True,
        )
    ],
    "next_stage": [
        Case(
            "next",
            lambda g: (c.NextStage(), "f", None),
            only("stage_changed", TURNS),
            controller_only=True,
        )
    ],
    "set_slots": [
        Case(
            "m5 alone",
            lambda g: (c.SetSlots(slots=[c.SlotIn(member="m5", minutes=10)]), "f", None),
            only("slots_set", ("check_in", "report_back", "bidding")),
            controller_only=True,
        )
    ],
    "allot": [
        Case(
            "m5 for 10",
            lambda g: (c.Allot(member="m5", minutes=10), "f", None),
            expect("slots_set"),
            controller_only=True,
        )
    ],
    "unallot": [
        Case(
            "m4",
            lambda g: (c.Unallot(member="m4"), "f", None),
            expect("slots_set", check_in="not_found", report_back="not_found"),
            controller_only=True,
        )
    ],
    "timer_start": [
        Case(
            "a minute",
            lambda g: (c.TimerStart(seconds=60), "f", None),
            expect("timer_changed"),
            controller_only=True,
        )
    ],
    "timer_pause": [
        Case(
            "pause",
            lambda g: (c.TimerPause(), "f", None),
            expect("timer_changed", close_phase="not_now"),
            controller_only=True,
        )
    ],
    "timer_resume": [
        Case(
            "resume a paused timer",
            lambda g: (c.TimerResume(), "f", None),
            expect("timer_changed", close_phase="not_now"),
            prep=tolerant((c.TimerPause(), "f")),
            controller_only=True,
        ),
        Case(
            "resume a running timer",
            lambda g: (c.TimerResume(), "f", None),
            expect("not_now"),
            controller_only=True,
        ),
    ],
    "timer_add": [
        Case(
            "30 s more",
            lambda g: (c.TimerAdd(seconds=30), "f", None),
            expect("timer_changed"),
            controller_only=True,
        )
    ],
    "call_next": [
        Case(
            "m6's hand",
            lambda g: (c.CallNext(), "f", None),
            expect("hand_called"),
            controller_only=True,
        ),
        Case(
            "no hands",
            lambda g: (c.CallNext(), "f", None),
            expect("not_now"),
            prep=tolerant((c.LowerHand(), "m6")),
            controller_only=True,
        ),
    ],
    "flag_advice": [
        Case(
            "flag m5's question",
            lambda g: (c.FlagAdvice(question_id=question_id(g)), "f", None),
            expect(
                "question_flagged",
                check_in="not_found",
                report_back="not_found",
                bidding="not_found",
                present="not_found",
            ),
            controller_only=True,
        )
    ],
    "hand_over": [
        Case(
            "to m2",
            lambda g: (c.HandOver(member="m2"), "f", None),
            expect("controls_handed", not_started="controls_handed"),
            controller_only=True,
        )
    ],
    "take_back": [
        Case(
            "from m2",
            lambda g: (c.TakeBack(), "f", None),
            expect("controls_handed", not_started="controls_handed"),
            prep=tolerant((c.HandOver(member="m2"), "f")),
            controller_only=True,
        ),
        Case(
            "when nobody holds them",
            lambda g: (c.TakeBack(), "f", None),
            expect("not_now", not_started="not_now"),
            controller_only=True,
        ),
    ],
    "close_meeting": [
        Case(
            "close",
            lambda g: (c.CloseMeeting(), "f", None),
            expect("meeting_closed"),
            controller_only=True,
        )
    ],
    "raise_hand": [
        Case("m5", lambda g: (c.RaiseHand(), "m5", None), expect("hand_raised")),
        Case("m6 again", lambda g: (c.RaiseHand(), "m6", None), expect("not_now")),
        Case(
            "the presenter",
            lambda g: (c.RaiseHand(), "m3", None),
            expect("hand_raised", **dict.fromkeys(TURNS, "not_now")),
        ),
    ],
    "lower_hand": [
        Case("own", lambda g: (c.LowerHand(), "m6", None), expect("hand_lowered")),
        Case(
            "someone else's", lambda g: (c.LowerHand(member="m6"), "m5", None), expect("forbidden")
        ),
        Case(
            "by the facilitator",
            lambda g: (c.LowerHand(member="m6"), "f", None),
            expect("hand_lowered"),
        ),
        Case("not raised", lambda g: (c.LowerHand(), "m5", None), expect("not_now")),
    ],
    "ask_question": [
        Case(
            "m5 asks",
            lambda g: (c.AskQuestion(text="What would success look like?"), "m5", None),
            only("question_asked", ("questions",)),
        ),
        Case(
            "the presenter asks",
            lambda g: (c.AskQuestion(text="Why me?"), "m3", None),
            expect("not_now"),
        ),
        Case(
            "m5 gives advice",
            lambda g: (c.AskQuestion(text="You should talk to HR"), "m5", None),
            only("not_a_question", ("questions",)),
        ),
        Case(
            "m5 sends advice as it is",
            lambda g: (c.AskQuestion(text="You should talk to HR", confirmed=True), "m5", None),
            only("question_asked", ("questions",)),
        ),
    ],
    "tag_question": [
        Case(
            "the asker tags their own",
            lambda g: (
                c.TagQuestion(question_id=question_id(g), grow=GrowStage.REALITY),
                "m5",
                None,
            ),
            expect("not_found", **dict.fromkeys(FROM_QUESTIONS, "question_tagged")),
        ),
        Case(
            "another member tags it",
            lambda g: (c.TagQuestion(question_id=question_id(g), grow=GrowStage.GOAL), "m4", None),
            expect("not_found", **dict.fromkeys(FROM_QUESTIONS, "forbidden")),
        ),
        Case(
            "the facilitator tags it",
            lambda g: (c.TagQuestion(question_id=question_id(g), grow=GrowStage.WILL), "f", None),
            expect("not_found", **dict.fromkeys(FROM_QUESTIONS, "question_tagged")),
        ),
    ],
    "save_note": [
        Case(
            "the presenter notes",
            lambda g: (c.SaveNote(text="Nobody asked about the budget"), "m3", None),
            only("note_saved", TURNS),
        ),
        Case(
            "another member notes",
            lambda g: (c.SaveNote(text="A note"), "m5", None),
            expect("not_now", **dict.fromkeys(TURNS, "forbidden")),
        ),
        Case(
            "the facilitator notes",
            lambda g: (c.SaveNote(text="A note"), "f", None),
            expect("not_now", **dict.fromkeys(TURNS, "forbidden")),
        ),
        Case(
            "someone edits a note that is not theirs",
            lambda g: (c.SaveNote(note_id="n1", text="Edited"), "m5", None),
            expect("not_found"),
        ),
    ],
    "star_question": [
        Case(
            "the presenter stars",
            lambda g: (c.StarQuestion(question_id=question_id(g)), "m3", None),
            expect("not_found", **dict.fromkeys(FROM_QUESTIONS, "question_starred")),
        ),
        Case(
            "another member stars",
            lambda g: (c.StarQuestion(question_id=question_id(g)), "m4", None),
            expect("not_found", **dict.fromkeys(FROM_QUESTIONS, "forbidden")),
        ),
    ],
    "place_bid": [
        Case(
            "m5 bids",
            lambda g: (c.PlaceBid(minutes=10, title="My board"), "m5", None),
            only("bid_placed", ("bidding",)),
        )
    ],
    "withdraw_bid": [
        Case(
            "m3 withdraws",
            lambda g: (c.WithdrawBid(), "m3", None),
            only("bid_withdrawn", ("bidding",)),
        ),
        Case(
            "m5 has no bid",
            lambda g: (c.WithdrawBid(), "m5", None),
            only("not_found", ("bidding",)),
        ),
    ],
    "save_commitment": [
        Case(
            "the presenter commits",
            lambda g: (c.SaveCommitment(what="Talk to my director"), "m3", None),
            only("commitment_saved", ("reflection", "commitment")),
        ),
        Case(
            "the facilitator records it",
            lambda g: (c.SaveCommitment(what="Talk to my director"), "f", None),
            only("commitment_saved", ("reflection", "commitment")),
        ),
        Case(
            "another member commits for the presenter",
            lambda g: (c.SaveCommitment(what="Talk to my director"), "m4", None),
            only("forbidden", ("reflection", "commitment")),
        ),
        Case(
            "the owner edits",
            lambda g: (
                c.SaveCommitment(commitment_id=commitment_id(g), what="Talk to the board"),
                "m3",
                None,
            ),
            expect(
                "commitment_saved",
                check_in="not_found",
                report_back="not_found",
                bidding="not_found",
                present="not_found",
                questions="not_found",
            ),
        ),
    ],
    "report_back": [
        Case(
            "m1 on their own",
            lambda g: (c.ReportBack(commitment_id="pc-m1", status=ReportStatus.DONE), "m1", None),
            expect("commitment_reported"),
        ),
        Case(
            "m3 on m1's",
            lambda g: (c.ReportBack(commitment_id="pc-m1", status=ReportStatus.DONE), "m3", None),
            expect("forbidden"),
        ),
        Case(
            "m1 carries their next step as a new commitment",
            lambda g: (
                c.ReportBack(
                    commitment_id="pc-m1",
                    status=ReportStatus.PARTLY,
                    next_step="Ask again",
                    carry=True,
                ),
                "m1",
                None,
            ),
            expect("commitment_reported+commitment_saved"),
        ),
        Case(
            "m1 carries an empty next step",
            lambda g: (
                c.ReportBack(commitment_id="pc-m1", status=ReportStatus.DONE, carry=True),
                "m1",
                None,
            ),
            expect("invalid"),
        ),
    ],
    "join": [
        Case(
            "m4 connects",
            lambda g: (c.Join(connection="conn-m4", participant="m4"), None, None),
            expect("member_joined", not_started="member_joined", closed="member_joined"),
        ),
        Case(
            "a connection id in use",
            lambda g: (c.Join(connection="conn-m1", participant="m4"), None, None),
            expect("invalid", not_started="invalid", closed="invalid"),
        ),
    ],
    "leave": [
        Case(
            "m1 disconnects",
            lambda g: (c.Leave(connection="conn-m1"), None, None),
            expect("member_left", not_started="member_left", closed="member_left"),
        )
    ],
    "lock_meeting": [
        Case(
            "lock",
            lambda g: (c.LockMeeting(), "f", None),
            expect("meeting_locked", not_started="meeting_locked"),
            controller_only=True,
        ),
        Case(
            "unlock what is open",
            lambda g: (c.LockMeeting(locked=False), "f", None),
            expect("not_now"),
            controller_only=True,
        ),
    ],
    "admit": [
        Case(
            "m4, who was not in the room when it locked",
            lambda g: (c.Admit(member="m4"), "f", None),
            expect("member_admitted", not_started="member_admitted"),
            prep=tolerant((c.LockMeeting(), "f")),
            controller_only=True,
        ),
        Case(
            "into an open meeting",
            lambda g: (c.Admit(member="m4"), "f", None),
            expect("not_now"),
            controller_only=True,
        ),
    ],
    "knock": [
        Case(
            "m4 at a locked meeting",
            lambda g: (c.Knock(participant="m4"), None, None),
            expect("member_waiting", not_started="member_waiting"),
            prep=tolerant((c.LockMeeting(), "f")),
        ),
        Case(
            "m4 at an open meeting",
            lambda g: (c.Knock(participant="m4"), None, None),
            expect("not_now"),
        ),
    ],
    "leave_lobby": [
        Case(
            "m4 gives up waiting",
            lambda g: (c.LeaveLobby(participant="m4"), None, None),
            expect("waiting_left", not_started="waiting_left"),
            prep=tolerant((c.LockMeeting(), "f"), (c.Knock(participant="m4"), None)),
        )
    ],
    "revoke_access": [
        Case(
            "m2's link",
            lambda g: (c.RevokeAccess(participant="m2"), None, None),
            expect("access_revoked", not_started="access_revoked", closed="access_revoked"),
        )
    ],
    "set_roster": [
        Case(
            "without the last member",
            lambda g: (c.SetRoster(roster=g.state.roster[:-1]), None, None),
            expect("roster_set", not_started="roster_set"),
        )
    ],
    "reschedule": [
        Case(
            "a new date",
            lambda g: (
                c.Reschedule(scheduled_at=START_MS + 7 * DAY, planned_minutes=150),
                None,
                None,
            ),
            expect("not_now", not_started="meeting_rescheduled", closed="not_now"),
        ),
        Case(
            "the next meeting's date, even after the close",
            lambda g: (
                c.Reschedule(
                    scheduled_at=g.state.info.scheduled_at,
                    planned_minutes=g.state.info.planned_minutes,
                    next_meeting_at=START_MS + 28 * DAY,
                ),
                None,
                None,
            ),
            expect(
                "meeting_rescheduled",
                not_started="meeting_rescheduled",
                closed="meeting_rescheduled",
            ),
        ),
        Case(
            "the dates it already has",
            lambda g: (
                c.Reschedule(
                    scheduled_at=g.state.info.scheduled_at,
                    planned_minutes=g.state.info.planned_minutes,
                ),
                None,
                None,
            ),
            expect("not_now", closed="not_now"),
        ),
    ],
    "timer_elapsed": [
        Case(
            "at the deadline",
            lambda g: (
                c.TimerElapsed(deadline_ms=g.state.timer.deadline_ms or g.now),
                None,
                g.state.timer.deadline_ms or g.now,
            ),
            expect("timer_changed", close_phase="moved_on"),
        ),
        Case(
            "a second before it",
            lambda g: (
                c.TimerElapsed(deadline_ms=g.state.timer.deadline_ms or g.now),
                None,
                (g.state.timer.deadline_ms or g.now) - 1000,
            ),
            expect("not_now", close_phase="moved_on"),
        ),
    ],
}


def matrix(select: Callable[[Case], bool] = lambda case: True) -> list[object]:
    """(command type, case, position) for every case in every position."""
    return [
        pytest.param(kind, case, position, id=f"{kind}[{case.name}]@{position}")
        for kind in c.COMMAND_TYPES
        for case in CASES.get(kind, [])
        if select(case)
        for position in POSITIONS
    ]


MATRIX = matrix()


def test_every_command_type_has_cases() -> None:
    missing = [kind for kind in c.COMMAND_TYPES if not CASES.get(kind)]
    assert not missing, f"add CASES for {missing}"
    assert set(CASES) == set(c.COMMAND_TYPES)
    for kind, cases in CASES.items():
        for case in cases:
            assert set(case.expect) == set(POSITIONS), (kind, case.name)
            for outcome in case.expect.values():
                assert outcome in ERROR_CODES or set(outcome.split("+")) <= set(e.EVENT_TYPES)


def run(log: Log, case: Case, who: Actor | str | None = "") -> tuple[str, DomainError | None]:
    """Send the case's command (as `who` when given) and check the log's bookkeeping."""
    if case.prep is not None:
        case.prep(log)
    command, actor, now = case.make(log)
    if who != "":
        actor = who
    before, count = log.state, len(log.events)
    dumped = before.model_dump()
    try:
        events = log.do(command, actor, now)
    except DomainError as err:
        assert err.code in ERROR_CODES
        assert isinstance(err.message, str) and err.message.strip()
        assert log.state is before and log.state.model_dump() == dumped
        assert len(log.events) == count
        return err.code, err
    assert events and len(log.events) == count + len(events)
    assert [s.seq for s in log.events[count:]] == list(range(before.seq + 1, log.state.seq + 1))
    assert replay(log.meeting_id, log.events) == log.state
    return "+".join(ev.type for ev in events), None


@pytest.mark.parametrize(("kind", "case", "position"), MATRIX)
def test_command_in_position(kind: str, case: Case, position: str) -> None:
    outcome, _ = run(at(position), case)
    assert outcome == case.expect[position]


@pytest.mark.parametrize(("kind", "case", "position"), MATRIX)
def test_strangers_are_refused_everywhere(kind: str, case: Case, position: str) -> None:
    for who in (
        Actor(participant="zz", role=Role.MEMBER),
        Actor(participant="zz", role=Role.FACILITATOR),
        Actor(participant=None, role=Role.MEMBER),
    ):
        assert run(at(position), case, who)[0] == "forbidden"


@pytest.mark.parametrize(("kind", "case", "position"), MATRIX)
def test_commands_are_sent_by_their_proper_sender(kind: str, case: Case, position: str) -> None:
    if kind in c.SYSTEM_COMMANDS:
        # Only the server reports presence and timers, whoever else claims to.
        for who in ("f", "m1"):
            assert run(at(position), case, who)[0] == "forbidden"
    else:
        # The server never acts as a person; nor does a member acting as a facilitator.
        assert run(at(position), case, None)[0] == "forbidden"
        assert run(at(position), case, Actor(participant="m2", role=Role.FACILITATOR))[0] == (
            "forbidden"
        )


CONTROLLER_ONLY = matrix(lambda case: case.controller_only)
BEFORE_START = {
    "start_meeting",
    "skip_phase",
    "restore_phase",
    "move_phase",
    "add_phase",
    "hand_over",
    "take_back",
    "lock_meeting",
    "admit",
}


def test_controller_only_flags_match_the_documented_list() -> None:
    flagged = {kind for kind, cases in CASES.items() if any(x.controller_only for x in cases)}
    assert flagged == {
        *BEFORE_START,
        "next_phase",
        "goto_phase",
        "set_order",
        "next_speaker",
        "set_speaker",
        "next_stage",
        "set_slots",
        "allot",
        "unallot",
        "timer_start",
        "timer_pause",
        "timer_resume",
        "timer_add",
        "call_next",
        "flag_advice",
        "close_meeting",
        "lock_meeting",
        "admit",
    }


@pytest.mark.parametrize(("kind", "case", "position"), CONTROLLER_ONLY)
def test_members_without_the_controls_are_refused(kind: str, case: Case, position: str) -> None:
    # Who may send it is checked first: a member learns nothing of the meeting's position.
    outcome, _ = run(at(position), case, "m2")
    assert outcome == "forbidden"


@pytest.mark.parametrize(("kind", "case", "position"), CONTROLLER_ONLY)
def test_the_delegate_controls_like_a_facilitator(kind: str, case: Case, position: str) -> None:
    if position == "closed":  # the controls were handed over before the close
        log = at("close_phase")
        log.do(c.HandOver(member="m1"), "f")
        log.do(c.CloseMeeting(), "f")
    else:
        log = at(position)
        log.do(c.HandOver(member="m1"), "f")
    outcome, _ = run(log, case, "m1")
    if kind in ("hand_over", "take_back"):
        assert outcome == "forbidden"  # handing the controls on is the facilitator's alone
    else:
        assert outcome == case.expect[position]


# --- Controls ----------------------------------------------------------------------------------


def started(*, members: int = 6, settings: Settings | None = None) -> Log:
    log = new_meeting(members=members, settings=settings)
    log.do(c.StartMeeting(), "f")
    return log


def code_of(log: Log, command: c.AnyCommand, who: Actor | str | None, **kw: int) -> str:
    with pytest.raises(DomainError) as info:
        log.do(command, who, **kw)
    return info.value.code


def test_only_a_controller_moves_phases() -> None:
    log = started()
    assert code_of(log, c.NextPhase(), "m1") == "forbidden"
    assert code_of(log, c.GotoPhase(phase_id="p3"), "m1") == "forbidden"
    log.do(c.HandOver(member="m1"), "f")
    assert log.state.delegate == "m1" and log.state.is_controller("m1")
    log.do(c.NextPhase(), "m1")
    assert log.events[-1].actor == "m1" and log.state.phase_index == 1
    assert code_of(log, c.NextPhase(), "m2") == "forbidden"
    log.do(c.TakeBack(), "f")
    assert log.state.delegate is None
    assert code_of(log, c.NextPhase(), "m1") == "forbidden"
    log.do(c.NextPhase(), "f")


def test_every_facilitator_holds_the_controls() -> None:
    log = Log(opened(people=roster(members=4, facilitators=2)))
    log.do(c.StartMeeting(), "f2")
    log.do(c.NextPhase(), "f")
    log.do(c.HandOver(member="m2"), "f2")
    log.do(c.TakeBack(), "f")
    assert log.state.delegate is None


def test_hand_over_rules() -> None:
    log = started()
    assert code_of(log, c.TakeBack(), "f") == "not_now"
    assert code_of(log, c.HandOver(member="f"), "f") == "invalid"
    assert code_of(log, c.HandOver(member="nobody"), "f") == "not_found"
    assert code_of(log, c.HandOver(member="m1"), "m1") == "forbidden"
    log.do(c.HandOver(member="m1"), "f")
    assert code_of(log, c.HandOver(member="m1"), "f") == "not_now"
    assert code_of(log, c.HandOver(member="m2"), "m1") == "forbidden"
    assert code_of(log, c.TakeBack(), "m1") == "forbidden"
    log.do(c.HandOver(member="m2"), "f")  # straight from one member to another
    assert log.state.delegate == "m2" and not log.state.is_controller("m1")


def test_roles_cannot_be_claimed() -> None:
    log = started()
    assert code_of(log, c.NextPhase(), Actor(participant="m1", role=Role.FACILITATOR)) == (
        "forbidden"
    )
    assert code_of(log, c.RaiseHand(), Actor(participant="f", role=Role.MEMBER)) == "forbidden"


# --- Rounds ------------------------------------------------------------------------------------


def test_check_in_is_a_timed_round_of_members() -> None:
    log = new_meeting(members=3)
    log.do(c.StartMeeting(), "f", START_MS + MIN)
    s = log.state
    assert s.order == ("m1", "m2", "m3") and s.speaker == "m1" and s.turn_index == 0
    assert s.timer == Timer(duration_ms=2 * MIN, running=True, deadline_ms=START_MS + 3 * MIN)
    log.do(c.NextSpeaker(), "f", START_MS + 2 * MIN)
    assert log.state.speaker == "m2"
    assert log.state.timer.deadline_ms == START_MS + 4 * MIN
    log.do(c.NextSpeaker(from_speaker="m2"), "f")
    log.do(c.NextSpeaker(), "f")
    assert log.state.speaker is None and log.state.timer == Timer()
    assert code_of(log, c.NextSpeaker(), "f") == "not_now"


def test_next_speaker_from_a_stale_speaker_is_moved_on() -> None:
    log = started()
    assert code_of(log, c.NextSpeaker(from_speaker="m2"), "f") == "moved_on"


def test_set_order_rules() -> None:
    log = started()
    assert code_of(log, c.SetOrder(order=[]), "f") == "invalid"
    assert code_of(log, c.SetOrder(order=["m2", "m2"]), "f") == "invalid"
    assert code_of(log, c.SetOrder(order=["m2", "zz"]), "f") == "not_found"
    log.do(c.SetOrder(order=["m3", "m1", "m2"]), "f")  # nobody has finished: start over
    assert log.state.speaker == "m3" and log.state.turn_index == 0
    log.do(c.NextSpeaker(), "f")
    log.do(c.SetOrder(order=["m2", "m3", "m1"]), "f")  # mid-round, m1 keeps the floor
    assert log.state.speaker == "m1" and log.state.turn_index == 2
    log.do(c.SetOrder(order=["m4", "m5"]), "f")  # m1 is out: the new order starts over
    assert log.state.speaker == "m4" and log.state.turn_index == 0
    log.do(c.SetOrder(order="m6, m5"), "f")  # a form sends a comma-separated list
    assert log.state.order == ("m6", "m5")
    assert code_of(log, c.SetSpeaker(participant="zz"), "f") == "not_found"
    log.do(c.SetSpeaker(participant="m5"), "f")
    assert log.state.speaker == "m5" and log.state.turn_index == 1


def test_report_back_round_is_those_with_commitments() -> None:
    log = at("report_back")
    assert log.state.order == ("m1", "m2") and log.state.speaker == "m1"
    assert log.state.timer.duration_ms == 4 * MIN
    bare = Log(opened(people=roster(members=3)))  # no prior commitments: an empty round
    bare.do(c.StartMeeting(), "f")
    bare.do(c.NextPhase(), "f")
    assert bare.state.order == () and bare.state.speaker is None
    assert bare.state.timer == Timer()


# --- Bids, slots and presenter turns -----------------------------------------------------------


def test_bids_and_allotment() -> None:
    log = at("report_back")
    assert code_of(log, c.PlaceBid(minutes=5, title="x"), "m3") == "not_now"
    log.do(c.NextPhase(), "f")
    assert code_of(log, c.PlaceBid(minutes=5, title="x"), "f") == "invalid"
    log.do(c.PlaceBid(minutes=5, title="First"), "m3")
    log.do(c.PlaceBid(minutes=10, title="Other"), "m4")
    log.do(c.PlaceBid(minutes=20, title="Second thoughts"), "m3")  # a new bid replaces the old
    assert [(b.member, b.minutes) for b in log.state.bids] == [("m4", 10), ("m3", 20)]
    log.do(c.WithdrawBid(), "m4")
    assert code_of(log, c.WithdrawBid(), "m4") == "not_found"
    assert code_of(log, c.Allot(member="m4"), "f") == "invalid"  # no bid, no minutes
    log.do(c.Allot(member="m3"), "f")
    log.do(c.Allot(member="m4", minutes=12), "f")
    assert [(s.member, s.minutes, s.title) for s in log.state.slots] == [
        ("m3", 20, "Second thoughts"),
        ("m4", 12, ""),
    ]
    assert code_of(log, c.Allot(member="m3"), "f") == "invalid"
    assert code_of(log, c.Allot(member="f", minutes=5), "f") == "invalid"
    assert code_of(log, c.Allot(member="zz", minutes=5), "f") == "not_found"
    assert code_of(log, c.Allot(member="m5", minutes=5), "m5") == "forbidden"
    slots = [c.SlotIn(member="m5", minutes=5), c.SlotIn(member="m5", minutes=6)]
    assert code_of(log, c.SetSlots(slots=slots), "f") == "invalid"
    log.do(c.SetSlots(slots=[c.SlotIn(member="m5", minutes=5, title="Mine")]), "f")
    assert [s.member for s in log.state.slots] == ["m5"]


def test_presenter_turn_goes_through_its_stages() -> None:
    log = at("bidding")
    log.do(c.NextPhase(), "f", log.now + 1000)
    s = log.state
    assert (s.presenter, s.stage, s.speaker) == ("m3", Stage.PRESENT, "m3")
    assert s.timer.duration_ms == 10 * MIN and s.hands == ()
    log.do(c.RaiseHand(), "m5")
    log.do(c.NextStage(from_stage="0:present"), "f")
    assert (log.state.stage, log.state.speaker, log.state.hands) == (Stage.QUESTIONS, None, ("m5",))
    assert log.state.timer == s.timer  # the slot's time runs on through the turn
    assert code_of(log, c.NextStage(from_stage="0:present"), "f") == "moved_on"
    log.do(c.NextStage(), "f")
    assert (log.state.stage, log.state.speaker, log.state.hands) == (Stage.REFLECTION, "m3", ())
    log.do(c.NextStage(), "f")
    assert log.state.stage is Stage.COMMITMENT
    log.do(c.NextStage(from_stage="0:commitment"), "f")
    s = log.state
    assert (s.presenter, s.stage, s.speaker, s.presenter_index) == ("m4", Stage.PRESENT, "m4", 1)
    assert s.timer.duration_ms == 15 * MIN
    for _ in range(4):
        log.do(c.NextStage(), "f")
    assert log.state.stage is None and log.state.presenter is None and log.state.speaker is None
    assert code_of(log, c.NextStage(), "f") == "not_now"
    log.do(c.Allot(member="m5", minutes=5), "f")  # a late addition still gets a turn
    log.do(c.NextStage(), "f")
    assert log.state.presenter == "m5"


def test_turns_wait_for_slots() -> None:
    log = at("report_back")
    log.do(c.NextPhase(), "f")
    log.do(c.NextPhase(), "f")
    assert log.state.stage is None and log.state.presenter_index == -1
    assert code_of(log, c.NextStage(), "f") == "not_now"
    log.do(c.Allot(member="m2", minutes=5), "f")
    log.do(c.NextStage(), "f")
    assert log.state.presenter == "m2" and log.state.stage is Stage.PRESENT


def test_slots_of_begun_turns_stay() -> None:
    log = at("questions")
    assert code_of(log, c.Unallot(member="m3"), "f") == "not_now"
    assert code_of(log, c.SetSlots(slots=[]), "f") == "not_now"
    log.do(c.Unallot(member="m4"), "f")
    assert code_of(log, c.Unallot(member="m4"), "f") == "not_found"


def test_a_late_slot_can_be_withdrawn_before_its_turn() -> None:
    log = at("commitment")
    log.do(c.NextStage(), "f")  # m4 presents
    for _ in range(4):
        log.do(c.NextStage(), "f")  # every turn is over
    log.do(c.Allot(member="m5", minutes=5), "f")
    log.do(c.Unallot(member="m5"), "f")
    assert [s.member for s in log.state.slots] == ["m3", "m4"]


# --- Hands -------------------------------------------------------------------------------------


def test_hands_queue_in_order_and_call_next_gives_the_floor() -> None:
    log = started()
    for member in ("m3", "m1", "m2"):
        log.do(c.RaiseHand(), member)
    assert list(log.state.hands) == ["m3", "m1", "m2"]
    assert code_of(log, c.RaiseHand(), "m1") == "not_now"
    assert code_of(log, c.CallNext(), "m4") == "forbidden"
    log.do(c.CallNext(), "f")
    assert log.state.speaker == "m3" and list(log.state.hands) == ["m1", "m2"]
    log.do(c.LowerHand(), "m1")
    assert code_of(log, c.LowerHand(), "m1") == "not_now"
    assert code_of(log, c.LowerHand(member="m2"), "m4") == "forbidden"
    log.do(c.RaiseHand(), "m1")
    assert list(log.state.hands) == ["m2", "m1"]  # back of the queue
    log.do(c.CallNext(), "f")
    assert log.state.speaker == "m2"
    log.do(c.LowerHand(member="m1"), "f")
    assert not log.state.hands
    assert code_of(log, c.CallNext(), "f") == "not_now"


def test_hands_clear_when_the_phase_changes() -> None:
    log = started()
    log.do(c.RaiseHand(), "m2")
    log.do(c.NextPhase(), "f")
    assert log.state.hands == ()


# --- Questions ---------------------------------------------------------------------------------


def test_questions_only_in_the_questions_stage_and_not_by_the_presenter() -> None:
    log = at("present")
    assert code_of(log, c.AskQuestion(text="Why?"), "m5") == "not_now"
    log.do(c.NextStage(), "f")
    assert code_of(log, c.AskQuestion(text="Why?"), "m3") == "not_now"
    log.do(c.AskQuestion(text="Why?"), "m5", 42 + log.now)
    log.do(c.AskQuestion(text="What else?", anonymous=True), "m4")
    log.do(c.AskQuestion(text="And you?"), "f")
    first, second, third = log.state.questions
    assert (first.presenter, first.author, first.anonymous, first.text) == (
        "m3",
        "m5",
        False,
        "Why?",
    )
    assert second.anonymous and second.author == "m4"  # the full state knows; views hide it
    assert len({first.id, second.id, third.id}) == 3
    log.do(c.NextStage(), "f")
    assert code_of(log, c.AskQuestion(text="Late?"), "m5") == "not_now"


def test_anonymous_questions_refused_when_the_set_disallows_them() -> None:
    log = started(settings=Settings(anonymous_questions=False))
    log.do(c.NextPhase(), "f")
    log.do(c.NextPhase(), "f")
    log.do(c.Allot(member="m1", minutes=5), "f")
    log.do(c.NextPhase(), "f")
    log.do(c.NextStage(), "f")
    assert code_of(log, c.AskQuestion(text="Psst", anonymous=True), "m2") == "invalid"
    log.do(c.AskQuestion(text="Out loud", confirmed=True), "m2")


def test_only_the_presenter_stars() -> None:
    log = at("questions")
    qid = log.state.questions[0].id
    assert code_of(log, c.StarQuestion(question_id=qid), "f") == "forbidden"
    assert code_of(log, c.StarQuestion(question_id=qid), "m5") == "forbidden"
    assert code_of(log, c.StarQuestion(question_id=qid, starred=False), "m3") == "not_now"
    assert code_of(log, c.StarQuestion(question_id="q-nope"), "m3") == "not_found"
    log.do(c.NextStage(), "f")  # the presenter may keep questions after the stage too
    log.do(c.StarQuestion(question_id=qid), "m3")
    assert log.state.questions[0].starred
    assert code_of(log, c.StarQuestion(question_id=qid), "m3") == "not_now"
    log.do(c.StarQuestion(question_id=qid, starred=False), "m3")
    assert not log.state.questions[0].starred


def test_controller_flags_advice() -> None:
    log = at("questions")
    qid = log.state.questions[0].id
    assert code_of(log, c.FlagAdvice(question_id=qid), "m3") == "forbidden"
    assert code_of(log, c.FlagAdvice(question_id="q-nope"), "f") == "not_found"
    log.do(c.FlagAdvice(question_id=qid), "f")
    assert log.state.questions[0].advice
    assert code_of(log, c.FlagAdvice(question_id=qid), "f") == "not_now"
    log.do(c.HandOver(member="m1"), "f")
    log.do(c.FlagAdvice(question_id=qid, flagged=False), "m1")
    assert not log.state.questions[0].advice


# --- Commitments and report-back ---------------------------------------------------------------


def test_commitments_belong_to_the_presenter() -> None:
    log = at("present")
    what = c.SaveCommitment(what="Ask for help")
    assert code_of(log, what, "m3") == "not_now"
    log.do(c.NextStage(), "f")
    assert code_of(log, what, "m3") == "not_now"
    log.do(c.NextStage(), "f")
    log.do(what, "m3")
    log.do(c.SaveCommitment(what="Recorded for m3", by_when="June"), "f")
    assert code_of(log, what, "m4") == "forbidden"
    assert [(x.owner, x.what) for x in log.state.commitments] == [
        ("m3", "Ask for help"),
        ("m3", "Recorded for m3"),
    ]
    log.do(c.NextStage(), "f")
    log.do(c.NextStage(), "f")  # m4 presents now
    log.do(c.NextStage(), "f")
    log.do(c.NextStage(), "f")
    log.do(c.SaveCommitment(what="Mine"), "m4")
    assert log.state.commitments[-1].owner == "m4"


def test_commitments_are_editable_until_the_close() -> None:
    log = at("reflection")
    cid = log.state.commitments[0].id
    log.do(c.NextPhase(), "f")  # process review: the turn is over, the commitment stays editable
    log.do(c.SaveCommitment(commitment_id=cid, what="Sharper", how_know="Minutes say so"), "m3")
    assert code_of(log, c.SaveCommitment(commitment_id=cid, what="Mine now"), "m4") == "forbidden"
    assert code_of(log, c.SaveCommitment(commitment_id="c-nope", what="x"), "m3") == "not_found"
    log.do(
        c.SaveCommitment(commitment_id=cid, what="Facilitator's wording", support="A mentor"), "f"
    )
    (only_one,) = log.state.commitments
    assert (only_one.id, only_one.owner, only_one.what) == (cid, "m3", "Facilitator's wording")
    assert only_one.support == "A mentor" and only_one.how_know == ""
    log.do(c.CloseMeeting(), "f")
    assert code_of(log, c.SaveCommitment(commitment_id=cid, what="Too late"), "m3") == "closed"
    assert code_of(log, c.SaveCommitment(commitment_id=cid, what="Too late"), "f") == "closed"


def test_a_presenter_makes_a_bounded_number_of_commitments() -> None:
    log = at("commitment")
    for i in range(MAX_COMMITMENTS_EACH - 1):
        log.do(c.SaveCommitment(what=f"Step {i}"), "m3")
    assert code_of(log, c.SaveCommitment(what="One too many"), "m3") == "invalid"


def test_report_back_on_prior_commitments() -> None:
    log = at("report_back")
    assert code_of(log, c.ReportBack(commitment_id="nope", status="done"), "m1") == "not_found"
    assert code_of(log, c.ReportBack(commitment_id="pc-m1", status="done"), "m2") == "forbidden"
    log.do(c.ReportBack(commitment_id="pc-m1", status="partly", learned="It takes time"), "m1")
    log.do(c.ReportBack(commitment_id="pc-m2", status="changed", next_step="Try again"), "f")
    m1, m2 = log.state.prior
    assert (m1.status, m1.learned) == (ReportStatus.PARTLY, "It takes time")
    assert (m2.status, m2.next_step) == (ReportStatus.CHANGED, "Try again")
    log.do(c.ReportBack(commitment_id="pc-m1", status="done"), "m1")  # a correction
    assert log.state.prior[0].status is ReportStatus.DONE and log.state.prior[0].learned == ""
    before = new_meeting()
    assert code_of(before, c.ReportBack(commitment_id="pc-m1", status="done"), "m1") == "not_now"


def test_a_next_step_carried_becomes_a_commitment_of_this_meeting() -> None:
    log = at("report_back")
    events = log.do(
        c.ReportBack(
            commitment_id="pc-m1", status="partly", next_step="Ask my manager", carry=True
        ),
        "m1",
    )
    assert [ev.type for ev in events] == ["commitment_reported", "commitment_saved"]
    (carried,) = log.state.commitments
    assert (carried.owner, carried.what, carried.carried_from) == ("m1", "Ask my manager", "pc-m1")
    assert log.state.prior[0].next_step == "Ask my manager"
    # Saving the report again edits the carried commitment rather than adding a second.
    log.do(c.SaveCommitment(commitment_id=carried.id, what="x", by_when="June"), "m1")
    log.do(
        c.ReportBack(commitment_id="pc-m1", status="partly", next_step="Ask HR", carry=True), "m1"
    )
    (again,) = log.state.commitments
    assert (again.id, again.what, again.by_when) == (carried.id, "Ask HR", "June")
    # Without carry, the report alone changes; what was carried stays.
    log.do(c.ReportBack(commitment_id="pc-m1", status="done", next_step="Rest"), "m1")
    assert log.state.commitments == (again,)
    # A facilitator may carry it for the member; the member owns it.
    log.do(
        c.ReportBack(commitment_id="pc-m2", status="changed", next_step="Pilot", carry=True), "f"
    )
    assert [x.owner for x in log.state.commitments] == ["m1", "m2"]
    assert code_of(log, c.ReportBack(commitment_id="pc-m2", status="done", carry=True), "m2") == (
        "invalid"
    )
    # It is one of the meeting's commitments: the summary and the next meeting see it.
    log.do(c.NextPhase(), "f")
    assert {x.owner for x in summary(log.state).commitments} == {"m1", "m2"}


def test_the_presenting_spread_follows_earlier_meetings_and_begun_turns() -> None:
    first = opened(people=roster(members=4))
    log = Log(first.model_copy(update={"presented_before": ("m2",)}))
    assert log.state.presented_before == ("m2",)
    assert [p.id for p in log.state.not_presented()] == ["m1", "m3", "m4"]
    log.do(c.StartMeeting(), "f")
    log.do(c.NextPhase(), "f")
    log.do(c.NextPhase(), "f")
    assert log.state.phase is not None and log.state.phase.kind is PhaseKind.BIDDING
    log.do(c.Allot(member="m3", minutes=10), "f")
    assert [p.id for p in log.state.not_presented()] == ["m1", "m3", "m4"]
    log.do(c.NextPhase(), "f")
    assert [p.id for p in log.state.not_presented()] == ["m1", "m4"]


# --- Timers ------------------------------------------------------------------------------------


def timed() -> tuple[Log, int]:
    """A meeting in check-in whose 2-minute countdown started at T."""
    log = new_meeting()
    t = START_MS + MIN
    log.do(c.StartMeeting(), "f", t)
    return log, t


def test_timer_pause_resume_add() -> None:
    log, t = timed()
    log.do(c.TimerPause(), "f", t + 30_000)
    assert log.state.timer == Timer(duration_ms=2 * MIN, remaining_ms=90_000)
    assert code_of(log, c.TimerPause(), "f") == "not_now"
    log.do(c.TimerAdd(seconds=30), "f", t + 40_000)
    assert log.state.timer == Timer(duration_ms=150_000, remaining_ms=120_000)
    log.do(c.TimerResume(), "f", t + 50_000)
    assert log.state.timer == Timer(duration_ms=150_000, running=True, deadline_ms=t + 170_000)
    assert code_of(log, c.TimerResume(), "f") == "not_now"
    log.do(c.TimerAdd(seconds=10), "f", t + 60_000)
    assert log.state.timer.deadline_ms == t + 180_000 and log.state.timer.duration_ms == 160_000
    log.do(c.TimerStart(seconds=5), "f", t + 70_000)
    assert log.state.timer == Timer(duration_ms=5000, running=True, deadline_ms=t + 75_000)
    assert code_of(log, c.TimerStart(seconds=5), "m1") == "forbidden"


def test_timer_add_with_no_timer_starts_one() -> None:
    log = at("close_phase")
    assert log.state.timer == Timer()
    log.do(c.TimerAdd(seconds=60), "f", log.now + 1)
    assert log.state.timer == Timer(duration_ms=MIN, running=True, deadline_ms=log.now + MIN)


def test_timer_elapses_once_at_or_after_its_own_deadline() -> None:
    log, t = timed()
    deadline = t + 2 * MIN
    assert log.state.timer.deadline_ms == deadline
    assert code_of(log, c.TimerElapsed(deadline_ms=deadline), None, now=deadline - 1) == "not_now"
    stale = c.TimerElapsed(deadline_ms=deadline - 5)
    assert code_of(log, stale, None, now=deadline + 5) == "moved_on"
    assert code_of(log, c.TimerElapsed(deadline_ms=deadline), "f", now=deadline) == "forbidden"
    log.do(c.TimerElapsed(deadline_ms=deadline), None, deadline)
    assert log.state.timer == Timer(duration_ms=2 * MIN, elapsed=True)
    assert log.events[-1].event == e.TimerChanged(action="elapsed", timer=log.state.timer)
    again = c.TimerElapsed(deadline_ms=deadline)
    assert code_of(log, again, None, now=deadline + 1000) == "moved_on"


def test_an_extended_or_paused_timer_does_not_elapse_at_its_old_deadline() -> None:
    log, t = timed()
    old = t + 2 * MIN
    log.do(c.TimerAdd(seconds=60), "f", t + 1000)
    assert code_of(log, c.TimerElapsed(deadline_ms=old), None, now=old) == "moved_on"
    new = log.state.timer.deadline_ms
    assert new == old + MIN
    log.do(c.TimerPause(), "f", t + 2000)
    assert code_of(log, c.TimerElapsed(deadline_ms=new), None, now=new) == "moved_on"
    log.do(c.TimerResume(), "f", t + 3000)
    assert log.state.timer.deadline_ms == new + 1000
    log.do(c.TimerElapsed(deadline_ms=new + 1000), None, new + 2000)
    assert log.state.timer.elapsed


def test_timers_never_go_negative() -> None:
    log, t = timed()
    late = t + 10 * MIN
    assert log.state.timer.left_ms(late) == 0
    log.do(c.TimerPause(), "f", late)
    assert log.state.timer.remaining_ms == 0 and not log.state.timer.running
    assert code_of(log, c.TimerResume(), "f") == "not_now"
    log.do(c.TimerAdd(seconds=1), "f", late + 1)
    assert log.state.timer == Timer(duration_ms=1000, running=True, deadline_ms=late + 1001)


def test_a_new_phase_starts_its_own_timer() -> None:
    log, t = timed()
    log.do(c.NextPhase(), "f", t + 10_000)
    log.do(c.NextPhase(), "f", t + 20_000)  # bidding: 5 minutes for the whole phase
    assert log.state.timer == Timer(duration_ms=5 * MIN, running=True, deadline_ms=t + 320_000)


# --- Moving on ---------------------------------------------------------------------------------


def test_expect_seq_must_be_the_current_sequence() -> None:
    log = started()
    seq = log.state.seq
    assert code_of(log, c.RaiseHand(), "m1", expect_seq=seq - 1) == "moved_on"
    assert code_of(log, c.RaiseHand(), "m1", expect_seq=seq + 1) == "moved_on"
    log.do(c.RaiseHand(), "m1", expect_seq=seq)


def test_next_phase_from_a_stale_phase_is_moved_on() -> None:
    log = started()
    log.do(c.NextPhase(from_phase="p1"), "f")
    assert code_of(log, c.NextPhase(from_phase="p1"), "f") == "moved_on"  # a double click
    assert log.state.phase is not None and log.state.phase.id == "p2"


# --- The plan of phases ------------------------------------------------------------------------


def statuses(state: MeetingState) -> list[tuple[str, str]]:
    return [(p.id, p.status.value) for p in state.phases]


def assert_close_is_last(state: MeetingState) -> None:
    kinds = [p.kind for p in state.phases]
    assert kinds[-1] is PhaseKind.CLOSE and kinds.count(PhaseKind.CLOSE) == 1


def test_skipped_phases_are_passed_over() -> None:
    log = new_meeting()
    log.do(c.SkipPhase(phase_id="p1"), "f")
    log.do(c.SkipPhase(phase_id="p3"), "f")
    assert code_of(log, c.SkipPhase(phase_id="p3"), "f") == "not_now"
    assert code_of(log, c.SkipPhase(phase_id="p7"), "f") == "invalid"
    assert code_of(log, c.SkipPhase(phase_id="p99"), "f") == "not_found"
    assert code_of(log, c.RestorePhase(phase_id="p2"), "f") == "not_now"
    log.do(c.StartMeeting(), "f")
    assert log.state.phase is not None and log.state.phase.id == "p2"
    log.do(c.NextPhase(), "f")
    assert log.state.phase.id == "p4"
    assert code_of(log, c.RestorePhase(phase_id="p3"), "f") == "not_now"  # behind us now
    assert code_of(log, c.SkipPhase(phase_id="p4"), "f") == "not_now"
    log.do(c.SkipPhase(phase_id="p5"), "f")
    log.do(c.RestorePhase(phase_id="p5"), "f")
    log.do(c.NextPhase(), "f")
    assert log.state.phase.id == "p5"
    assert statuses(log.state) == [
        ("p1", "skipped"),
        ("p2", "done"),
        ("p3", "skipped"),
        ("p4", "done"),
        ("p5", "current"),
        ("p6", "pending"),
        ("p7", "pending"),
    ]


def test_only_future_phases_move_and_the_close_stays_last() -> None:
    log = started()
    assert code_of(log, c.MovePhase(phase_id="p1", to_index=3), "f") == "not_now"
    assert code_of(log, c.MovePhase(phase_id="p7", to_index=2), "f") == "invalid"
    assert code_of(log, c.MovePhase(phase_id="p3", to_index=6), "f") == "invalid"
    assert code_of(log, c.MovePhase(phase_id="p3", to_index=0), "f") == "invalid"
    assert code_of(log, c.MovePhase(phase_id="p3", to_index=2), "f") == "not_now"
    log.do(c.MovePhase(phase_id="p3", to_index=5), "f")
    assert [p.id for p in log.state.phases] == ["p1", "p2", "p4", "p5", "p6", "p3", "p7"]
    log.do(c.MovePhase(phase_id="p6", to_index=1), "f")
    assert [p.id for p in log.state.phases] == ["p1", "p6", "p2", "p4", "p5", "p3", "p7"]
    assert_close_is_last(log.state)
    log.do(c.NextPhase(), "f")
    assert log.state.phase is not None and log.state.phase.id == "p6"


def test_added_phases_go_after_the_current_one_and_before_the_close() -> None:
    log = started()
    log.do(c.AddPhase(title="Warm-up", minutes=3, at_index=1), "f")
    log.do(c.AddPhase(kind=PhaseKind.PROCESS_REVIEW, title="Second review"), "f")
    ids = [p.id for p in log.state.phases]
    assert ids[1].startswith("x") and ids[-2].startswith("x") and ids[-1] == "p7"
    assert len(set(ids)) == len(ids)
    assert code_of(log, c.AddPhase(title="Before", at_index=0), "f") == "invalid"
    assert code_of(log, c.AddPhase(title="After close", at_index=9), "f") == "invalid"
    assert code_of(log, c.AddPhase(kind=PhaseKind.CLOSE, title="Another close"), "f") == "invalid"
    assert code_of(log, c.AddPhase(title="Members cannot"), "m1") == "forbidden"
    log.do(c.NextPhase(), "f")
    assert log.state.phase is not None and log.state.phase.title == "Warm-up"
    assert log.state.timer.duration_ms == 3 * MIN
    while len(log.state.phases) < MAX_PHASES:
        log.do(c.AddPhase(title="More"), "f")
    assert code_of(log, c.AddPhase(title="Too many"), "f") == "invalid"
    assert_close_is_last(log.state)


def test_goto_re_enters_a_phase() -> None:
    log = at("bidding")
    log.do(c.GotoPhase(phase_id="p1"), "f")
    s = log.state
    assert s.phase is not None and s.phase.kind is PhaseKind.CHECK_IN and s.speaker == "m1"
    assert [p.status for p in s.phases].count(PhaseStatus.CURRENT) == 1
    assert s.phases[2].status is PhaseStatus.DONE
    assert code_of(log, c.GotoPhase(phase_id="p1"), "f") == "not_now"
    assert code_of(log, c.GotoPhase(phase_id="zz"), "f") == "not_found"
    log.do(c.NextPhase(), "f")  # report-back and bidding are done: on to the turns
    assert log.state.phase is not None and log.state.phase.kind is PhaseKind.TURNS


def test_a_template_without_a_close_gets_one() -> None:
    template = (PhaseSpec(kind=PhaseKind.CUSTOM, title="Only", minutes=5),)
    log = Log(opened(template=template))
    assert [p.kind for p in log.state.phases] == [PhaseKind.CUSTOM, PhaseKind.CLOSE]
    doubled = Log(opened(template=DEFAULT_TEMPLATE + DEFAULT_TEMPLATE[-1:]))
    assert_close_is_last(doubled.state)


# --- Start and close ---------------------------------------------------------------------------


def test_before_the_start_only_preparation() -> None:
    log = new_meeting()
    assert code_of(log, c.RaiseHand(), "m1") == "not_now"
    assert code_of(log, c.TimerStart(seconds=5), "f") == "not_now"
    assert code_of(log, c.StartMeeting(), "m1") == "forbidden"
    log.do(c.StartMeeting(), "f", START_MS + 5)
    assert log.state.status is MeetingStatus.LIVE and log.state.started_at == START_MS + 5
    assert code_of(log, c.StartMeeting(), "f") == "not_now"


def test_close_ends_everything_but_presence() -> None:
    log = at("questions")
    log.do(c.CloseMeeting(), "f", log.now + 5)
    s = log.state
    assert s.status is MeetingStatus.CLOSED and s.closed_at == log.now
    assert s.timer == Timer() and s.speaker is None and s.hands == () and s.stage is None
    assert PhaseStatus.CURRENT not in [p.status for p in s.phases]
    for command in (
        c.NextPhase(),
        c.CloseMeeting(),
        c.TimerAdd(seconds=5),
        c.HandOver(member="m1"),
    ):
        assert code_of(log, command, "f") == "closed"
    assert code_of(log, c.RaiseHand(), "m1") == "closed"
    assert "m1" in s.online
    log.do(c.Leave(connection="conn-m1"), None)
    assert "m1" not in log.state.online


# --- Presence ----------------------------------------------------------------------------------


def test_presence() -> None:
    log = new_meeting()
    log.do(c.Join(connection="a", participant="m1"), None, START_MS + 10)
    log.do(c.Join(connection="b", participant="m1"), None, START_MS + 20)  # a second tab
    assert code_of(log, c.Join(connection="a", participant="m2"), None) == "invalid"
    assert code_of(log, c.Join(connection="z", participant="zz"), None) == "forbidden"
    log.do(c.Leave(connection="a"), None)
    assert log.state.online == frozenset({"m1"})
    log.do(c.Leave(connection="b"), None)
    assert log.state.online == frozenset()
    assert code_of(log, c.Leave(connection="b"), None) == "not_found"
    assert log.state.first_seen == {"m1": START_MS + 10}


# --- Replay and the summary --------------------------------------------------------------------


def test_replay_rebuilds_the_state() -> None:
    for position in POSITIONS:
        log = at(position)
        assert replay(log.meeting_id, log.events) == log.state
        assert log.state.seq == len(log.events)


def golden() -> Log:
    """Five members; m1 early, m2 at the late threshold, m3 after it, m4 never; two turns."""
    info = MeetingInfo(title="Meeting 3", next_meeting_at=START_MS + 30 * 24 * 60 * MIN)
    prior = (prior_commitment(owner="m1"), prior_commitment(owner="m5"))
    log = Log(opened(people=roster(members=5), prior=prior, info=info))
    t0 = START_MS + 5 * MIN
    log.do(c.Join(connection="f1", participant="f"), None, START_MS)
    log.do(c.Join(connection="a", participant="m1"), None, START_MS + 1)
    log.do(c.StartMeeting(), "f", t0)
    log.do(c.Join(connection="b", participant="m2"), None, t0 + 10 * MIN)
    log.do(c.Join(connection="c", participant="m3"), None, t0 + 10 * MIN + 1)
    log.do(c.Join(connection="d", participant="m5"), None, t0 + 11 * MIN)
    log.do(c.NextPhase(), "f")
    log.do(c.ReportBack(commitment_id="pc-m1", status="done"), "m1")
    log.do(c.NextPhase(), "f")
    log.do(c.PlaceBid(minutes=10, title="Budget"), "m2")
    log.do(c.Allot(member="m2"), "f")
    log.do(c.Allot(member="m3", minutes=5), "f")
    log.do(c.Allot(member="m5", minutes=5), "f")
    log.do(c.NextPhase(), "f")
    for stage in ("present", "questions", "reflection"):
        log.do(c.NextStage(from_stage=f"0:{stage}"), "f")
    log.do(c.SaveCommitment(what="Cut one meeting a week", by_when="March"), "m2")
    for _ in range(4):
        log.do(c.NextStage(), "f")
    log.do(c.SaveCommitment(what="Call the regulator"), "f")
    log.do(c.NextPhase(), "f")  # m5 never got their turn
    return log


def test_summary() -> None:
    log = golden()
    log.do(c.CloseMeeting(), "f")
    s = summary(log.state)
    assert s.title == "Meeting 3" and s.next_meeting_at == log.state.info.next_meeting_at
    assert s.started_at == START_MS + 5 * MIN and s.closed_at == log.now
    by_id = {a.participant.id: (a.present, a.late) for a in s.attendance}
    assert by_id == {
        "f": (True, False),
        "m1": (True, False),
        "m2": (True, False),
        "m3": (True, True),
        "m4": (False, False),
        "m5": (True, True),
    }
    assert [p.member for p in s.presenters] == ["m2", "m3"]
    assert [(x.owner, x.what) for x in s.commitments] == [
        ("m2", "Cut one meeting a week"),
        ("m3", "Call the regulator"),
    ]
    assert [(p.id, p.status) for p in s.reported] == [("pc-m1", ReportStatus.DONE)]


def test_summary_late_threshold_follows_the_set() -> None:
    log = Log(opened(people=roster(members=2), settings=Settings(late_after_minutes=0)))
    log.do(c.StartMeeting(), "f", START_MS)
    log.do(c.Join(connection="a", participant="m1"), None, START_MS)
    log.do(c.Join(connection="b", participant="m2"), None, START_MS + 1)
    lateness = {a.participant.id: a.late for a in summary(log.state).attendance}
    assert lateness == {"f": False, "m1": False, "m2": True}


def test_summary_before_the_start() -> None:
    s = summary(new_meeting().state)
    assert s.presenters == () and s.commitments == () and s.started_at is None
    assert not any(a.present or a.late for a in s.attendance)


def test_opening_the_room_after_the_close_is_not_attendance() -> None:
    log = golden()
    log.do(c.CloseMeeting(), "f")
    log.do(c.Join(connection="late", participant="m4"), None, log.now + 60 * MIN)
    m4 = next(a for a in summary(log.state).attendance if a.participant.id == "m4")
    assert not m4.present and not m4.late


def test_a_slot_allotted_after_the_turns_is_no_presentation() -> None:
    log = at("commitment")
    for _ in range(5):
        log.do(c.NextStage(), "f")  # m4's turn, then every turn is over
    log.do(c.Allot(member="m5", minutes=5), "f")
    log.do(c.NextPhase(), "f")  # m5 never presents
    log.do(c.CloseMeeting(), "f")
    assert [p.member for p in summary(log.state).presenters] == ["m3", "m4"]
