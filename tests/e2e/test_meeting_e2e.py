"""The issue's acceptance test: a whole meeting, driven through the real UI in real browsers.

A facilitator on a laptop and two members on phones (m1 presents, m2 asks) each open their own
join link in their own browser context and run a meeting end to end by clicking the buttons and
typing in the forms a person would use. Every wait is a retrying `expect`, never a sleep.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Locator, Page, ViewportSize, expect

from tests.harness import SeededSet, Server

LAPTOP: ViewportSize = {"width": 1440, "height": 1000}
PHONE: ViewportSize = {"width": 375, "height": 812}
MMSS = re.compile(r"^\d{2}:\d{2}$")

BID_TITLE = "Getting two teams to share one rota"
QUESTION = "What would change for you if the rota were shared?"
COMMITMENT = "Hold a joint rota meeting with both team leads"

expect.set_options(timeout=10_000)


def button(page: Page, name: str | re.Pattern[str], *, exact: bool = True) -> Locator:
    return page.get_by_role("button", name=name, exact=exact)


def join(
    browser: Browser,
    server: Server,
    token: str,
    viewport: ViewportSize,
    contexts: list[BrowserContext],
    errors: list[str],
) -> Page:
    """Open a personal link in a fresh context and wait until the room's socket is live. The
    context joins `contexts` (to close); uncaught script errors are collected in `errors`."""
    context = browser.new_context(viewport=viewport)
    contexts.append(context)
    page = context.new_page()
    page.on("pageerror", lambda exc: errors.append(f"{token[:6]}…: {exc}"))
    page.goto(server.base + "/j/" + token)
    expect(page).to_have_url(re.compile(r"/meetings/[^/]+$"))
    expect(page.locator("#room-status .conn__text")).to_have_text("Connected")
    return page


def shot(page: Page, path: Path) -> None:
    """Save a screenshot, after checking the page fits its width (no sideways scroll)."""
    width = page.evaluate("document.documentElement.scrollWidth")
    assert page.viewport_size is not None
    assert width <= page.viewport_size["width"], f"{path.name}: page is {width}px wide"
    page.screenshot(path=path, full_page=True)


def expect_no_error(*pages: Page) -> None:
    for page in pages:
        expect(page.locator("#room-error")).to_have_text("")


def expect_clock(page: Page) -> None:
    timer = page.locator("#room-timer")
    expect(timer).to_be_visible()
    expect(timer.get_by_role("timer")).to_have_text(MMSS)


@pytest.mark.e2e
def test_a_whole_meeting_in_three_browsers(
    browser: Browser, server: Server, seeded: tuple[str, SeededSet], artifacts: Path
) -> None:
    _, s = seeded
    m1_name, m2_name = s.names["m1"], s.names["m2"]

    contexts: list[BrowserContext] = []
    script_errors: list[str] = []
    try:
        fac = join(browser, server, s.tokens[s.facilitator], LAPTOP, contexts, script_errors)
        m1 = join(browser, server, s.tokens["m1"], PHONE, contexts, script_errors)
        m2 = join(browser, server, s.tokens["m2"], PHONE, contexts, script_errors)
        everyone = (fac, m1, m2)

        for page in everyone:
            expect(page.locator("#room-phase")).to_contain_text("Waiting to begin")
        # Everyone's presence reaches the facilitator's roster.
        presence = fac.locator("#room-presence")
        expect(presence.locator(".count")).to_have_text("3/9")
        for pid in (s.facilitator, "m1", "m2"):
            row = presence.locator(".person", has_text=s.names[pid])
            expect(row).to_contain_text("Online")
        shot(fac, artifacts / "01-facilitator-dashboard-start.png")

        # A member's page carries no facilitator controls.
        for member in (m1, m2):
            expect(member.locator("#room-controls")).to_be_hidden()
            expect(button(member, re.compile(r"^Start"), exact=False)).to_have_count(0)
            expect(button(member, re.compile(r"^Next phase"), exact=False)).to_have_count(0)

        # 1. Start: everyone is in check-in, with a running countdown.
        button(fac, "Start the meeting").click()
        for page in everyone:
            expect(page.locator("#room-phase")).to_contain_text("Check-in")
            expect_clock(page)
        for member in (m1, m2):
            expect(member.locator("#room-controls")).to_be_hidden()
            expect(button(member, re.compile(r"^Next (phase|stage)"), exact=False)).to_have_count(0)
            expect(button(member, re.compile(r"^Start"), exact=False)).to_have_count(0)
        shot(fac, artifacts / "02-facilitator-check-in.png")

        # 2. Report-back (m1 has a commitment from last time), then bidding.
        button(fac, "Next phase: Report-back").click()
        for page in everyone:
            expect(page.locator("#room-phase")).to_contain_text("Report-back")
        expect(m1.locator("#room-report-back")).to_contain_text("Commitment of member 1")
        button(fac, "Next phase: Bidding for time").click()
        for page in everyone:
            expect(page.locator("#room-phase")).to_contain_text("Bidding for time")
        bids = m1.locator("#room-bids")
        bids.get_by_label("Your issue, in one line").fill(BID_TITLE)
        bids.get_by_label("Minutes").fill("15")
        button(m1, "Place bid").click()
        fac_bids = fac.locator("#room-bids")
        expect(fac_bids).to_contain_text(BID_TITLE)
        button(fac, f"Allot 15 minutes to {m1_name}").click()
        expect(m1.locator("#room-bids .mybid")).to_contain_text("Allotted")
        expect(fac_bids).to_contain_text("The plan fits")

        # 3. Presenter turns: m1 presents, then the questions stage.
        button(fac, "Next phase: Presenter turns").click()
        for page in everyone:
            phase = page.locator("#room-phase")
            expect(phase).to_contain_text("Presenter turns")
            expect(phase.locator(".presenter")).to_contain_text(m1_name)
            expect(phase.locator(".stages [aria-current=step]")).to_have_text("Present")
            expect_clock(page)
        button(fac, "Next stage: Questions").click()
        for page in everyone:
            expect(page.locator("#room-phase .stages [aria-current=step]")).to_have_text(
                "Questions"
            )
            expect(page.locator("#room-speaker")).to_contain_text("Open for questions")

        # 4. m2 raises a hand; the facilitator calls on them.
        button(m2, "Raise my hand").click()
        expect(m2.locator("#room-hands")).to_contain_text("Your hand is up")
        fac_hands = fac.locator("#room-hands")
        expect(fac_hands.locator(".queue")).to_contain_text(m2_name)
        button(fac, f"Call on {m2_name}").click()
        for page in everyone:
            expect(page.locator("#room-speaker .speaker__name")).to_have_text(m2_name)
        expect(fac_hands).to_contain_text("No hands raised")

        # 5. m2 types a question; the presenter sees it and stars it.
        m2.get_by_label("Your question").fill(QUESTION)
        button(m2, "Ask").click()
        expect(m2.get_by_label("Your question")).to_have_value("")
        m1_questions = m1.locator("#room-questions")
        expect(m1_questions).to_contain_text(QUESTION)
        expect(m1_questions).to_contain_text(m2_name)
        button(m1, "Star this question to keep it").click()
        expect(m1_questions.locator(".question--starred")).to_contain_text(QUESTION)
        for page in (fac, m2):
            expect(page.locator("#room-questions .question--starred")).to_contain_text(QUESTION)
        expect_no_error(*everyone)
        shot(fac, artifacts / "03-facilitator-questions.png")
        shot(m1, artifacts / "04-presenter-questions.png")
        shot(m2, artifacts / "05-member-questions.png")

        # 6. Reflection, then commitment: m1 records what they will do.
        button(fac, "Next stage: Reflection").click()
        for page in everyone:
            expect(page.locator("#room-phase .stages [aria-current=step]")).to_have_text(
                "Reflection"
            )
        button(fac, "Next stage: Commitment").click()
        for page in everyone:
            expect(page.locator("#room-phase .stages [aria-current=step]")).to_have_text(
                "Commitment"
            )
        form = m1.locator("#room-commitments form.commit")
        form.get_by_label("What I will do").fill(COMMITMENT)
        form.get_by_label("By when").fill("Before the next meeting")
        form.get_by_label("How I will know").fill("Both leads sign off one rota")
        form.get_by_label("Support wanted from the set").fill("Someone to ask me how it went")
        button(m1, "Save commitment").click()
        for page in everyone:
            commitments = page.locator("#room-commitments .commitments")
            expect(commitments).to_contain_text(COMMITMENT)
            expect(commitments).to_contain_text("Before the next meeting")
        expect(fac.locator("#room-commitments")).to_contain_text("Both leads sign off one rota")
        expect_no_error(*everyone)
        shot(fac, artifacts / "06-facilitator-commitment.png")
        shot(m1, artifacts / "07-presenter-commitment.png")

        # 7. On through the closing rounds to the close, and close the meeting.
        for title in ("Process review", "Check-out", "Close"):
            button(fac, f"Next phase: {title}").click()
            for page in everyone:
                expect(page.locator("#room-phase .now__title")).to_have_text(title)
        button(fac, "Close the meeting").click()
        for page in everyone:
            expect(page.locator("#room-phase")).to_contain_text("The meeting has closed")
            summary = page.locator("#room-summary")
            expect(summary).to_be_visible()
            expect(summary.locator(".commitments")).to_contain_text(COMMITMENT)
            expect(summary).to_contain_text(BID_TITLE)
            attendance = summary.locator(".attendance")
            for pid in (s.facilitator, "m1", "m2"):
                row = attendance.locator(".attendance__item", has_text=s.names[pid])
                expect(row).to_contain_text("Present")
            expect(attendance.locator(".attendance__item", has_text="Member 3")).to_contain_text(
                "Absent"
            )
            expect(summary.locator(".subhead .count").first).to_have_text("3 of 9")
            expect(page.locator("#room-controls")).to_be_hidden()
        shot(fac, artifacts / "08-facilitator-summary.png")
        shot(m1, artifacts / "09-presenter-summary.png")
        shot(m2, artifacts / "10-member-summary.png")

        assert script_errors == []
    finally:
        for context in contexts:
            context.close()
