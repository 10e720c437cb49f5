"""Accessibility, end to end: axe-core finds no WCAG 2.2 AA violation on any page or in any
state of the room, in light and dark; a presenter's whole turn runs from the keyboard alone;
changes of phase, speaker and timer reach the live region that screen readers announce; and
the optional chime at time's up sounds for those who turned it on.

One server for the module, seeded with five sets: "a" walks through the room's states, "k"
runs a turn by keyboard, "p" holds a closed meeting for the pages after a meeting, "g" has a
member who has not yet accepted the ground rules, "s" rings the chime. The room is moved on
through the JSON protocol (RoomClient, run on its own event loop in a thread: Playwright's sync
API holds this thread's loop) wherever the test is not about the clicking itself.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, ViewportSize, expect

from app.auth import accounts
from app.db.database import make_engine
from tests.harness import (
    PASSWORD,
    RoomClient,
    SeededSet,
    Server,
    now_ms,
    seed_set,
    session_cookie,
)

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
# The colour schemes differ in colours alone (custom properties under prefers-color-scheme), so
# the dark pass runs the rules that read colours; the light pass runs every WCAG rule.
COLOUR_RULES = ["color-contrast", "link-in-text-block"]
LAPTOP: ViewportSize = {"width": 1440, "height": 1000}
PHONE: ViewportSize = {"width": 375, "height": 812}
SCHEMES: tuple[Literal["light", "dark"], ...] = ("light", "dark")
ANNOUNCER = "#room-announcer"

expect.set_options(timeout=10_000)

T = TypeVar("T")


def run_async(make: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine on a fresh event loop in its own thread, and return its result."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(make())  # type: ignore[arg-type]
        except BaseException as error:  # re-raised in the test's thread
            box["error"] = error

    thread = threading.Thread(target=target)
    thread.start()
    thread.join(60)
    if "error" in box:
        raise box["error"]
    return box["value"]  # type: ignore[no-any-return]


@dataclass
class Site:
    server: Server
    db_url: str
    a: SeededSet
    k: SeededSet
    p: SeededSet
    g: SeededSet
    s: SeededSet

    def cookie(self, token: str) -> str:
        return session_cookie(self.server, token)

    def send(self, s: SeededSet, who: str, *commands: tuple[str, dict[str, Any]]) -> None:
        """`who` (a person id of set `s`) sends `commands` in order over the JSON protocol."""
        cookie = self.cookie(s.tokens[who])

        async def go() -> None:
            client = await RoomClient(self.server, s.meeting_id, cookie).connect()
            try:
                for type_, fields in commands:
                    await client.command(type_, **fields)
            finally:
                await client.close()

        run_async(go)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    folder = tmp_path_factory.mktemp("a11y")
    db_url = f"sqlite:///{folder / 'setroom.db'}"
    a = seed_set(db_url, members=6, prior_for=(1,))
    k = seed_set(db_url, members=6, set_id="set-k", prefix="k")
    p = seed_set(db_url, members=6, set_id="set-p", prefix="p", prior_for=(1,))
    g = seed_set(db_url, members=6, set_id="set-g", prefix="g", rules_accepted=False)
    s = seed_set(db_url, members=6, set_id="set-s", prefix="s")
    with Server(db_url, log_path=folder / "server.log") as server:
        yield Site(server=server, db_url=db_url, a=a, k=k, p=p, g=g, s=s)


# axe-core


def axe_violations(page: Page, *, colours_only: bool = False) -> list[str]:
    """axe-core's WCAG 2.2 A and AA violations on the page as it is now, one line each; with
    `colours_only`, just the rules that depend on colour."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    only = (
        {"type": "rule", "values": COLOUR_RULES}
        if colours_only
        else {"type": "tag", "values": WCAG_TAGS}
    )
    found: list[dict[str, Any]] = page.evaluate(
        """async (only) => {
            const result = await axe.run(document, {runOnly: only});
            return result.violations.map((v) => ({
                id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.map((n) => ({target: n.target.join(" "), why: n.failureSummary})),
            }));
        }""",
        only,
    )
    lines = []
    for v in found:
        for node in v["nodes"]:
            why = " ".join(str(node["why"]).split())
            lines.append(f"{v['id']} ({v['impact']}): {node['target']}: {why}")
    return lines


class Audit:
    """Scans pages in both colour schemes and keeps every violation, so that one run of the
    test reports them all."""

    def __init__(self) -> None:
        self.problems: list[str] = []
        self.scanned: list[str] = []

    def scan(self, page: Page, label: str, *, widths: tuple[int, ...] = ()) -> None:
        """Scan the page as it is, or at each of `widths` (px) in turn."""
        viewport = page.viewport_size
        for width in widths or (None,):
            where = label
            if width is not None and viewport is not None:
                page.set_viewport_size({"width": width, "height": viewport["height"]})
                where = f"{label}, {width} px"
            for scheme in SCHEMES:
                page.emulate_media(color_scheme=scheme)
                for line in axe_violations(page, colours_only=scheme != "light"):
                    self.problems.append(f"[{where}, {scheme}] {line}")
                self.scanned.append(f"{where} ({scheme})")
            page.emulate_media(color_scheme="light")
        if viewport is not None:
            page.set_viewport_size(viewport)

    def check(self) -> None:
        assert not self.problems, "axe-core found WCAG violations:\n" + "\n".join(self.problems)


# Browsers


@pytest.fixture
def contexts(browser: Browser) -> Iterator[Callable[..., Page]]:
    """A page in a fresh context; every context is closed at the end of the test."""
    made: list[BrowserContext] = []
    errors: list[str] = []

    def new_page(viewport: ViewportSize = LAPTOP, **options: Any) -> Page:
        # bypass_csp: axe-core is injected as a script tag, which a strict CSP forbids.
        context = browser.new_context(viewport=viewport, bypass_csp=True, **options)
        made.append(context)
        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        return page

    yield new_page
    for context in made:
        context.close()
    assert errors == [], errors


def join(
    new_page: Callable[..., Page],
    site: Site,
    token: str,
    viewport: ViewportSize,
    *,
    init_script: str = "",
) -> Page:
    page: Page = new_page(viewport)
    if init_script:
        page.add_init_script(init_script)
    page.goto(site.server.base + "/j/" + token)
    expect(page).to_have_url(re.compile(r"/meetings/[^/]+$"))
    expect(page.locator("#room-status .conn__text")).to_have_text("Connected")
    return page


def sign_in(new_page: Callable[..., Page], site: Site, email: str) -> Page:
    page: Page = new_page(LAPTOP)
    page.goto(site.server.base + "/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/home$"))
    return page


def expect_announced(page: Page, pattern: str) -> None:
    expect(page.locator(ANNOUNCER)).to_have_text(re.compile(pattern))


# Every page


@pytest.mark.e2e
@pytest.mark.timeout(300)
def test_no_page_has_a_wcag_violation(site: Site, contexts: Callable[..., Page]) -> None:
    audit = Audit()
    both = (PHONE["width"], LAPTOP["width"])
    base = site.server.base
    p = site.p

    # A meeting of set p that has run and closed, for the pages that come after a meeting:
    # one presenter, a question, a commitment.
    f = p.facilitator
    site.send(p, f, ("start_meeting", {}), ("next_phase", {}), ("next_phase", {}))
    site.send(p, "pm1", ("place_bid", {"title": "Two teams, one rota", "minutes": 15}))
    site.send(p, f, ("allot", {"member": "pm1"}), ("next_phase", {}), ("next_stage", {}))
    site.send(p, "pm2", ("ask_question", {"text": "Who feels the rota is theirs?"}))
    site.send(p, f, ("next_stage", {}), ("next_stage", {}))
    site.send(p, "pm1", ("save_commitment", {"what": "Hold a joint rota meeting"}))
    site.send(p, f, ("close_meeting", {}))

    anonymous = contexts(PHONE)
    for path, label in (
        ("/", "welcome"),
        ("/login", "sign-in"),
        ("/password/forgot", "password forgot"),
        ("/no-such-page", "not found"),
    ):
        anonymous.goto(base + path)
        audit.scan(anonymous, label, widths=both)
    engine = make_engine(site.db_url)
    token = accounts.issue_reset(engine, p.emails[p.facilitator], now=now_ms())
    engine.dispose()
    assert token is not None
    anonymous.goto(f"{base}/password/reset/{token}")
    expect(anonymous.get_by_label("New password", exact=False).first).to_be_visible()
    audit.scan(anonymous, "password reset", widths=both)

    lead = sign_in(contexts, site, p.emails[p.lead])
    audit.scan(lead, "home (lead)", widths=both)
    for path, label in (
        (f"/programmes/{p.programme_id}", "programme"),
        ("/programmes/new", "new programme"),
        (f"/programmes/{p.programme_id}/report", "programme report"),
    ):
        lead.goto(base + path)
        audit.scan(lead, label, widths=both)

    # The member first: new links for everyone (below) replace theirs.
    member = contexts(PHONE)
    member.goto(f"{base}/j/{p.tokens['pm1']}")
    expect(member).to_have_url(re.compile(r"/meetings/[^/]+$"))
    audit.scan(member, "room after the close (member)", widths=both)
    for path, label in (
        (f"/sets/{p.set_id}/commitments", "member commitments"),
        (f"/meetings/{p.meeting_id}/feedback", "member feedback"),
        (f"/sets/{p.set_id}/log", "member learning log"),
    ):
        member.goto(base + path)
        expect(member.locator("main h1")).to_be_visible()
        audit.scan(member, label, widths=both)

    fac = sign_in(contexts, site, p.emails[p.facilitator])
    audit.scan(fac, "home (facilitator)", widths=both)
    for path, label in (
        (f"/sets/{p.set_id}/admin", "set admin"),
        (f"/sets/{p.set_id}/meetings", "schedule"),
        (f"/sets/{p.set_id}/template", "template editor"),
        (f"/sets/{p.set_id}/import", "import"),
        (f"/meetings/{p.meeting_id}/attendance", "attendance"),
        (f"/meetings/{p.meeting_id}/summary", "summary"),
    ):
        fac.goto(base + path)
        expect(fac.locator("main h1")).to_be_visible()
        audit.scan(fac, label, widths=both)
    fac.goto(f"{base}/sets/{p.set_id}/admin")
    fac.get_by_role("button", name="New links for every member").click()
    expect(fac.locator("main")).to_contain_text("/j/")
    audit.scan(fac, "links", widths=both)

    newcomer = contexts(PHONE)
    newcomer.goto(f"{base}/j/{site.g.tokens['gm1']}")
    expect(newcomer.get_by_role("button", name="I accept the ground rules")).to_be_visible()
    audit.scan(newcomer, "ground rules", widths=both)

    audit.check()
    assert len(audit.scanned) == 2 * 2 * 22


# Every state of the room


@pytest.mark.e2e
@pytest.mark.timeout(300)
def test_no_room_state_has_a_wcag_violation(site: Site, contexts: Callable[..., Page]) -> None:
    a = site.a
    audit = Audit()
    fac = join(contexts, site, a.tokens[a.facilitator], LAPTOP)
    presenter = join(contexts, site, a.tokens["m1"], PHONE)
    member = join(contexts, site, a.tokens["m2"], PHONE)
    views = {"facilitator": fac, "presenter": presenter, "member": member}

    def scan_all(state: str) -> None:
        for who, page in views.items():
            # Facilitators run meetings from phones too: their page at both widths.
            widths = (LAPTOP["width"], PHONE["width"]) if who == "facilitator" else ()
            audit.scan(page, f"{state}, {who}", widths=widths)

    expect(fac.locator("#room-phase")).to_contain_text("Waiting to begin")
    scan_all("not started")

    # The lobby: a locked meeting, a newcomer waiting, the facilitator asked to let them in.
    site.send(a, a.facilitator, ("lock_meeting", {"locked": True}))
    waiting = contexts(PHONE)
    waiting.goto(site.server.base + "/j/" + a.tokens["m5"])
    expect(waiting.locator("#room-lobby")).to_be_visible()
    expect(fac.get_by_role("button", name=f"Let {a.names['m5']} in")).to_be_visible()
    audit.scan(waiting, "lobby, waiting")
    audit.scan(fac, "lobby, facilitator")
    # Gone before the unlock: an unlock lets them in, and their page reloads into the room.
    waiting.close()
    site.send(a, a.facilitator, ("lock_meeting", {"locked": False}))

    # Opening: check-in round.
    site.send(a, a.facilitator, ("start_meeting", {}))
    for page in views.values():
        expect(page.locator("#room-phase .now__title")).to_have_text("Check-in")
    scan_all("check-in")

    # Report-back and bidding, then m1's turn with its timer running.
    site.send(a, a.facilitator, ("next_phase", {}))
    expect(presenter.locator("#room-report-back")).to_be_visible()
    scan_all("report-back")
    site.send(a, a.facilitator, ("next_phase", {}))
    site.send(a, "m1", ("place_bid", {"title": "Two teams, one rota", "minutes": 15}))
    site.send(a, "m2", ("place_bid", {"title": "A budget nobody owns", "minutes": 10}))
    site.send(a, a.facilitator, ("allot", {"member": "m1"}))
    expect(fac.locator("#room-bids")).to_contain_text("The plan fits")
    scan_all("bidding")
    site.send(a, a.facilitator, ("next_phase", {}))
    for page in views.values():
        expect(page.locator("#room-phase .stages [aria-current=step]")).to_have_text("Present")
        expect(page.locator("#room-timer")).to_have_attribute("data-running", "true")
    scan_all("present, timer running")

    # Questions with hands raised and a typed question.
    site.send(a, a.facilitator, ("next_stage", {}))
    site.send(a, "m2", ("raise_hand", {}))
    site.send(a, "m3", ("raise_hand", {}))
    site.send(a, "m3", ("ask_question", {"text": "What would change if the rota were shared?"}))
    expect(fac.locator("#room-hands .queue__item")).to_have_count(2)
    expect(member.locator("#room-hands")).to_contain_text("Your hand is up")
    expect(presenter.locator("#room-questions .question")).to_have_count(1)
    scan_all("questions, hands raised")

    # Time's up.
    site.send(a, a.facilitator, ("timer_start", {"seconds": 1}))
    for page in views.values():
        expect(page.locator("#room-timer [data-timer-label]")).to_have_text("Time's up")
    scan_all("time's up")

    # Commitment.
    site.send(a, a.facilitator, ("next_stage", {}), ("next_stage", {}))
    site.send(
        a,
        "m1",
        ("save_commitment", {"what": "Hold a joint rota meeting", "by_when": "next month"}),
    )
    for page in views.values():
        expect(page.locator("#room-commitments .commitments")).to_contain_text("joint rota")
    scan_all("commitment")

    # A member holding the controls sees the facilitation controls.
    site.send(a, a.facilitator, ("hand_over", {"member": "m2"}))
    expect(member.locator("#room-controls")).to_be_visible()
    audit.scan(member, "commitment, member holding the controls")
    site.send(a, a.facilitator, ("take_back", {}))
    expect(member.locator("#room-controls")).to_be_hidden()

    # The close.
    site.send(a, a.facilitator, *[("next_phase", {})] * 3, ("close_meeting", {}))
    for page in views.values():
        expect(page.locator("#room-summary")).to_be_visible()
    scan_all("closed")
    audit.check()


# Keyboard only


def focused(page: Page) -> dict[str, str]:
    info: dict[str, str] = page.evaluate(
        """() => {
            const el = document.activeElement;
            if (!el || el === document.body) return {tag: "", name: ""};
            const label = el.labels && el.labels.length ? el.labels[0].textContent : "";
            return {
                tag: el.tagName.toLowerCase(),
                name: (el.getAttribute("aria-label") || label || el.textContent || "").trim()
                    .replace(/\\s+/g, " "),
            };
        }"""
    )
    return info


def tab_to(page: Page, name: str, *, tag: str = "button", limit: int = 200) -> None:
    """Press Tab until the focus is on the control called `name`."""
    seen: list[str] = []
    for _ in range(limit):
        page.keyboard.press("Tab")
        now = focused(page)
        if now["tag"] == tag and now["name"] == name:
            return
        seen.append(f"{now['tag']}:{now['name']}")
    raise AssertionError(f"{name!r} is not reachable by Tab; focus went {json.dumps(seen)}")


def press(page: Page, name: str, key: str = "Enter") -> None:
    """Reach the button called `name` by Tab (wrapping round the page), and press it."""
    tab_to(page, name)
    page.keyboard.press(key)


@pytest.mark.e2e
@pytest.mark.timeout(300)
def test_a_presenters_turn_by_keyboard_alone(site: Site, contexts: Callable[..., Page]) -> None:
    k = site.k
    fac = join(contexts, site, k.tokens[k.facilitator], LAPTOP)
    presenter = join(contexts, site, k.tokens["km1"], PHONE)
    asker = join(contexts, site, k.tokens["km2"], PHONE)
    m1, m2 = k.names["km1"], k.names["km2"]

    # The facilitator starts and moves on to the bidding; the presenter bids; all by keyboard.
    press(fac, "Start the meeting")
    expect(fac.locator("#room-phase .now__title")).to_have_text("Check-in")
    expect_announced(presenter, "Phase: Check-in")
    press(fac, "Next phase: Report-back")
    expect(fac.locator("#room-phase .now__title")).to_have_text("Report-back")
    press(fac, "Next phase: Bidding for time")
    expect(presenter.locator("#room-phase .now__title")).to_have_text("Bidding for time")
    expect_announced(presenter, "Phase: Bidding for time")

    tab_to(presenter, "Your issue, in one line", tag="input")
    presenter.keyboard.type("Two teams, one rota")
    presenter.keyboard.press("Tab")
    presenter.keyboard.press("Control+A")
    presenter.keyboard.type("15")
    tab_to(presenter, "Place bid")
    presenter.keyboard.press("Enter")
    expect(fac.locator("#room-bids")).to_contain_text("Two teams, one rota")
    press(fac, f"Allot 15 minutes to {m1}", key="Space")
    expect(presenter.locator("#room-bids .mybid")).to_contain_text("Allotted")

    # The turn: present, with its timer running, announced to everyone.
    press(fac, "Next phase: Presenter turns")
    expect_announced(presenter, f"Presenter: {m1}")
    expect_announced(asker, "Stage: Present")
    expect(asker.locator("#room-timer")).to_have_attribute("data-running", "true")
    before = asker.locator("#room-timer [role=timer]").inner_text()

    # Questions: a hand raised and called on, a question typed, starred by the presenter.
    press(fac, "Next stage: Questions")
    expect_announced(asker, "Stage: Questions")
    press(asker, "Raise my hand", key="Space")
    expect(asker.locator("#room-hands")).to_contain_text("Your hand is up")
    press(fac, f"Call on {m2}")
    expect_announced(presenter, f"Speaker: {m2}")
    expect(presenter.locator("#room-speaker .speaker__name")).to_have_text(m2)
    tab_to(asker, "Your question", tag="textarea")
    asker.keyboard.type("What would change for you if the rota were shared?")
    tab_to(asker, "Ask")
    asker.keyboard.press("Enter")
    expect(presenter.locator("#room-questions")).to_contain_text("rota were shared")
    press(presenter, "Star this question to keep it")
    expect(presenter.locator("#room-questions .question--starred")).to_have_count(1)

    # The timer: pause is announced, and so is resume.
    press(fac, "Pause")
    expect_announced(asker, "Timer paused")
    expect(asker.locator("#room-timer")).to_have_attribute("data-running", "false")
    press(fac, "Resume")
    expect_announced(asker, "Timer resumed")
    expect(asker.locator("#room-timer [role=timer]")).not_to_have_text(before)

    # Reflection, then the presenter's own commitment, typed and saved by keyboard.
    press(fac, "Next stage: Reflection")
    expect_announced(asker, "Stage: Reflection")
    press(fac, "Next stage: Commitment")
    expect_announced(presenter, "Stage: Commitment")
    tab_to(presenter, "What I will do", tag="textarea")
    presenter.keyboard.type("Hold a joint rota meeting with both team leads")
    tab_to(presenter, "By when", tag="input")
    presenter.keyboard.type("Before the next meeting")
    tab_to(presenter, "Save commitment")
    presenter.keyboard.press("Enter")
    for page in (fac, presenter, asker):
        expect(page.locator("#room-commitments .commitments")).to_contain_text("joint rota meeting")

    # The turn ends: on to the next phase, announced.
    press(fac, "Next phase: Process review")
    expect_announced(presenter, "Phase: Process review")


# The chime at time's up

# Counts the oscillators the page starts: each note of the chime is one.
COUNT_TONES = """
window.__tones = 0;
const Base = window.AudioContext;
window.AudioContext = class extends Base {
    createOscillator() { window.__tones += 1; return super.createOscillator(); }
};
"""


def tones(page: Page) -> int:
    return int(page.evaluate("window.__tones"))


@pytest.mark.e2e
def test_the_chime_at_times_up_sounds_only_for_those_who_turned_it_on(
    site: Site, contexts: Callable[..., Page]
) -> None:
    s = site.s
    listener = join(contexts, site, s.tokens["sm1"], PHONE, init_script=COUNT_TONES)
    quiet = join(contexts, site, s.tokens["sm2"], PHONE, init_script=COUNT_TONES)
    site.send(s, s.facilitator, ("start_meeting", {}))
    switches = [page.get_by_role("button", name="Sound at time's up") for page in (listener, quiet)]
    for switch in switches:
        expect(switch).to_have_attribute("aria-pressed", "false")  # off by default

    switches[0].click()
    expect(switches[0]).to_have_attribute("aria-pressed", "true")
    listener.wait_for_function("window.__tones === 2")  # a sample, at once
    assert listener.evaluate("localStorage.getItem('setroom.sound')") == "on"

    site.send(s, s.facilitator, ("timer_start", {"seconds": 1}))
    for page in (listener, quiet):
        expect(page.locator("#room-timer [data-timer-label]")).to_have_text("Time's up")
    listener.wait_for_function("window.__tones === 4")
    assert tones(quiet) == 0
    expect_announced(quiet, "Time's up")

    # Remembered on this device: the switch is still on after a reload, and a page opened
    # after time's up stays quiet.
    listener.reload()
    expect(listener.locator("#room-status .conn__text")).to_have_text("Connected")
    expect(switches[0]).to_have_attribute("aria-pressed", "true")
    expect(listener.locator("#room-timer [data-timer-label]")).to_have_text("Time's up")
    assert tones(listener) == 0
