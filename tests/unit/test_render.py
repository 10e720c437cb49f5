"""The room's HTML: one template for the page and its regions, rendered per viewer."""

from __future__ import annotations

import pathlib
from html.parser import HTMLParser
from typing import Any, get_args

import pytest
from pydantic import BaseModel

from app.domain import commands as c
from app.domain.engine import decide
from app.domain.model import MeetingState, Settings
from app.web.render import REGIONS, RoomRenderer
from tests.factories import START_MS, Log, actor_for, opened, prior_commitment, roster

TEMPLATES = pathlib.Path(__file__).resolve().parents[2] / "app" / "templates"
VOID = {
    "area",
    "base",
    "br",
    "col",
    "embed",
    "hr",
    "img",
    "input",
    "link",
    "meta",
    "source",
    "track",
    "wbr",
}
SECRET = "What is the thing you have not said out loud yet?"


@pytest.fixture(scope="module")
def renderer() -> RoomRenderer:
    return RoomRenderer(TEMPLATES)


# A small reading of the HTML: top-level elements, ids, and forms as htmx would send them.


class Outline(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.depth = 0
        self.top: list[tuple[str, dict[str, str | None]]] = []
        self.top_at: list[tuple[int, int]] = []
        self.ids: list[str] = []
        self.forms: list[list[tuple[str, dict[str, str | None]]]] = []
        self._form: list[tuple[str, dict[str, str | None]]] | None = None
        self._select: dict[str, str | None] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if self.depth == 0:
            self.top.append((tag, found))
            self.top_at.append(self.getpos())
        if found.get("id"):
            self.ids.append(found["id"] or "")
        if tag == "form" and "ws-send" in found:  # the room's commands, not the page's forms
            self._form = []
        elif self._form is not None and tag in ("input", "textarea", "select"):
            self._form.append((tag, found))
            if tag == "select":
                self._select = found
        elif (
            tag == "option"
            and self._select is not None
            and ("value" not in self._select or "selected" in found)
        ):
            self._select["value"] = found.get("value")
        if tag not in VOID:
            self.depth += 1

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.depth == 0:
            self.top.append((tag, dict(attrs)))
            self.top_at.append(self.getpos())

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            return
        self.depth -= 1
        if tag == "form" and self._form is not None:
            self.forms.append(self._form)
            self._form = None
        if tag == "select":
            self._select = None


def outline(html: str) -> Outline:
    parsed = Outline()
    parsed.feed(html)
    parsed.close()
    return parsed


def submitted(form: list[tuple[str, dict[str, str | None]]]) -> dict[str, Any]:
    """What the ws extension would send for this form, with required blanks filled in; the
    server drops empty strings."""
    data: dict[str, Any] = {}
    for tag, attrs in form:
        name = attrs.get("name")
        if not name:
            continue
        kind = attrs.get("type")
        value = attrs.get("value") or ""
        unchosen = "checked" not in attrs and not (kind == "radio" and name not in data)
        if kind in ("checkbox", "radio") and unchosen:
            continue
        if tag == "textarea" or (tag == "input" and kind == "text"):
            # A question, so that a typed contribution is one the room sends without a prompt.
            value = "What is there to say?" if "required" in attrs else ""
        if value != "":
            data[name] = value
    return data


COMMAND_FIELDS: dict[str, set[str]] = {
    cls.model_fields["type"].default: set(cls.model_fields)
    for cls in get_args(get_args(c.AnyCommand)[0])
    if issubclass(cls, BaseModel)
}


def region(html: str, region_id: str) -> str:
    """The outer HTML of one top-level element of a regions() payload."""
    parsed = outline(html)
    lines = html.splitlines(keepends=True)
    line_starts = [0]
    for line in lines:
        line_starts.append(line_starts[-1] + len(line))
    offsets = [line_starts[line - 1] + col for line, col in parsed.top_at]
    ids = [attrs.get("id") for _, attrs in parsed.top]
    i = ids.index(region_id)
    end = offsets[i + 1] if i + 1 < len(offsets) else len(html)
    return html[offsets[i] : end].strip()


# Meetings at a few moments, built with the engine.


def meeting(settings: Settings | None = None) -> Log:
    log = Log(
        opened(
            people=roster(members=4),
            settings=settings,
            prior=[prior_commitment(owner="m2", what="Talk to the board")],
        )
    )
    for i, pid in enumerate(("f", "m1", "m2", "m3")):
        log.do({"type": "join", "connection": f"c{i}", "participant": pid}, None)
    return log


def questions_stage(settings: Settings | None = None) -> Log:
    log = meeting(settings)
    log.do({"type": "start_meeting"}, "f")
    log.do({"type": "next_phase"}, "f")  # report-back
    log.do({"type": "next_phase"}, "f")  # bidding
    log.do({"type": "place_bid", "minutes": 20, "title": "Merging two teams"}, "m1")
    log.do({"type": "allot", "member": "m1"}, "f")
    log.do({"type": "next_phase"}, "f")  # turns: m1 presents
    log.do({"type": "next_stage"}, "f")  # questions
    log.do({"type": "raise_hand"}, "m3")
    return log


def moments() -> dict[str, MeetingState]:
    states: dict[str, MeetingState] = {}
    log = meeting()
    log.do({"type": "skip_phase", "phase_id": "p5"}, "f")
    states["not started"] = log.state
    log.do({"type": "start_meeting"}, "f")
    states["check-in"] = log.state
    log.do({"type": "next_phase"}, "f")
    states["report-back"] = log.state
    log.do({"type": "next_phase"}, "f")
    log.do({"type": "place_bid", "minutes": 20, "title": "Merging two teams"}, "m1")
    log.do({"type": "place_bid", "minutes": 15, "title": "A hard conversation"}, "m3")
    log.do({"type": "allot", "member": "m1"}, "f")
    states["bidding"] = log.state
    log.do({"type": "next_phase"}, "f")
    log.do({"type": "next_stage"}, "f")
    log.do({"type": "raise_hand"}, "m3")
    log.do({"type": "ask_question", "text": "Why now?", "anonymous": True}, "m2")
    log.do({"type": "timer_pause"}, "f")
    states["questions"] = log.state
    log.do({"type": "next_stage"}, "f")
    log.do({"type": "next_stage"}, "f")
    log.do({"type": "save_commitment", "what": "Hold a joint meeting"}, "m1")
    states["commitment"] = log.state
    log.do({"type": "hand_over", "member": "m2"}, "f")
    states["handed over"] = log.state
    log.do({"type": "close_meeting"}, "m2")
    states["closed"] = log.state
    return states


MOMENTS = moments()
VIEWERS = ("f", "m1", "m2", "m3")


# The page and the controls


def test_the_facilitator_page_has_the_controls_and_a_members_does_not(
    renderer: RoomRenderer,
) -> None:
    state = MOMENTS["check-in"]
    facilitator = renderer.page(state, "f", ws_url="/meetings/m/ws", now_ms=state.started_at or 0)
    member = renderer.page(state, "m1", ws_url="/meetings/m/ws", now_ms=state.started_at or 0)
    for command in (
        "next_phase",
        "next_speaker",
        "timer_start",
        "timer_pause",
        "set_order",
        "skip_phase",
        "hand_over",
        "close_meeting",
        "set_speaker",
    ):
        assert f'value="{command}"' in facilitator
        assert f'value="{command}"' not in member
    assert 'value="raise_hand"' in member
    assert 'ws-connect="/meetings/m/ws"' in member
    assert 'hx-ext="ws"' in member


def test_a_member_holding_the_controls_gets_them_but_cannot_hand_over(
    renderer: RoomRenderer,
) -> None:
    state = MOMENTS["handed over"]
    html = renderer.page(state, "m2", ws_url="/ws", now_ms=0)
    assert 'value="next_stage"' in html
    assert 'value="hand_over"' not in html and 'value="take_back"' not in html
    assert 'value="take_back"' in renderer.page(state, "f", ws_url="/ws", now_ms=0)


def test_the_page_links_its_assets_and_has_no_inline_script(renderer: RoomRenderer) -> None:
    html = renderer.page(MOMENTS["questions"], "m3", ws_url="/ws", now_ms=0)
    scripts = (
        "/static/vendor/htmx.min.js",
        "/static/vendor/ws.min.js",
        "/static/room.js",
        "/static/sound.js",
    )
    for src in scripts:
        assert f'<script src="{src}" defer></script>' in html
    assert html.count("<script") == len(scripts)
    assert " onclick=" not in html and " style=" not in html
    assert '<html lang="en">' in html and 'name="viewport"' in html


# Confidentiality


def test_hidden_question_text_never_reaches_another_member(renderer: RoomRenderer) -> None:
    log = questions_stage(Settings(questions_to_set=False))
    log.do({"type": "ask_question", "text": SECRET}, "m2")
    now = log.now
    for viewer, sees in (("m1", True), ("m2", True), ("f", True), ("m3", False)):
        page = renderer.page(log.state, viewer, ws_url="/ws", now_ms=now)
        regions = renderer.regions(log.state, viewer, now_ms=now)
        assert (SECRET in page) is sees, viewer
        assert (SECRET in regions) is sees, viewer
    assert "for Member 1 only" in renderer.regions(log.state, "m3", now_ms=now)


def test_an_anonymous_author_is_never_named(renderer: RoomRenderer) -> None:
    log = questions_stage()
    log.do({"type": "ask_question", "text": SECRET, "anonymous": True}, "m2")
    for viewer in ("f", "m1", "m3"):
        questions = region(renderer.regions(log.state, viewer, now_ms=log.now), "room-questions")
        assert SECRET in questions
        assert "Anonymous" in questions
        assert "Member 2" not in questions
    own = region(renderer.regions(log.state, "m2", now_ms=log.now), "room-questions")
    assert "anonymous to others" in own


def test_text_is_escaped(renderer: RoomRenderer) -> None:
    log = questions_stage()
    log.do({"type": "ask_question", "text": "<script>alert(1)</script>", "confirmed": True}, "m2")
    html = renderer.regions(log.state, "m1", now_ms=log.now)
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
    assert "<b>" not in renderer.error("<b>no</b>")


# Regions


@pytest.mark.parametrize("moment", sorted(MOMENTS))
@pytest.mark.parametrize("viewer", VIEWERS)
def test_regions_are_every_region_once_as_top_level_elements(
    renderer: RoomRenderer, moment: str, viewer: str
) -> None:
    state = MOMENTS[moment]
    parsed = outline(renderer.regions(state, viewer, now_ms=state.started_at or 0))
    assert parsed.depth == 0
    assert [attrs.get("id") for _, attrs in parsed.top] == list(REGIONS)
    page = outline(renderer.page(state, viewer, ws_url="/ws", now_ms=0))
    assert len(page.ids) == len(set(page.ids)), "ids are unique on the page"
    assert set(REGIONS) | {"room-error"} <= set(page.ids)


@pytest.mark.parametrize("moment", sorted(MOMENTS))
@pytest.mark.parametrize("viewer", VIEWERS)
def test_every_form_sends_a_valid_command(renderer: RoomRenderer, moment: str, viewer: str) -> None:
    state = MOMENTS[moment]
    forms = outline(renderer.page(state, viewer, ws_url="/ws", now_ms=0)).forms
    assert forms or moment in ("not started", "closed")
    for form in forms:
        data = submitted(form)
        fields = {attrs.get("name") for _, attrs in form if attrs.get("name")}
        assert fields <= COMMAND_FIELDS[data["type"]], data["type"]
        assert c.parse_command(data).type == data["type"]


@pytest.mark.parametrize("moment", sorted(MOMENTS))
@pytest.mark.parametrize("viewer", VIEWERS)
def test_every_button_offered_is_one_the_engine_accepts_now(
    renderer: RoomRenderer, moment: str, viewer: str
) -> None:
    state = MOMENTS[moment]
    now = (state.started_at or START_MS) + 60_000
    for form in outline(renderer.page(state, viewer, ws_url="/ws", now_ms=now)).forms:
        command = c.parse_command(submitted(form))
        decide(state, command, actor_for(state, viewer), now)


def test_moving_a_phase_up_or_down_moves_it_by_one(renderer: RoomRenderer) -> None:
    log = meeting()
    html = renderer.page(log.state, "f", ws_url="/ws", now_ms=0)
    moves = [submitted(f) for f in outline(html).forms if submitted(f)["type"] == "move_phase"]
    titles = [p.title for p in log.state.phases]
    for move in moves:
        index = next(i for i, p in enumerate(log.state.phases) if p.id == move["phase_id"])
        twin = log.fork()
        twin.do(move, "f")
        moved = [p.title for p in twin.state.phases]
        assert moved.index(titles[index]) == int(move["to_index"])
        assert abs(moved.index(titles[index]) - index) == 1
        assert moved[-1] == "Close"


def test_the_anonymous_choice_is_offered_only_where_the_set_allows_it(
    renderer: RoomRenderer,
) -> None:
    allowed = renderer.page(questions_stage().state, "m3", ws_url="/ws", now_ms=0)
    assert 'name="anonymous"' in allowed
    closed = questions_stage(Settings(anonymous_questions=False))
    assert 'name="anonymous"' not in renderer.page(closed.state, "m3", ws_url="/ws", now_ms=0)
    presenter = renderer.page(questions_stage().state, "m1", ws_url="/ws", now_ms=0)
    assert 'value="ask_question"' not in presenter


def test_the_timer_region_carries_the_deadline(renderer: RoomRenderer) -> None:
    state = MOMENTS["check-in"]
    assert state.timer.running and state.timer.deadline_ms is not None
    html = renderer.regions(state, "m3", now_ms=state.timer.deadline_ms - 30_000)
    timer = region(html, "room-timer")
    assert timer.startswith('<div id="room-timer"')
    assert f'data-deadline-ms="{state.timer.deadline_ms}"' in timer
    assert 'data-running="true"' in timer
    assert f'data-server-now-ms="{state.timer.deadline_ms - 30_000}"' in timer
    assert "00:30" in timer and "timer--warn" in timer
    clock = region(html, "room-clock")
    assert f'data-server-now-ms="{state.timer.deadline_ms - 30_000}"' in clock


def test_a_paused_timer_says_so(renderer: RoomRenderer) -> None:
    timer = region(renderer.regions(MOMENTS["questions"], "m3", now_ms=0), "room-timer")
    assert 'data-running="false"' in timer and "Paused" in timer


def test_the_announcer_and_the_error_swap_their_content(renderer: RoomRenderer) -> None:
    html = renderer.regions(MOMENTS["check-in"], "m1", now_ms=0, announce="Phase: Check-in.")
    announcer = region(html, "room-announcer")
    assert 'aria-live="polite"' in announcer and 'hx-swap-oob="innerHTML"' in announcer
    assert "Phase: Check-in." in announcer
    error = renderer.error("The room moved on.")
    assert error.startswith('<div id="room-error"')
    assert 'role="alert"' in error and "The room moved on." in error
    assert outline(error).depth == 0 and len(outline(error).top) == 1


def test_presence_shows_online_dropped_and_not_yet_joined(renderer: RoomRenderer) -> None:
    log = meeting()
    log.do({"type": "leave", "connection": "c3"}, None)
    presence = region(renderer.regions(log.state, "f", now_ms=log.now), "room-presence")
    assert "Online" in presence and "Dropped" in presence and "Not yet joined" in presence


def test_the_summary_appears_after_the_close(renderer: RoomRenderer) -> None:
    html = renderer.regions(MOMENTS["closed"], "m3", now_ms=0)
    summary = region(html, "room-summary")
    assert "Hold a joint meeting" in summary and "Attendance" in summary
    assert "hidden" not in summary.split(">", 1)[0]


# Announcements


def test_a_phase_change_names_the_phase_and_the_speaker(renderer: RoomRenderer) -> None:
    log = meeting()
    log.do({"type": "start_meeting"}, "f")
    before = log.state
    log.do({"type": "next_phase"}, "f")
    said = renderer.announcement(before, log.state)
    assert said == "Phase: Report-back. Speaker: Member 2."


def test_a_stage_change_names_the_stage_and_the_speaker(renderer: RoomRenderer) -> None:
    log = questions_stage()
    log.do({"type": "lower_hand"}, "m3")
    before = log.state
    log.do({"type": "next_stage"}, "f")
    assert renderer.announcement(before, log.state) == "Stage: Reflection. Speaker: Member 1."


def test_timer_announcements(renderer: RoomRenderer) -> None:
    log = meeting()
    log.do({"type": "start_meeting"}, "f")
    running = log.state
    log.do({"type": "timer_pause"}, "f")
    assert renderer.announcement(running, log.state) == "Timer paused"
    paused = log.state
    log.do({"type": "timer_resume"}, "f")
    assert renderer.announcement(paused, log.state) == "Timer resumed"
    resumed = log.state
    log.do({"type": "timer_add", "seconds": 60}, "f")
    assert renderer.announcement(resumed, log.state) == "1 minute added"
    deadline = log.state.timer.deadline_ms
    assert deadline is not None
    extended = log.state
    log.do({"type": "timer_elapsed", "deadline_ms": deadline}, None, deadline)
    assert renderer.announcement(extended, log.state) == "Time's up"
    assert renderer.announcement(log.state, log.state) == ""


def test_presence_alone_is_not_announced(renderer: RoomRenderer) -> None:
    log = meeting()
    log.do({"type": "start_meeting"}, "f")
    before = log.state
    log.do({"type": "leave", "connection": "c2"}, None)
    assert renderer.announcement(before, log.state) == ""
