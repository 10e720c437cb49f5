"""What each viewer may see: anonymous authors and questions kept from the set."""

from __future__ import annotations

import pytest

from app.domain import commands as c
from app.domain import events as e
from app.domain.engine import apply, replay
from app.domain.model import MeetingState, Question, Settings
from app.domain.views import PER_VIEWER, redact, redact_stamped, view
from tests.factories import Log, opened, roster

# f facilitates, f2 co-facilitates; m1 presents; m2 asks openly, m3 anonymously; m4 only listens.
EVERYONE: tuple[str | None, ...] = ("f", "f2", "m1", "m2", "m3", "m4", "zz", None)


def questions_stage(settings: Settings) -> Log:
    log = Log(opened(people=roster(members=4, facilitators=2), settings=settings))
    log.do(c.StartMeeting(), "f")
    log.do(c.GotoPhase(phase_id="p3"), "f")
    log.do(c.Allot(member="m1", minutes=10), "f")
    log.do(c.NextPhase(), "f")
    log.do(c.NextStage(), "f")
    log.do(c.AskQuestion(text="What is in your way?"), "m2")
    log.do(c.AskQuestion(text="Who benefits if nothing changes?", anonymous=True), "m3")
    return log


def seen(state: MeetingState, viewer: str | None) -> list[tuple[str | None, str | None]]:
    return [(q.author, q.text) for q in view(state, viewer).questions]


OPEN = ("m2", "What is in your way?")
ANON_TEXT = "Who benefits if nothing changes?"


@pytest.mark.parametrize("viewer", EVERYONE)
def test_anonymous_author_is_hidden_from_all_but_the_author(viewer: str | None) -> None:
    log = questions_stage(Settings(anonymous_questions=True, questions_to_set=True))
    author = "m3" if viewer == "m3" else None
    assert seen(log.state, viewer) == [OPEN, (author, ANON_TEXT)]
    asked = log.events[-1]
    shown = redact(asked.event, viewer, log.state)
    assert isinstance(shown, e.QuestionAsked)
    assert (shown.question.author, shown.question.text) == (author, ANON_TEXT)
    assert shown.question.anonymous


@pytest.mark.parametrize("viewer", EVERYONE)
def test_questions_kept_from_the_set(viewer: str | None) -> None:
    """With questions_to_set off, only facilitators, the presenter and the author read them."""
    log = questions_stage(Settings(anonymous_questions=True, questions_to_set=False))
    staff = viewer in ("f", "f2", "m1")
    open_text = OPEN[1] if staff or viewer == "m2" else None
    anon_text = ANON_TEXT if staff or viewer == "m3" else None
    anon_author = "m3" if viewer == "m3" else None
    assert seen(log.state, viewer) == [("m2", open_text), (anon_author, anon_text)]


def test_questions_shared_with_the_set_are_read_by_every_member() -> None:
    log = questions_stage(Settings(questions_to_set=True))
    for viewer in EVERYONE:
        assert [text for _, text in seen(log.state, viewer)] == [OPEN[1], ANON_TEXT]


def test_the_full_state_keeps_everything() -> None:
    log = questions_stage(Settings(questions_to_set=False))
    assert [(q.author, q.text) for q in log.state.questions] == [OPEN, ("m3", ANON_TEXT)]


def test_a_view_hides_nothing_but_questions() -> None:
    log = questions_stage(Settings(questions_to_set=False))
    log.do(c.NextStage(), "f")
    log.do(c.SaveCommitment(what="Ask the board"), "m1")
    for viewer in EVERYONE:
        shown = view(log.state, viewer)
        assert shown.model_copy(update={"questions": log.state.questions}) == log.state


def test_flags_and_stars_reach_hidden_questions() -> None:
    log = questions_stage(Settings(questions_to_set=False))
    hidden = log.state.questions[1].id
    log.do(c.FlagAdvice(question_id=hidden), "f")
    log.do(c.StarQuestion(question_id=hidden), "m1")
    q = view(log.state, "m4").questions[1]
    assert (q.author, q.text, q.advice, q.starred) == (None, None, True, True)


def test_only_question_events_are_redacted() -> None:
    log = questions_stage(Settings(questions_to_set=False))
    for stamped in log.events:
        if not isinstance(stamped.event, PER_VIEWER):
            assert redact(stamped.event, "m4", log.state) is stamped.event


@pytest.mark.parametrize("to_set", [True, False])
@pytest.mark.parametrize("viewer", EVERYONE)
def test_a_client_folding_its_events_matches_a_fresh_snapshot(
    to_set: bool, viewer: str | None
) -> None:
    """zulip's verify_action: fold the redacted log from the start, compare with a fresh view."""
    log = questions_stage(Settings(questions_to_set=to_set))
    log.do(c.FlagAdvice(question_id=log.state.questions[0].id), "f")
    log.do(c.NextStage(), "f")
    log.do(c.StarQuestion(question_id=log.state.questions[1].id), "m1")
    truth = MeetingState(meeting_id=log.meeting_id)
    client = truth
    for stamped in log.events:
        client = apply(
            client, stamped.model_copy(update={"event": redact(stamped.event, viewer, truth)})
        )
        truth = apply(truth, stamped)
        assert client == view(truth, viewer)


def test_a_question_already_visible_is_returned_as_is() -> None:
    log = questions_stage(Settings(questions_to_set=True))
    q: Question = log.state.questions[0]
    assert view(log.state, "m4").questions[0] is q


@pytest.mark.parametrize("viewer", EVERYONE)
def test_the_log_envelope_does_not_name_an_anonymous_author(viewer: str | None) -> None:
    log = questions_stage(Settings(anonymous_questions=True))
    before = replay(log.meeting_id, log.events[:-1])
    asked = log.events[-1]
    assert asked.actor == "m3"  # the log itself knows
    shown = redact_stamped(asked, viewer, before)
    expected = "m3" if viewer == "m3" else None
    assert shown.actor == expected
    assert isinstance(shown.event, e.QuestionAsked) and shown.event.question.author == expected
    assert (shown.seq, shown.at) == (asked.seq, asked.at)
    open_question = log.events[-2]
    assert redact_stamped(open_question, viewer, before).actor == "m2"
    for stamped in log.events[:-2]:
        assert redact_stamped(stamped, viewer, before) is stamped
