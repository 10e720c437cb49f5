"""Screenshots of every main page at 375 px and 1440 px: docs/screenshots/<page>-<width>.png.

    .venv/bin/python -m scripts.screenshots            # all of them
    .venv/bin/python -m scripts.screenshots room home  # only pages whose name starts so

It builds the demo set (app/demo.py) in a throwaway SQLite database, gives its facilitator and a
programme lead an account, runs one whole meeting through the JSON protocol (so the reports,
summary and member pages have something to show), opens the next meeting, then walks the pages
and the room's states in Debian's headless Chromium. These files are made by this script alone;
the e2e tests write theirs under test-artifacts/.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, Page, expect, sync_playwright
from sqlmodel import Session, select

from app.auth import accounts
from app.db import access
from app.db.database import make_engine, migrate
from app.db.meetings import create_meeting, current_meeting
from app.db.tables import Account, Membership, ProgrammeLead
from app.demo import DEMO_SET_ID, ensure_demo
from tests.harness import RoomClient, Server, free_port, now_ms, session_cookie

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "screenshots"
WIDTHS = (375, 1440)
CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
]
PASSWORD = "screenshots only, never a real one"
FACILITATOR = "demo-0"
PRESENTER, ASKER, OTHER, SECOND = "demo-1", "demo-2", "demo-4", "demo-3"
NEWCOMER = "demo-8"  # has not accepted the ground rules
LATECOMER = "demo-7"  # waits in the lobby of a locked meeting
DAY_MS = 86_400_000
SHOW_CURRENT_PHASE = """() => {
    const plan = document.querySelector(".plan");
    const now = plan && plan.querySelector("[aria-current=step]");
    if (now) plan.scrollLeft = now.offsetLeft - plan.offsetLeft
        - (plan.clientWidth - now.offsetWidth) / 2;
}"""


class Demo:
    """The demo set on a running server, with a cookie for each person."""

    def __init__(self, server: Server, db_url: str) -> None:
        self.server = server
        self.db_url = db_url
        self.cookies: dict[str, str] = {}
        self.meeting_id = ""
        self.refresh()
        # The JSON clients live on their own event loop in a thread: Playwright's sync API
        # holds this thread's.
        self._clients: dict[tuple[str, str], RoomClient] = {}
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()

    def refresh(self) -> None:
        engine = make_engine(self.db_url)
        meeting = current_meeting(engine, DEMO_SET_ID)
        assert meeting is not None
        self.meeting_id = meeting.id
        engine.dispose()

    def link(self, person: str) -> str:
        engine = make_engine(self.db_url)
        token = access.issue_link(
            engine, person_id=person, set_id=DEMO_SET_ID, now=now_ms(), days=30
        )
        engine.dispose()
        return token

    def cookie(self, person: str) -> str:
        if person not in self.cookies:
            self.cookies[person] = session_cookie(self.server, self.link(person))
        return self.cookies[person]

    def run(self, steps: list[tuple[str, str, dict[str, Any]]], present: list[str]) -> None:
        """Have `present` in the room over the JSON protocol (they stay, so the roster shows
        them online), then send the (person, command, fields) steps in order."""

        async def go() -> None:
            for pid in present:
                client = self._clients.get((self.meeting_id, pid))
                if client is None:
                    client = RoomClient(self.server, self.meeting_id, self.cookie(pid))
                    self._clients[(self.meeting_id, pid)] = await client.connect()
            for person, type_, fields in steps:
                await self._clients[(self.meeting_id, person)].command(type_, **fields)

        asyncio.run_coroutine_threadsafe(go(), self._loop).result(60)

    def close(self) -> None:
        async def go() -> None:
            for client in self._clients.values():
                await client.close()

        asyncio.run_coroutine_threadsafe(go(), self._loop).result(60)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


def build(db_url: str) -> dict[str, str]:
    """The demo set, accounts for its facilitator and a lead; the sign-in emails."""
    migrate(db_url)
    engine = make_engine(db_url)
    now = now_ms()
    ensure_demo(engine, now=now - 28 * DAY_MS)
    with Session(engine) as session:
        for membership in session.exec(
            select(Membership).where(Membership.set_id == DEMO_SET_ID)
        ).all():
            if membership.role == "member" and membership.person_id != NEWCOMER:
                membership.rules_accepted_at = now
                session.add(membership)
        session.commit()
    emails = {"facilitator": "jordan.reyes@example.org", "lead": "priya.shah@example.org"}
    accounts.create_account(
        engine,
        name="Jordan Reyes",
        email=emails["facilitator"],
        now=now,
        password=PASSWORD,
        person_id=FACILITATOR,
    )
    accounts.create_account(
        engine, name="Priya Shah", email=emails["lead"], now=now, password=PASSWORD, person_id=None
    )
    with Session(engine) as session:
        lead = session.exec(select(Account).where(Account.email == emails["lead"])).one()
        session.add(ProgrammeLead(programme_id="demo-programme", person_id=lead.person_id))
        session.commit()
    engine.dispose()
    return emails


def first_meeting(demo: Demo) -> None:
    """Last month's meeting, run and closed: two presenters, questions, commitments."""
    f = FACILITATOR
    present = [f, "demo-1", "demo-2", "demo-3", "demo-4", "demo-5", "demo-6"]
    steps: list[tuple[str, str, dict[str, Any]]] = [
        (f, "start_meeting", {}),
        (f, "next_phase", {}),
        (f, "next_phase", {}),
        (PRESENTER, "place_bid", {"title": "Two teams, one rota", "minutes": 20}),
        (SECOND, "place_bid", {"title": "A budget nobody owns", "minutes": 15}),
        (f, "allot", {"member": PRESENTER}),
        (f, "allot", {"member": SECOND}),
        (f, "next_phase", {}),
        (f, "next_stage", {}),
        (ASKER, "ask_question", {"text": "Who feels the rota is theirs today?"}),
        (f, "next_stage", {}),
        (f, "next_stage", {}),
        (
            PRESENTER,
            "save_commitment",
            {
                "what": "Hold one joint rota meeting with both team leads",
                "by_when": "Before the next meeting",
                "how_know": "Both leads sign off one rota",
                "support": "Someone to ask me how it went",
            },
        ),
        (f, "next_stage", {}),
        (f, "next_stage", {}),
        (f, "next_stage", {}),
        (f, "next_stage", {}),
        (
            SECOND,
            "save_commitment",
            {"what": "Map who signs off each budget line", "by_when": "End of the month"},
        ),
        (f, "next_phase", {}),
        (f, "next_phase", {}),
        (f, "next_phase", {}),
        (f, "close_meeting", {}),
    ]
    demo.run(steps, present)


class Camera:
    def __init__(self, only: list[str]) -> None:
        self.only = only
        self.written: list[Path] = []

    def wanted(self, name: str) -> bool:
        return not self.only or any(name.startswith(prefix) for prefix in self.only)

    def shoot(self, page: Page, name: str, *, dark: bool = False) -> None:
        """One full-page screenshot per width of the page as it is now; with `dark`, the same
        again in the dark colour scheme (<page>-dark-<width>.png)."""
        if not self.wanted(name):
            return
        for scheme in ("light", "dark") if dark else ("light",):
            page.emulate_media(color_scheme=scheme)
            suffix = "-dark" if scheme == "dark" else ""
            for width in WIDTHS:
                page.set_viewport_size({"width": width, "height": 900})
                # As room.js does when a page opens at this width: the plan's current step in view.
                page.evaluate(SHOW_CURRENT_PHASE)
                page.wait_for_timeout(150)  # layout settles after the resize
                path = OUT / f"{name}{suffix}-{width}.png"
                page.screenshot(path=path, full_page=True, animations="disabled", caret="hide")
                self.written.append(path)
        page.emulate_media(color_scheme="light")


def sign_in(browser: Browser, base: str, email: str) -> Page:
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    page.goto(base + "/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{base}/home")
    return page


def in_room(browser: Browser, demo: Demo, person: str) -> Page:
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    base = demo.server.base
    context.add_cookies([{"name": "setroom_session", "value": demo.cookie(person), "url": base}])
    page = context.new_page()
    page.goto(f"{base}/meetings/{demo.meeting_id}")
    expect(page.locator("#room-status .conn__text")).to_have_text("Connected")
    return page


def walk(browser: Browser, demo: Demo, emails: dict[str, str], camera: Camera, closed: str) -> None:
    """Every page, then this month's meeting (demo.meeting_id) through its states."""
    base = demo.server.base
    shoot = camera.shoot

    anonymous = browser.new_context().new_page()
    anonymous.goto(base + "/login")
    shoot(anonymous, "sign-in")
    anonymous.goto(base + "/password/forgot")
    shoot(anonymous, "password-forgot")

    # A member after last month's meeting: feedback, commitments, learning log.
    for person, scores in ((SECOND, (4, 5, 3)), (OTHER, (5, 4, 4)), (ASKER, (5, 4, 4))):
        member = in_room(browser, demo, person)
        member.goto(f"{base}/meetings/{closed}/feedback")
        for name, value in zip(("usefulness", "safety", "challenge"), scores, strict=True):
            member.locator(f"input[name={name}][value='{value}']").check()
        member.get_by_label("Anything else?").fill("Good pace; the questions really helped.")
        member.get_by_role("button", name="Send feedback").click()
    shoot(member, "member-feedback")
    member.goto(f"{base}/meetings/{closed}")
    shoot(member, "room-summary-member")
    member.goto(f"{base}/sets/{DEMO_SET_ID}/log")
    member.get_by_label("What are you learning?").fill(
        "Asking 'what would change?' opened up more than any suggestion would have."
    )
    member.get_by_role("button", name="Keep it").click()
    shoot(member, "member-log")
    presenter = in_room(browser, demo, PRESENTER)
    presenter.goto(f"{base}/sets/{DEMO_SET_ID}/commitments")
    shoot(presenter, "member-commitments")

    lead = sign_in(browser, base, emails["lead"])
    shoot(lead, "home-lead")
    lead.goto(f"{base}/programmes/demo-programme")
    shoot(lead, "programme")
    lead.goto(f"{base}/programmes/demo-programme/report")
    shoot(lead, "programme-report", dark=True)

    fac = sign_in(browser, base, emails["facilitator"])
    shoot(fac, "home", dark=True)
    for path, name in (
        (f"/sets/{DEMO_SET_ID}/admin", "set-admin"),
        (f"/sets/{DEMO_SET_ID}/meetings", "schedule"),
        (f"/sets/{DEMO_SET_ID}/template", "template-editor"),
        (f"/sets/{DEMO_SET_ID}/import", "import"),
        (f"/meetings/{closed}/attendance", "attendance"),
        (f"/meetings/{closed}/summary", "summary"),
    ):
        fac.goto(base + path)
        shoot(fac, name)

    newcomer = browser.new_context().new_page()
    newcomer.goto(f"{base}/j/{demo.link(NEWCOMER)}")
    expect(newcomer.get_by_role("button", name="I accept the ground rules")).to_be_visible()
    shoot(newcomer, "ground-rules")

    # This month's meeting, live.
    room_fac = in_room(browser, demo, FACILITATOR)
    room_presenter = in_room(browser, demo, PRESENTER)
    room_member = in_room(browser, demo, ASKER)
    shoot(room_fac, "room-waiting-facilitator")
    f = FACILITATOR
    demo.run([(f, "lock_meeting", {"locked": True})], [f, SECOND, OTHER, "demo-5"])
    latecomer = browser.new_context().new_page()
    latecomer.goto(f"{base}/j/{demo.link(LATECOMER)}")
    expect(latecomer.locator("#room-lobby")).to_be_visible()
    shoot(latecomer, "lobby")
    demo.run([(f, "admit", {"member": LATECOMER}), (f, "lock_meeting", {"locked": False})], [f])

    demo.run([(f, "start_meeting", {})], [f])
    expect(room_member.locator("#room-phase .now__title")).to_have_text("Check-in")
    shoot(room_fac, "room-check-in-facilitator")
    shoot(room_member, "room-check-in-member")

    demo.run([(f, "next_phase", {})], [f])
    expect(room_presenter.locator("#room-report-back")).to_be_visible()
    shoot(room_presenter, "room-report-back-member")

    demo.run(
        [
            (f, "next_phase", {}),
            (PRESENTER, "place_bid", {"title": "The joint rota, one month on", "minutes": 20}),
            (OTHER, "place_bid", {"title": "Handing over a team I built", "minutes": 15}),
            (f, "allot", {"member": PRESENTER}),
        ],
        [f, PRESENTER, OTHER],
    )
    expect(room_fac.locator("#room-bids")).to_contain_text("The plan fits")
    shoot(room_fac, "room-bidding-facilitator")

    demo.run(
        [
            (f, "next_phase", {}),
            (f, "next_stage", {}),
            (OTHER, "raise_hand", {}),
            (ASKER, "ask_question", {"text": "What did the two leads each want from it?"}),
            (
                "demo-5",
                "ask_question",
                {"text": "What would you do differently next time?", "anonymous": True},
            ),
            (SECOND, "ask_question", {"text": "Isn't the answer to merge the teams?"}),
        ],
        [f, OTHER, ASKER, "demo-5", SECOND],
    )
    expect(room_presenter.locator("#room-questions .question")).to_have_count(3)
    room_presenter.locator(".question", has_text="two leads").get_by_role(
        "button", name="Star this question to keep it"
    ).click()
    room_fac.get_by_role("button", name="Flag as advice", exact=False).first.click()
    room_member.get_by_role("button", name="Raise my hand").click()
    expect(room_fac.locator("#room-hands .queue__item")).to_have_count(2)
    expect(room_fac.locator("#room-questions .question--advice")).to_have_count(1)
    shoot(room_fac, "room-questions-facilitator", dark=True)
    shoot(room_presenter, "room-questions-presenter")
    shoot(room_member, "room-questions-member", dark=True)

    demo.run([(f, "timer_start", {"seconds": 1})], [f])
    expect(room_member.locator("#room-timer [data-timer-label]")).to_have_text("Time's up")
    shoot(room_member, "room-times-up-member")

    demo.run([(f, "next_stage", {}), (f, "next_stage", {})], [f])
    expect(room_presenter.locator("#room-commitments form.commit")).to_be_visible()
    shoot(room_presenter, "room-commitment-presenter")


def main(argv: list[str]) -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    camera = Camera(argv)
    with tempfile.TemporaryDirectory() as tmp:
        db_url = f"sqlite:///{tmp}/demo.db"
        emails = build(db_url)
        port = free_port()
        env = {"SETROOM_PUBLIC_URL": f"http://127.0.0.1:{port}"}
        with Server(db_url, port=port, env=env, log_path=Path(tmp) / "server.log") as server:
            demo = Demo(server, db_url)
            try:
                first_meeting(demo)
                closed = demo.meeting_id
                engine = make_engine(db_url)
                create_meeting(engine, set_id=DEMO_SET_ID, now=now_ms(), scheduled_at=now_ms())
                engine.dispose()
                demo.refresh()
                with sync_playwright() as playwright:
                    browser = playwright.chromium.launch(
                        executable_path=CHROMIUM, headless=True, args=FLAGS
                    )
                    try:
                        walk(browser, demo, emails, camera, closed)
                    finally:
                        browser.close()
            finally:
                demo.close()
    for path in camera.written:
        print(path.relative_to(ROOT))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
