"""The between-meetings acceptance test: two meetings in a row and the programme report.

A facilitator signed in on a laptop and two members on phones (their personal links) run
meeting 1: member 1 bids, presents and records a commitment. The facilitator schedules meeting 2
from the set's schedule page; everyone opens it, and in its report-back member 1 reports on
that commitment through the form while the facilitator watches. Then the programme's lead opens
the programme report: charts with their tables, and nothing that was said. Every wait is a
retrying `expect`, never a sleep.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Locator, Page, ViewportSize, expect

from tests.harness import PASSWORD, SeededSet, Server, seed_set

LAPTOP: ViewportSize = {"width": 1440, "height": 1000}
PHONE: ViewportSize = {"width": 375, "height": 812}

BID_TITLE = "Handing over night shifts without losing the thread"
COMMITMENT = "Run a trial handover checklist on two night shifts"
BY_WHEN = "the end of the month"
LEARNED = "The checklist helped, but the night team wanted fewer items"
NEXT_STEP = "Cut the checklist to five items and try it for a fortnight"

expect.set_options(timeout=10_000)


@pytest.fixture
def seeded(db_url: str) -> tuple[str, SeededSet]:
    """A set whose first meeting is ready to start: no earlier meetings, no commitments."""
    return db_url, seed_set(db_url, members=8)


def button(page: Page, name: str) -> Locator:
    return page.get_by_role("button", name=name, exact=True)


def sign_in(
    browser: Browser, server: Server, email: str, contexts: list[BrowserContext], errors: list[str]
) -> Page:
    context = browser.new_context(viewport=LAPTOP)
    contexts.append(context)
    page = context.new_page()
    page.on("pageerror", lambda exc: errors.append(f"{email}: {exc}"))
    page.goto(server.base + "/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    button(page, "Sign in").click()
    expect(page).to_have_url(re.compile(r"/home$"))
    return page


def open_link(
    browser: Browser, server: Server, token: str, contexts: list[BrowserContext], errors: list[str]
) -> Page:
    """A member's phone opening their personal link, in a fresh context."""
    context = browser.new_context(viewport=PHONE)
    contexts.append(context)
    page = context.new_page()
    page.on("pageerror", lambda exc: errors.append(f"{token[:6]}…: {exc}"))
    enter(page, server.base + "/j/" + token)
    return page


def enter(page: Page, url: str, meeting_id: str | None = None) -> None:
    """Open a room (directly or through a link) and wait until its socket is live."""
    page.goto(url)
    expect(page).to_have_url(re.compile(rf"/meetings/{meeting_id or '[^/]+'}$"))
    expect(page.locator("#room-status .conn__text")).to_have_text("Connected")


def meeting_id_of(page: Page) -> str:
    return page.url.rsplit("/", 1)[1]


def next_phase(title: str, fac: Page, *pages: Page) -> None:
    button(fac, f"Next phase: {title}").click()
    for page in (fac, *pages):
        expect(page.locator("#room-phase .now__title")).to_have_text(title)


def close_meeting(fac: Page, *pages: Page) -> None:
    for title in ("Process review", "Check-out", "Close"):
        next_phase(title, fac, *pages)
    button(fac, "Close the meeting").click()
    for page in (fac, *pages):
        expect(page.locator("#room-phase")).to_contain_text("The meeting has closed")


def shot(page: Page, path: Path) -> None:
    """Save a full-page screenshot, after checking the page fits its width."""
    width = page.evaluate("document.documentElement.scrollWidth")
    assert page.viewport_size is not None
    assert width <= page.viewport_size["width"], f"{path.name}: page is {width}px wide"
    page.screenshot(path=path, full_page=True)


def expect_no_error(*pages: Page) -> None:
    for page in pages:
        expect(page.locator("#room-error")).to_have_text("")


@pytest.mark.e2e
def test_two_meetings_report_back_and_the_programme_report(
    browser: Browser, server: Server, seeded: tuple[str, SeededSet], artifacts: Path
) -> None:
    _, s = seeded
    m1_name = s.names["m1"]

    contexts: list[BrowserContext] = []
    script_errors: list[str] = []
    try:
        # Meeting 1: the facilitator signs in and runs it; two members join on their phones.
        fac = sign_in(browser, server, s.emails[s.facilitator], contexts, script_errors)
        fac.get_by_role("link", name="Run meeting 1").click()
        expect(fac.locator("#room-status .conn__text")).to_have_text("Connected")
        first_id = meeting_id_of(fac)
        assert first_id == s.meeting_id
        m1 = open_link(browser, server, s.tokens["m1"], contexts, script_errors)
        m2 = open_link(browser, server, s.tokens["m2"], contexts, script_errors)
        assert meeting_id_of(m1) == meeting_id_of(m2) == first_id
        members = (m1, m2)
        expect(fac.locator("#room-presence .count")).to_have_text("3/9")

        button(fac, "Start the meeting").click()
        for page in (fac, *members):
            expect(page.locator("#room-phase .now__title")).to_have_text("Check-in")
        next_phase("Report-back", fac, *members)
        # Nobody has anything to report on at a set's first meeting.
        for page in (fac, *members):
            expect(page.locator("#room-report-back")).to_be_hidden()
        next_phase("Bidding for time", fac, *members)
        bids = m1.locator("#room-bids")
        bids.get_by_label("Your issue, in one line").fill(BID_TITLE)
        bids.get_by_label("Minutes").fill("15")
        button(m1, "Place bid").click()
        expect(fac.locator("#room-bids")).to_contain_text(BID_TITLE)
        button(fac, f"Allot 15 minutes to {m1_name}").click()
        expect(m1.locator("#room-bids .mybid")).to_contain_text("Allotted")

        next_phase("Presenter turns", fac, *members)
        for stage in ("Questions", "Reflection", "Commitment"):
            button(fac, f"Next stage: {stage}").click()
            for page in (fac, *members):
                expect(page.locator("#room-phase .stages [aria-current=step]")).to_have_text(stage)
        form = m1.locator("#room-commitments form.commit")
        form.get_by_label("What I will do").fill(COMMITMENT)
        form.get_by_label("By when").fill(BY_WHEN)
        button(m1, "Save commitment").click()
        for page in (fac, *members):
            expect(page.locator("#room-commitments .commitments")).to_contain_text(COMMITMENT)
        expect_no_error(fac, *members)
        close_meeting(fac, *members)
        expect(m1.locator("#room-summary .commitments")).to_contain_text(COMMITMENT)

        # Between meetings: the facilitator schedules meeting 2 from the set's schedule page.
        fac.goto(f"{server.base}/sets/{s.set_id}/meetings")
        expect(fac.get_by_role("heading", name="Schedule meeting 2")).to_be_visible()
        day = date.today() + timedelta(days=28)
        fac.get_by_label("Date", exact=True).fill(day.isoformat())
        fac.get_by_label("Start time").fill("10:00")
        fac.get_by_label("Minutes", exact=True).fill("180")
        button(fac, "Schedule meeting 2").click()
        scheduled = fac.get_by_role("list", name="Meetings").get_by_role("listitem")
        expect(scheduled).to_have_count(2)
        expect(scheduled.filter(has_text="Meeting 2")).to_contain_text("Planned")

        # Meeting 2: the facilitator from home, the members through the same links as before.
        fac.goto(server.base + "/home")
        fac.get_by_role("link", name="Run meeting 2").click()
        expect(fac.locator("#room-status .conn__text")).to_have_text("Connected")
        second_id = meeting_id_of(fac)
        assert second_id != first_id
        for page, pid in ((m1, "m1"), (m2, "m2")):
            enter(page, server.base + "/j/" + s.tokens[pid], second_id)
        expect(fac.locator("#room-presence .count")).to_have_text("3/9")

        button(fac, "Start the meeting").click()
        for page in (fac, *members):
            expect(page.locator("#room-phase .now__title")).to_have_text("Check-in")
        next_phase("Report-back", fac, *members)

        # Member 1 finds last meeting's commitment and reports back on it.
        report = m1.locator("#room-report-back")
        expect(report).to_contain_text(COMMITMENT)
        item = report.locator(".rb__item", has_text=COMMITMENT)
        item.get_by_label("Partly done", exact=True).check()
        item.get_by_label("What I learned", exact=True).fill(LEARNED)
        item.get_by_label("Next step", exact=True).fill(NEXT_STEP)
        button(m1, "Save report").click()
        for page in (fac, *members):
            reported = page.locator("#room-report-back .rb__item", has_text=COMMITMENT)
            expect(reported.locator(".pill")).to_have_text("Partly done")
            expect(reported).to_contain_text(LEARNED)
            expect(reported).to_contain_text(NEXT_STEP)
        # Member 2 has nothing to report and may not report for member 1.
        expect(m2.locator("#room-report-back form")).to_have_count(0)
        expect_no_error(fac, *members)
        # Saving the report swapped its preserved fields without a script error.
        assert script_errors == []
        shot(m1, artifacts / "01-member-report-back-phone.png")
        shot(fac, artifacts / "02-facilitator-report-back.png")

        next_phase("Bidding for time", fac, *members)
        next_phase("Presenter turns", fac, *members)
        close_meeting(fac, *members)
        summary = fac.locator("#room-summary")
        expect(summary).to_contain_text("Reported back")
        expect(summary).to_contain_text(COMMITMENT)

        # The programme's lead reads the report: charts with their tables, no words of members.
        lead = sign_in(browser, server, s.emails[s.lead], contexts, script_errors)
        lead.get_by_role("link", name=f"Report of Programme {s.programme_id}").click()
        expect(lead).to_have_url(re.compile(rf"/programmes/{s.programme_id}/report$"))
        expect(lead.get_by_role("heading", level=1)).to_have_text("Programme report")
        body = lead.locator(".report")
        expect(body).to_contain_text("2 closed meetings")
        figures = body.locator(".figure")
        expect(figures.first).to_be_visible()
        count = figures.count()
        assert count >= 3, count
        for i in range(count):
            figure = figures.nth(i)
            expect(figure.locator("svg").first).to_be_visible()
            expect(figure.locator("table")).to_have_count(1)
        attendance = lead.get_by_role("table", name="Attendance by set")
        # Two of eight members came to each of two meetings.
        row = attendance.get_by_role("row", name=re.compile(r"^Set set-a"))
        expect(row.get_by_role("cell")).to_have_text(
            ["4 of 16", "25.0%", "Below target", "0", "12"]
        )
        commitments = lead.get_by_role(
            "table", name="Commitments by set and how they were reported back"
        )
        # Made, done, partly, not done, changed, not yet reported.
        row = commitments.get_by_role("row", name=re.compile(r"^All sets"))
        expect(row.get_by_role("cell")).to_have_text(["1", "0", "1", "0", "0", "0"])
        text = lead.locator("body").inner_text()
        for said in (COMMITMENT, LEARNED, NEXT_STEP, BID_TITLE, BY_WHEN):
            assert said not in text, said
            assert said not in lead.content(), said
        shot(lead, artifacts / "report.png")

        assert script_errors == []
    finally:
        for context in contexts:
            context.close()
