"""The issue's set-up test: from a new programme to a locked meeting, through the real UI.

A lead signs in and builds a programme, a set and its membership (a pasted CSV); the set's
facilitator signs in, schedules the first meeting, downloads its calendar and issues the join
links; one member opens their link on a phone, accepts the ground rules and enters the room;
the facilitator locks the meeting, and a second member waits in the lobby until let in. Each
person has their own browser context; every wait is a retrying `expect`, never a sleep.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import icalendar
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, ViewportSize, expect

from tests.harness import PASSWORD, SeededSet, Server, free_port

LAPTOP: ViewportSize = {"width": 1280, "height": 900}
PHONE: ViewportSize = {"width": 375, "height": 812}

PROGRAMME = "Leading Across Boundaries 2025"
ORGANISATIONS = ("Harbourside Hospital", "Eastgate District Council")
SET_NAME = "Set Kestrel"
MEMBERS = [
    ("Ana Silva", "ana.silva@example.org", ORGANISATIONS[0]),
    ("Ben Okafor", "ben.okafor@example.org", ORGANISATIONS[1]),
    ("Chloe Martin", "chloe.martin@example.org", ORGANISATIONS[0]),
    ("Dev Patel", "dev.patel@example.org", ORGANISATIONS[1]),
    ("Erin Walsh", "", ORGANISATIONS[0]),
    ("Femi Adeyemi", "femi.adeyemi@example.org", ORGANISATIONS[1]),
]
MEMBER_A, MEMBER_B = MEMBERS[0], MEMBERS[1]
JOIN_LINK = re.compile(r"/j/[A-Za-z0-9_\-]{16,}")

expect.set_options(timeout=10_000)


@pytest.fixture
def server(seeded: tuple[str, SeededSet], tmp_path: Path) -> Iterator[Server]:
    """The app, told its own address: the join links it shows must open in a browser."""
    port = free_port()
    env = {"SETROOM_PUBLIC_URL": f"http://127.0.0.1:{port}"}
    with Server(seeded[0], port=port, env=env, log_path=tmp_path / "server.log") as running:
        yield running


def sign_in(browser: Browser, server: Server, email: str, contexts: list[BrowserContext]) -> Page:
    context = browser.new_context(viewport=LAPTOP, accept_downloads=True)
    contexts.append(context)
    page = context.new_page()
    page.goto(server.base + "/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/home$"))
    return page


def open_link(
    browser: Browser, url: str, contexts: list[BrowserContext], errors: list[str]
) -> Page:
    """A member's phone opening their personal link, in a fresh context."""
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    contexts.append(context)
    page = context.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(url)
    # The token is exchanged for a cookie and left out of the address bar.
    expect(page).to_have_url(re.compile(r"/meetings/[^/]+$"))
    return page


def accept_rules(page: Page) -> None:
    expect(
        page.get_by_role("heading", name="Before your first meeting: our ground rules")
    ).to_be_visible()
    page.get_by_role("button", name="I accept the ground rules").click()


def shot(page: Page, path: Path) -> None:
    page.screenshot(path=path, full_page=True)


@pytest.mark.e2e
def test_a_lead_sets_up_and_a_locked_meeting_lets_members_in(
    browser: Browser, server: Server, seeded: tuple[str, SeededSet], artifacts: Path
) -> None:
    _, s = seeded
    contexts: list[BrowserContext] = []
    script_errors: list[str] = []
    try:
        # 1. The lead: a programme, its organisations, a set, its facilitator and members.
        lead = sign_in(browser, server, s.emails[s.lead], contexts)
        lead.get_by_role("link", name="New programme").click()
        lead.get_by_label("Programme name").fill(PROGRAMME)
        lead.get_by_role("button", name="Create programme").click()
        expect(lead.get_by_role("heading", level=1)).to_have_text(PROGRAMME)
        expect(lead.get_by_role("status")).to_contain_text("Programme created")
        for organisation in ORGANISATIONS:
            lead.get_by_label("Add an organisation").fill(organisation)
            lead.get_by_role("button", name="Add", exact=True).click()
            expect(lead.get_by_role("status")).to_have_text("Organisation added.")
            expect(lead.locator(".chips")).to_contain_text(organisation)

        lead.get_by_label("Set name").fill(SET_NAME)
        lead.get_by_role("button", name="Create set").click()
        expect(lead).to_have_url(re.compile(r"/sets/[^/]+/admin\?done=created$"))
        expect(lead.get_by_role("heading", level=1)).to_have_text(f"{SET_NAME}: members and links")
        lead.get_by_label("Add a facilitator by their account's email").fill(s.emails["f"])
        lead.get_by_role("button", name="Add facilitator").click()
        expect(lead.get_by_role("status").filter(has_text="Facilitator added.")).to_be_visible()
        expect(lead.get_by_text("Too few members")).to_be_visible()
        facilitators = lead.get_by_role("table", name=f"Facilitators of {SET_NAME}")
        expect(facilitators).to_contain_text(s.names["f"])
        admin_url = lead.url.split("?")[0]

        lead.get_by_role("link", name="Import from CSV").click()
        csv_text = "name,email,organisation\n" + "".join(
            f"{name},{email},{org}\n" for name, email, org in MEMBERS
        )
        lead.get_by_label("Or paste the list").fill(csv_text)
        lead.get_by_role("button", name="Check and import").click()
        expect(lead.get_by_role("heading", level=1)).to_have_text(f"Added to {SET_NAME}")
        lead.get_by_role("link", name=f"Back to {SET_NAME}").click()
        members_table = lead.get_by_role("table", name=f"Members of {SET_NAME}")
        expect(members_table.locator("tbody tr")).to_have_count(len(MEMBERS))
        for name, _email, org in MEMBERS:
            row = members_table.get_by_role("row").filter(has_text=name)
            expect(row).to_contain_text(org)
            expect(row).to_contain_text("Not yet")
        expect(
            lead.get_by_role("heading", name=f"Members {len(MEMBERS)}", exact=True)
        ).to_be_visible()
        expect(lead.get_by_text("Too few members")).to_have_count(0)
        # A lead never sees, nor can issue, a join link.
        expect(lead.get_by_role("button", name="New links for every member")).to_have_count(0)
        expect(lead.get_by_role("button", name=re.compile(r"^New link for"))).to_have_count(0)
        assert JOIN_LINK.search(lead.content()) is None
        shot(lead, artifacts / "01-lead-set-admin-after-import.png")

        # 2. The facilitator: schedule the first meeting, its calendar, the members' links.
        fac = sign_in(browser, server, s.emails["f"], contexts)
        fac.get_by_role("link", name=f"Members and links of {SET_NAME}").click()
        expect(fac).to_have_url(admin_url)
        fac.get_by_role("link", name="Meetings and ground rules").click()
        expect(fac.get_by_role("heading", level=1)).to_have_text(f"{SET_NAME}: meetings")
        expect(fac.get_by_text("No meetings yet.")).to_be_visible()
        day = date.today() + timedelta(days=14)
        fac.get_by_label("Date", exact=True).fill(day.isoformat())
        fac.get_by_label("Start time").fill("10:00")
        fac.get_by_label("Minutes", exact=True).fill("180")
        fac.get_by_label("Time zone").select_option("Europe/London")
        fac.get_by_role("button", name="Schedule meeting 1").click()
        meetings = fac.get_by_role("list", name="Meetings")
        expect(meetings.get_by_role("listitem")).to_have_count(1)
        first = meetings.get_by_role("listitem").first
        expect(first).to_contain_text("Meeting 1")
        expect(first).to_contain_text("Planned")
        expect(first).to_contain_text(f"{day.day} {day:%b %Y}, 10:00")
        expect(fac.get_by_role("heading", name="Schedule meeting 2")).to_be_visible()
        shot(fac, artifacts / "02-facilitator-schedule.png")

        with fac.expect_download() as download_info:
            fac.get_by_role("link", name="Download the calendar (.ics)").click()
        download = download_info.value
        assert download.suggested_filename.endswith(".ics")
        calendar = icalendar.Calendar.from_ical(Path(download.path()).read_bytes())
        events = list(calendar.walk("VEVENT"))
        assert len(events) == 1
        event = events[0]
        assert str(event["SUMMARY"]) == f"{SET_NAME}: meeting 1"
        start = event.decoded("DTSTART")
        assert start.date() == day
        assert event.decoded("DTEND") - start == timedelta(minutes=180)
        assert "/j/" not in str(event.get("DESCRIPTION", ""))

        fac.get_by_role("link", name="Members and links").click()
        fac.get_by_role("button", name="New links for every member").click()
        expect(fac.get_by_role("heading", level=1)).to_have_text(f"{len(MEMBERS)} new links")
        expect(fac.get_by_role("status")).to_contain_text("shown only once")
        expect(fac.get_by_text("Their old links have stopped working")).to_be_visible()
        expect(fac.locator("ol.links > li")).to_have_count(len(MEMBERS))
        shot(fac, artifacts / "02b-facilitator-new-links.png")
        links = {
            who[0]: fac.get_by_label(re.compile(rf"^{re.escape(who[0])}\b")).input_value()
            for who in (MEMBER_A, MEMBER_B)
        }
        for url in links.values():
            assert JOIN_LINK.search(url), url
        assert links[MEMBER_A[0]] != links[MEMBER_B[0]]

        # 3. Member A on a phone: the ground rules, then the room.
        member_a = open_link(browser, links[MEMBER_A[0]], contexts, script_errors)
        expect(member_a.get_by_role("button", name="I accept the ground rules")).to_be_visible()
        shot(member_a, artifacts / "03-member-ground-rules-phone.png")
        accept_rules(member_a)
        expect(member_a.locator("#room-status .conn__text")).to_have_text("Connected")
        expect(member_a.locator("#room-status")).to_contain_text(MEMBER_A[0])
        expect(member_a.locator("#room-phase")).to_contain_text("Waiting to begin")
        # A marker that survives only if A's page is never reloaded.
        member_a.evaluate("window.__neverReloaded = true")

        # 4. The facilitator runs the meeting and locks it; member B waits to be let in.
        fac.goto(server.base + "/home")
        set_row = fac.get_by_role("listitem").filter(has_text=SET_NAME)
        set_row.get_by_role("link", name="Run meeting 1").click()
        expect(fac.locator("#room-status .conn__text")).to_have_text("Connected")
        presence = fac.locator("#room-presence")
        expect(presence.locator(".person", has_text=MEMBER_A[0])).to_contain_text("Online")
        lobby_group = fac.get_by_role("group", name="Lobby")
        lobby_group.get_by_role("button", name="Lock the meeting").click()
        expect(lobby_group).to_contain_text("Locked: newcomers wait here")
        expect(lobby_group).to_contain_text("Nobody is waiting.")

        member_b = open_link(browser, links[MEMBER_B[0]], contexts, script_errors)
        accept_rules(member_b)
        expect(member_b.get_by_role("heading", name="Waiting to come in")).to_be_visible()
        expect(member_b.locator("#room-lobby")).to_contain_text("locked this meeting")
        # Nothing of the room reaches the lobby: no roster names, no room regions.
        expect(member_b.locator("#room-phase")).to_have_count(0)
        expect(member_b.locator("body")).not_to_contain_text(MEMBER_A[0])
        shot(member_b, artifacts / "04-member-lobby.png")

        waiting = lobby_group.get_by_role("list", name="Waiting to come in")
        expect(waiting).to_contain_text(MEMBER_B[0])
        waiting.get_by_role("button", name=f"Let {MEMBER_B[0]} in").click()
        expect(member_b.locator("#room-phase")).to_be_visible()
        expect(member_b.locator("#room-phase")).to_contain_text("Waiting to begin")
        expect(member_b.locator("#room-status .conn__text")).to_have_text("Connected")
        expect(member_b.locator("#room-status")).to_contain_text(MEMBER_B[0])
        expect(lobby_group).to_contain_text("Nobody is waiting.")
        expect(presence.locator(".person", has_text=MEMBER_B[0])).to_contain_text("Online")
        shot(member_b, artifacts / "05-member-room-after-admission.png")

        # Member A was never interrupted: same page, still connected, no error.
        assert member_a.evaluate("window.__neverReloaded === true")
        expect(member_a.locator("#room-status .conn__text")).to_have_text("Connected")
        expect(member_a.locator("#room-error")).to_have_text("")
        expect(member_a.locator("#room-presence")).to_contain_text(MEMBER_B[0])

        # The facilitator sees who has accepted the ground rules.
        fac.goto(admin_url.replace("/admin", "/meetings"))
        accepted = fac.get_by_role("list", name="Who has accepted the ground rules")
        for name in (MEMBER_A[0], MEMBER_B[0]):
            expect(accepted.get_by_role("listitem").filter(has_text=name)).to_contain_text(
                "Accepted"
            )
        expect(fac.get_by_text(f"2 of {len(MEMBERS)} have.")).to_be_visible()

        assert script_errors == []
    finally:
        for context in contexts:
            context.close()
