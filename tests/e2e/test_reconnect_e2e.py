"""A server that dies mid-meeting, seen from the browser: the page says it is reconnecting,
then carries on by itself once the server is back (room.js's capped, jittered backoff)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, ViewportSize, expect

from tests.harness import SeededSet, Server

LAPTOP: ViewportSize = {"width": 1280, "height": 900}
PHONE: ViewportSize = {"width": 375, "height": 812}
BACK_WITHIN_MS = 5_000
"""Each page is back this soon after the server is: its retries are at most 2 s apart."""

pytestmark = [pytest.mark.e2e, pytest.mark.faults]


def _join(browser: Browser, server: Server, token: str, viewport: ViewportSize) -> Page:
    context = browser.new_context(viewport=viewport)
    page = context.new_page()
    page.goto(f"{server.base}/j/{token}")
    expect(page).to_have_url(re.compile(r"/meetings/[^/]+$"))
    expect(page.locator("#room-status .conn__text")).to_have_text("Connected")
    return page


def _moment(page: Page) -> tuple[str, str, int]:
    """The phase, the speaker and the timer's deadline this page shows."""
    deadline = page.locator("#room-timer").get_attribute("data-deadline-ms")
    assert deadline, "the timer is not running"
    return (
        page.locator("#room-phase-h").inner_text(),
        page.locator("#room-speaker .speaker__name").inner_text(),
        int(deadline),
    )


def test_the_page_says_it_is_reconnecting_then_carries_on_by_itself(
    browser: Browser, server: Server, seeded: tuple[str, SeededSet], artifacts: Path
) -> None:
    _, s = seeded
    errors: list[str] = []
    pages: list[Page] = []
    contexts: list[BrowserContext] = []
    try:
        for token, viewport in ((s.tokens[s.facilitator], LAPTOP), (s.tokens["m1"], PHONE)):
            page = _join(browser, server, token, viewport)
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            pages.append(page)
            contexts.append(page.context)
        fac, member = pages
        fac.get_by_role("button", name="Start the meeting", exact=True).click()
        for page in pages:
            expect(page.locator("#room-phase-h")).to_have_text("Check-in")
            expect(page.locator("#room-timer")).to_have_attribute("data-running", "true")
        before = {id(page): _moment(page) for page in pages}
        for page in pages:
            banner = page.locator("#room-connection")
            expect(banner).to_have_attribute("role", "status")
            expect(banner).to_have_attribute("aria-live", "polite")
            expect(banner).to_have_text("")

        server.stop(kill=True)
        for page in pages:
            expect(page.get_by_role("status").filter(has_text="Reconnecting…")).to_be_visible()
            expect(page.locator("#room-connection")).to_have_text("Connection lost. Reconnecting…")
            expect(page.locator("#room-status .conn__text")).to_have_text("Reconnecting…")
        member.screenshot(path=artifacts / "reconnecting-phone.png")

        server.start()
        for page in pages:
            expect(page.locator("#room-connection")).to_have_text("", timeout=BACK_WITHIN_MS)
            expect(page.locator("#room-status .conn__text")).to_have_text("Connected")
            phase, speaker, deadline = _moment(page)
            was_phase, was_speaker, was_deadline = before[id(page)]
            assert (phase, speaker) == (was_phase, was_speaker)
            assert abs(deadline - was_deadline) <= 1000

        # And the meeting carries on, on both pages, without a reload.
        speaker = member.locator("#room-speaker .speaker__name")
        first = speaker.inner_text()
        fac.get_by_role("button", name=re.compile(r"^Next speaker: ")).click()
        expect(speaker).not_to_have_text(first)
        expect(fac.locator("#room-speaker .speaker__name")).to_have_text(speaker.inner_text())
        assert not errors, errors
    finally:
        for context in contexts:
            context.close()
