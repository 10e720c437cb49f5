"""The facilitation craft in the room's HTML: the gentle prompt, GROW coverage, private notes,
the novice's script, watching without the controls, and airtime."""

from __future__ import annotations

import pytest

from app.domain import commands as c
from app.domain.engine import decide
from app.web.render import RoomRenderer
from tests.factories import actor_for
from tests.unit.test_render import TEMPLATES, outline, questions_stage, region, submitted

NOTE = "PRIVATE-NOTE-7f3a the budget is the real fear"


@pytest.fixture(scope="module")
def renderer() -> RoomRenderer:
    return RoomRenderer(TEMPLATES)


def test_advice_comes_back_as_a_gentle_prompt_that_can_send_it_as_it_is(
    renderer: RoomRenderer,
) -> None:
    log = questions_stage()
    command = c.AskQuestion(text="You should <b>resign</b>", anonymous=True)
    html = renderer.error("That sounds like advice.", code="not_a_question", command=command)
    assert html.startswith('<div id="room-error"') and 'role="alert"' in html
    assert "That sounds like advice." in html
    assert "<b>" not in html and "&lt;b&gt;resign" in html
    assert "Send as it is" in html and "<summary>Edit</summary>" in html
    send_as_is, edit = (submitted(f) for f in outline(html).forms)
    assert send_as_is == {
        "type": "ask_question",
        "text": "You should <b>resign</b>",
        "anonymous": "true",
        "confirmed": "true",
    }
    # Sent as it is, the engine takes it; edited, it is checked again.
    decide(log.state, c.parse_command(send_as_is), actor_for(log.state, "m2"), log.now)
    assert edit["type"] == "ask_question" and "confirmed" not in edit
    # Any other refusal stays a plain message.
    plain = renderer.error("Not now.", code="not_now", command=command)
    assert "Send as it is" not in plain and "Dismiss" in plain


def test_the_turn_shows_which_grow_stages_the_questions_covered(renderer: RoomRenderer) -> None:
    log = questions_stage()
    log.do(c.AskQuestion(text="What do you want?", grow="goal"), "m2")  # type: ignore[arg-type]
    log.do(c.AskQuestion(text="What is happening now?"), "m3")
    log.do(c.TagQuestion(question_id=log.state.questions[1].id, grow="reality"), "m3")  # type: ignore[arg-type]
    for viewer in ("f", "m1", "m2", "m4"):
        questions = region(renderer.regions(log.state, viewer, now_ms=log.now), "room-questions")
        assert "grow__stage--covered" in questions
        assert "✓ Goal" in questions and "✓ Reality" in questions
        assert 'Options<span class="visually-hidden">: not yet' in questions
    # The asker may retag their own question; another member may not.
    m3 = region(renderer.regions(log.state, "m3", now_ms=log.now), "room-questions")
    assert 'value="tag_question"' in m3
    m4 = region(renderer.regions(log.state, "m4", now_ms=log.now), "room-questions")
    assert 'value="tag_question"' not in m4


def test_notes_show_to_the_presenter_alone(renderer: RoomRenderer) -> None:
    log = questions_stage()
    log.do(c.SaveNote(text=NOTE), "m1")
    mine = region(renderer.regions(log.state, "m1", now_ms=log.now), "room-notes")
    assert NOTE in mine and "Only you can see these" in mine
    for viewer in ("f", "m2", "m3", "m4"):
        assert NOTE not in renderer.page(log.state, viewer, ws_url="/ws", now_ms=log.now)
        assert NOTE not in renderer.regions(log.state, viewer, now_ms=log.now)


def test_a_member_holding_the_controls_gets_a_script_and_a_next_step(
    renderer: RoomRenderer,
) -> None:
    log = questions_stage()
    log.do(c.HandOver(member="m3", watch=True), "f")
    html = renderer.regions(log.state, "m3", now_ms=log.now)
    coach = region(html, "room-coach")
    assert "Questions only, no advice." in coach
    assert "Member 3 has a hand up: call on them." in coach
    (form,) = outline(coach).forms
    command = c.parse_command(submitted(form))
    assert command == c.CallNext()
    decide(log.state, command, actor_for(log.state, "m3"), log.now)
    # The facilitator watching sees no controls but "take back"; other members no script.
    watching = renderer.regions(log.state, "f", now_ms=log.now)
    controls = region(watching, "room-controls")
    assert "Take back the controls" in controls and "Watching" in controls
    assert [submitted(f)["type"] for f in outline(controls).forms] == ["take_back"]
    assert "hidden" in region(watching, "room-coach").split(">")[0]
    assert "hidden" in region(renderer.regions(log.state, "m2", now_ms=log.now), "room-coach")


def test_the_facilitator_alone_sees_airtime_during_the_meeting(renderer: RoomRenderer) -> None:
    log = questions_stage()
    log.do(c.NextStage(), "f")  # reflection: m1 speaks
    later = log.now + 125_000
    airtime = region(renderer.regions(log.state, "f", now_ms=later), "room-airtime")
    assert "Airtime" in airtime and "Member 1" in airtime and "<meter" in airtime
    for viewer in ("m1", "m2"):
        other = region(renderer.regions(log.state, viewer, now_ms=later), "room-airtime")
        assert other.split(">")[0].endswith("hidden")


def test_the_close_summary_shows_airtime(renderer: RoomRenderer) -> None:
    log = questions_stage()
    log.do(c.NextStage(), "f")
    log.do(c.CloseMeeting(), "f", log.now + 90_000)
    summary = region(renderer.regions(log.state, "m2", now_ms=log.now), "room-summary")
    assert "Airtime" in summary and "Member 1" in summary
