"""A member switches the room to Welsh from the page's own language switcher, in Chromium, and
the live room follows: Welsh for them, English for the facilitator in the same meeting."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, BrowserContext, expect

from tests.e2e.test_meeting_e2e import LAPTOP, PHONE, button, join
from tests.harness import SeededSet, Server

pytestmark = pytest.mark.e2e


def test_a_member_switches_to_cymraeg_and_the_room_follows_in_welsh(
    browser: Browser, server: Server, seeded: tuple[str, SeededSet]
) -> None:
    _, s = seeded
    contexts: list[BrowserContext] = []
    errors: list[str] = []
    try:
        fac = join(browser, server, s.tokens[s.facilitator], LAPTOP, contexts, errors)
        member = join(browser, server, s.tokens[s.members[0]], PHONE, contexts, errors)
        expect(member.locator("html")).to_have_attribute("lang", "en")

        member.get_by_role("button", name="Cymraeg").click()
        expect(member.locator("html")).to_have_attribute("lang", "cy")
        expect(member).to_have_url(re.compile(r"/meetings/[^/]+$"))
        expect(member.locator("#room-status .conn__text")).to_have_text("Wedi cysylltu")
        expect(member.locator("#room-phase-h")).to_have_text("Yn aros i ddechrau")

        button(fac, "Start the meeting").first.click()
        expect(member.locator("#room-phase-h")).to_have_text("Cyrraedd")
        expect(member.locator("#room-speaker-h")).to_have_text("Yn siarad nawr")
        expect(fac.locator("#room-phase-h")).to_have_text("Check-in")
        expect(fac.locator("html")).to_have_attribute("lang", "en")

        # And back: the switcher offers English in its own name.
        member.get_by_role("button", name="English").click()
        expect(member.locator("html")).to_have_attribute("lang", "en")
        expect(member.locator("#room-phase-h")).to_have_text("Check-in")
        assert errors == []
    finally:
        for context in contexts:
            context.close()
