"""The facilitation craft in the engine: GROW tags, presenters' private notes, the prompts for a
novice facilitator, watching without the controls, and airtime."""

from __future__ import annotations

import pytest

from app.domain import commands as c
from app.domain import events as e
from app.domain.airtime import airtime_at, shares
from app.domain.coaching import coach
from app.domain.engine import apply, replay
from app.domain.errors import DomainError
from app.domain.model import GrowStage, MeetingState, Settings, Stage
from app.domain.views import redact, redact_stamped, summary, view
from tests.factories import START_MS, Log, opened, roster

SEC = 1_000
MIN = 60_000


def meeting(settings: Settings | None = None, facilitators: int = 1) -> Log:
    return Log(opened(people=roster(members=4, facilitators=facilitators), settings=settings))


def to_turns(log: Log, *presenters: str) -> Log:
    """Start, go through check-in and report-back, allot `presenters` 10 minutes each, and enter
    the presenter turns (the first presenter's present stage)."""
    log.do(c.StartMeeting(), "f")
    log.do(c.NextPhase(), "f")  # report-back
    log.do(c.NextPhase(), "f")  # bidding
    for member in presenters or ("m1",):
        log.do(c.Allot(member=member, minutes=10), "f")
    log.do(c.NextPhase(), "f")  # turns: present
    return log


def code_of(log: Log, command: c.AnyCommand, who: str) -> str:
    with pytest.raises(DomainError) as info:
        log.do(command, who)
    return info.value.code


# --- Questions, not advice ---------------------------------------------------------------------


def test_advice_is_refused_until_confirmed_and_changes_nothing() -> None:
    log = to_turns(meeting())
    log.do(c.NextStage(), "f")
    before = log.state
    assert code_of(log, c.AskQuestion(text="You should talk to HR"), "m2") == "not_a_question"
    assert code_of(log, c.AskQuestion(text="That is hard"), "m2") == "not_a_question"
    assert log.state is before
    log.do(c.AskQuestion(text="You should talk to HR", confirmed=True), "m2")
    log.do(c.AskQuestion(text="What matters most to you", grow=GrowStage.GOAL), "m3")
    advice, goal = log.state.questions
    assert (advice.text, advice.grow) == ("You should talk to HR", None)
    assert goal.grow is GrowStage.GOAL


def test_the_asker_or_a_controller_tags_a_question_and_nobody_else() -> None:
    log = to_turns(meeting())
    log.do(c.NextStage(), "f")
    log.do(c.AskQuestion(text="What is really going on?", anonymous=True), "m2")
    qid = log.state.questions[0].id
    log.do(c.TagQuestion(question_id=qid, grow=GrowStage.REALITY), "m2")
    assert log.state.questions[0].grow is GrowStage.REALITY
    assert code_of(log, c.TagQuestion(question_id=qid, grow=GrowStage.GOAL), "m3") == "forbidden"
    assert code_of(log, c.TagQuestion(question_id=qid, grow=GrowStage.GOAL), "m1") == "forbidden"
    assert code_of(log, c.TagQuestion(question_id=qid, grow=GrowStage.REALITY), "f") == "not_now"
    log.do(c.TagQuestion(question_id=qid, grow=GrowStage.OPTIONS), "f")
    log.do(c.TagQuestion(question_id=qid, grow=None), "f")
    assert log.state.questions[0].grow is None


def test_tagging_an_anonymous_question_does_not_tell_others_who_tagged_it() -> None:
    log = to_turns(meeting())
    log.do(c.NextStage(), "f")
    log.do(c.AskQuestion(text="What is really going on?", anonymous=True), "m2")
    before = log.state
    log.do(c.TagQuestion(question_id=before.questions[0].id, grow=GrowStage.WILL), "m2")
    stamped = log.events[-1]
    for viewer in ("f", "m1", "m3"):
        seen = redact_stamped(stamped, viewer, before)
        assert seen.actor is None and seen.event == stamped.event
    assert redact_stamped(stamped, "m2", before).actor == "m2"


# --- Presenters' private notes -----------------------------------------------------------------


def test_notes_are_the_presenters_alone() -> None:
    log = to_turns(meeting(), "m1", "m2")
    log.do(c.SaveNote(text="SECRET-NOTE nobody asked about money"), "m1")
    note = log.state.notes[0]
    assert (note.owner, note.text) == ("m1", "SECRET-NOTE nobody asked about money")
    assert code_of(log, c.SaveNote(text="Mine"), "m2") == "forbidden"
    assert code_of(log, c.SaveNote(text="Mine"), "f") == "forbidden"
    assert code_of(log, c.SaveNote(note_id=note.id, text="Edited"), "f") == "not_found"
    for viewer in ("f", "m2", "m3", None):
        assert view(log.state, viewer).notes == ()
        assert "SECRET-NOTE" not in view(log.state, viewer).model_dump_json()
    assert view(log.state, "m1").notes == (note,)
    # The owner edits it later, even once their turn is over.
    for _ in range(4):
        log.do(c.NextStage(), "f")
    assert log.state.presenter == "m2"
    log.do(c.SaveNote(note_id=note.id, text="Edited"), "m1")
    assert [n.text for n in log.state.notes] == ["Edited"]


def test_a_note_reaches_others_as_nothing_and_folds_to_their_view() -> None:
    log = to_turns(meeting())
    before = log.state
    log.do(c.SaveNote(text="SECRET-NOTE"), "m1")
    stamped = log.events[-1]
    for viewer in ("f", "m2", None):
        seen = redact_stamped(stamped, viewer, before)
        assert "SECRET-NOTE" not in seen.model_dump_json()
        assert apply(view(before, viewer), seen) == view(log.state, viewer)
    assert redact(stamped.event, "m1", before) == stamped.event


def test_the_set_sees_kept_questions_only_when_its_settings_say_so() -> None:
    for record, shown in (("commitment_only", False), ("kept_items_visible_to_set", True)):
        log = to_turns(meeting(Settings(turn_record=record)))  # type: ignore[arg-type]
        log.do(c.NextStage(), "f")
        log.do(c.AskQuestion(text="What is the kept one?"), "m2")
        log.do(c.AskQuestion(text="What is the other one?"), "m3")
        log.do(c.StarQuestion(question_id=log.state.questions[0].id), "m1")
        log.do(c.SaveNote(text="SECRET-NOTE"), "m1")
        log.do(c.CloseMeeting(), "f")
        kept = summary(view(log.state, "m3")).kept
        assert [k.text for k in kept] == (["What is the kept one?"] if shown else [])
        assert "SECRET-NOTE" not in summary(view(log.state, "f")).model_dump_json()


# --- Watching without the controls -------------------------------------------------------------


def test_a_facilitator_hands_over_to_watch_and_takes_back() -> None:
    log = meeting()
    log.do(c.HandOver(member="m2", watch=True), "f")
    assert (log.state.delegate, log.state.watching) == ("m2", True)
    assert log.state.is_controller("m2")
    log.do(c.StartMeeting(), "m2")
    log.do(c.TakeBack(), "f")
    assert (log.state.delegate, log.state.watching) == (None, False)
    log.do(c.HandOver(member="m3"), "f")
    assert (log.state.delegate, log.state.watching) == ("m3", False)


# --- Prompts for a novice facilitator ----------------------------------------------------------


def _follow(log: Log, state: MeetingState, who: str) -> None:
    advice = coach(state)
    assert advice is not None and advice.command is not None, state
    log.do(c.parse_command(advice.command), who)


def test_following_the_prompts_runs_a_whole_meeting() -> None:
    """A member holding the controls presses only the suggested button at each step, and the
    meeting goes from the start to the close."""
    log = meeting()
    log.do(c.HandOver(member="m4", watch=True), "f")
    seen: list[str] = []
    raised = False
    for _ in range(60):
        advice = coach(log.state)
        if advice is None:
            break
        assert advice.script or advice.next_step
        seen.append(advice.next_step)
        if advice.command is None:
            # The step is done in the room: allot a presenter, record a commitment.
            if log.state.stage is Stage.COMMITMENT:
                log.do(c.SaveCommitment(what="Talk to my director"), log.state.presenter)
            else:
                log.do(c.Allot(member="m1", minutes=10), "m4")
            continue
        if log.state.stage is Stage.QUESTIONS and not raised:
            raised = True  # someone raises a hand once: the prompt then says to call on them
            log.do(c.RaiseHand(), "m2")
            continue
        _follow(log, log.state, "m4")
    assert log.state.status.value == "closed"
    assert "When everyone is here, start the meeting." in seen
    assert "Member 2 has a hand up: call on them." in seen
    assert "When the questions run dry, invite the presenter to reflect." in seen
    assert log.state.commitments[0].what == "Talk to my director"


def test_time_is_up_prompts_the_next_step() -> None:
    log = to_turns(meeting())
    log.do(c.NextStage(), "f")
    log.do(c.TimerStart(seconds=60), "f")
    deadline = log.state.timer.deadline_ms
    assert deadline is not None
    advice = coach(log.state)
    assert advice is not None
    assert advice.next_step == "When the questions run dry, invite the presenter to reflect."
    log.do(c.TimerElapsed(deadline_ms=deadline), None, deadline)
    advice = coach(log.state)
    assert advice is not None
    assert advice.next_step == "Time is up: invite the presenter to reflect."
    assert advice.command == {"type": "next_stage", "from_stage": "0:questions"}
    log.do(c.RaiseHand(), "m3")
    advice = coach(log.state)
    assert advice is not None and advice.command == {"type": "call_next"}
    assert advice.label == "Call on Member 3"


def test_round_prompts_name_who_is_next() -> None:
    log = meeting()
    log.do(c.StartMeeting(), "f")
    advice = coach(log.state)
    assert advice is not None
    assert advice.next_step == "When Member 1 has finished, invite Member 2."
    assert advice.command == {"type": "next_speaker", "from_speaker": "m1"}
    assert "arriving today" in advice.script


# --- Airtime -----------------------------------------------------------------------------------


def test_airtime_counts_each_speakers_time_from_the_logged_times() -> None:
    log = meeting()
    t = START_MS + MIN
    log.do(c.StartMeeting(), "f", t)  # check-in: m1 speaks
    log.do(c.NextSpeaker(), "f", t + 90 * SEC)  # m2
    log.do(c.TimerPause(), "f", t + 100 * SEC)  # a pause stops the count
    log.do(c.TimerResume(), "f", t + 400 * SEC)
    log.do(c.NextSpeaker(), "f", t + 430 * SEC)  # m3
    assert log.state.airtime == {"m1": 90 * SEC, "m2": 40 * SEC}
    assert airtime_at(log.state, t + 445 * SEC) == {"m1": 90 * SEC, "m2": 40 * SEC, "m3": 15 * SEC}
    log.do(c.CloseMeeting(), "f", t + 460 * SEC)
    assert log.state.airtime == {"m1": 90 * SEC, "m2": 40 * SEC, "m3": 30 * SEC}
    assert replay(log.meeting_id, log.events) == log.state
    rows = [(a.participant.id, a.ms) for a in summary(log.state).airtime]
    assert rows == [("m1", 90 * SEC), ("m2", 40 * SEC), ("m3", 30 * SEC)]
    top = shares(log.state, t + 460 * SEC)[0]
    assert (top[0].id, top[1], top[2]) == ("m1", 90 * SEC, 56)


def test_airtime_in_a_turn_follows_the_presenter_and_the_called_hands() -> None:
    log = meeting()
    t = START_MS + MIN
    log.do(c.StartMeeting(), "f", t)
    log.do(c.NextPhase(), "f", t)
    log.do(c.NextPhase(), "f", t)
    log.do(c.Allot(member="m1", minutes=10), "f", t)
    base = dict(log.state.airtime)
    log.do(c.NextPhase(), "f", t + MIN)  # m1 presents
    log.do(c.NextStage(), "f", t + 6 * MIN)  # questions: nobody holds the floor
    log.do(c.RaiseHand(), "m3", t + 7 * MIN)
    log.do(c.CallNext(), "f", t + 8 * MIN)  # m3 speaks
    log.do(c.NextStage(), "f", t + 9 * MIN)  # reflection: m1 again
    log.do(c.CloseMeeting(), "f", t + 12 * MIN)
    spent = {k: v - base.get(k, 0) for k, v in log.state.airtime.items()}
    assert spent["m1"] == 5 * MIN + 3 * MIN
    assert spent["m3"] == 1 * MIN


def test_airtime_is_the_same_for_every_viewer() -> None:
    log = meeting()
    log.do(c.StartMeeting(), "f", START_MS + MIN)
    before = log.state
    log.do(c.NextSpeaker(), "f", START_MS + 3 * MIN)
    stamped = log.events[-1]
    for viewer in ("f", "m1", "m2"):
        folded = apply(view(before, viewer), redact_stamped(stamped, viewer, before))
        assert folded.airtime == log.state.airtime == {"m1": 2 * MIN}
    assert isinstance(stamped.event, e.SpeakerChanged)
