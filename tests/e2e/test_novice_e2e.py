"""A novice facilitator runs a turn with the prompts, in real browsers.

The facilitator hands the controls to a member and watches; the member (m3) runs the meeting
by the "What to do now" panel alone, pressing the suggested step each time, through the rounds
and a whole presenter turn: m1 presents and keeps a private note, m2's advice gets the gentle
prompt and is put as a question tagged with a GROW stage. The facilitator then takes the
controls back and sees the set's airtime. Every wait is a retrying `expect`, never a sleep.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.e2e.conftest import ARTIFACTS
from tests.e2e.test_meeting_e2e import LAPTOP, PHONE, button, join, shot
from tests.harness import SeededSet, Server

ADVICE = "You should talk to your manager first"
QUESTION = "What would your manager say if you asked?"
NOTE = "Nobody asked about the money: that is where I am stuck"
COMMITMENT = "Ask my manager for half an hour this week"

expect.set_options(timeout=10_000)


def follow(novice: Page, until: str) -> None:
    """Press the suggested step until the prompt says `until`."""
    coach = novice.locator("#room-coach")
    step = coach.locator("[data-coach-next]")
    for _ in range(30):
        text = step.inner_text()
        if until in text:
            return
        coach.locator("form button").click()
        expect(step).not_to_have_text(text)
    raise AssertionError(f"the prompts never said {until!r}")


@pytest.mark.e2e
def test_a_novice_facilitator_runs_a_turn_with_the_prompts(
    browser: Browser, server: Server, seeded: tuple[str, SeededSet], artifacts: Path
) -> None:
    _, s = seeded
    novice_name = s.names["m3"]
    contexts: list[BrowserContext] = []
    errors: list[str] = []
    try:
        fac = join(browser, server, s.tokens[s.facilitator], LAPTOP, contexts, errors)
        novice = join(browser, server, s.tokens["m3"], LAPTOP, contexts, errors)
        m1 = join(browser, server, s.tokens["m1"], PHONE, contexts, errors)
        m2 = join(browser, server, s.tokens["m2"], PHONE, contexts, errors)

        # The experienced facilitator hands the controls to m3 and watches.
        fac.get_by_label("Member to hand the controls to").select_option(label=novice_name)
        fac.get_by_label("Watch without the controls").check()
        button(fac, "Hand over").click()
        controls = fac.locator("#room-controls")
        expect(controls).to_contain_text(f"{novice_name} holds the controls")
        expect(button(fac, "Start the meeting")).to_have_count(0)
        expect(button(fac, "Take back the controls")).to_be_visible()
        coach = novice.locator("#room-coach")
        expect(coach).to_contain_text("remind the set of its ground rules")
        expect(coach.locator("[data-coach-next]")).to_have_text(
            "When everyone is here, start the meeting."
        )
        for other in (fac, m1, m2):
            expect(other.locator("#room-coach")).to_be_hidden()

        # Through the check-in and report-back rounds by the suggested steps alone.
        follow(novice, "Allot time to those who bid")
        expect(novice.locator("#room-phase")).to_contain_text("Bidding for time")
        m1.locator("#room-bids").get_by_label("Your issue, in one line").fill("A stuck budget")
        button(m1, "Place bid").click()
        button(novice, f"Allot 20 minutes to {s.names['m1']}").click()
        follow(novice, f"When {s.names['m1']} has finished presenting, open the questions.")
        expect(coach).to_contain_text("Everyone else listens without interrupting.")
        follow(novice, "When the questions run dry, invite the presenter to reflect.")
        expect(coach).to_contain_text("Questions only, no advice.")

        # Advice gets a gentle prompt; m2 edits it into a question tagged "Reality".
        m2.get_by_label("Your question").fill(ADVICE)
        button(m2, "Ask").click()
        prompt = m2.locator("#room-error")
        expect(prompt).to_contain_text("That sounds like advice")
        expect(button(m2, "Send as it is")).to_be_visible()
        prompt.get_by_text("Edit", exact=True).click()
        edit = prompt.get_by_label("Put it as a question")
        expect(edit).to_have_value(ADVICE)
        edit.fill(QUESTION)
        button(m2, "Ask this question").click()
        expect(prompt).to_have_text("")
        questions = m1.locator("#room-questions")
        expect(questions).to_contain_text(QUESTION)
        expect(questions).not_to_contain_text(ADVICE)
        m2.locator("#room-questions").get_by_role("button", name="Tag as Reality").click()
        for page in (m1, novice, fac):
            expect(page.locator("#room-questions .grow__stage--covered")).to_contain_text("Reality")

        # A hand goes up: the prompt says to call on it.
        button(m2, "Raise my hand").click()
        expect(coach.locator("[data-coach-next]")).to_have_text(
            f"{s.names['m2']} has a hand up: call on them."
        )
        shot(novice, ARTIFACTS / "novice-prompts.png")
        shot(novice, artifacts / "novice-questions.png")
        coach.get_by_role("button", name=f"Call on {s.names['m2']}").click()
        for page in (m1, m2, novice):
            expect(page.locator("#room-speaker .speaker__name")).to_have_text(s.names["m2"])

        # Reflection: the presenter keeps a note only they can see.
        follow(novice, f"When {s.names['m1']} has reflected, invite them to commit to an action.")
        m1.get_by_label("A note to keep").fill(NOTE)
        button(m1, "Keep note").click()
        expect(m1.locator("#room-notes")).to_contain_text(NOTE)
        for page in (fac, novice, m2):
            expect(page.locator("#room-notes")).to_be_hidden()
            assert NOTE not in page.content()

        # Commitment: the prompt waits for one, then suggests finishing the turn.
        follow(novice, f"Once {s.names['m1']} has a commitment, record it below.")
        form = m1.locator("#room-commitments form.commit")
        form.get_by_label("What I will do").fill(COMMITMENT)
        button(m1, "Save commitment").click()
        expect(coach.locator("[data-coach-next]")).to_have_text(
            f"Thank {s.names['m1']}: that was the last turn."
        )
        coach.get_by_role("button", name="Finish the turns").click()
        expect(novice.locator("#room-phase .stages")).to_have_count(0)

        # The facilitator takes the controls back and sees who has held the floor.
        button(fac, "Take back the controls").click()
        expect(novice.locator("#room-coach")).to_be_hidden()
        expect(button(fac, re.compile(r"^Next phase"), exact=False)).to_be_visible()
        airtime = fac.locator("#room-airtime")
        expect(airtime).to_contain_text(s.names["m1"])
        expect(airtime).to_contain_text(s.names["m2"])
        expect(m2.locator("#room-airtime")).to_be_hidden()
        assert errors == []
    finally:
        for context in contexts:
            context.close()


@pytest.mark.e2e
def test_a_choice_in_the_controls_survives_someone_joining(
    browser: Browser, server: Server, seeded: tuple[str, SeededSet]
) -> None:
    """The facilitator picks who gets the controls; someone joins (the controls re-render)
    before they press Hand over: the controls go to the one they picked."""
    _, s = seeded
    contexts: list[BrowserContext] = []
    errors: list[str] = []
    try:
        fac = join(browser, server, s.tokens[s.facilitator], LAPTOP, contexts, errors)
        fac.get_by_label("Member to hand the controls to").select_option(label=s.names["m3"])
        fac.get_by_label("Watch without the controls").check()
        join(browser, server, s.tokens["m5"], PHONE, contexts, errors)
        joined = fac.locator("#room-presence li", has_text=s.names["m5"])
        expect(joined).to_contain_text("Online")
        expect(fac.get_by_label("Member to hand the controls to")).to_have_value("m3")
        expect(fac.get_by_label("Watch without the controls")).to_be_checked()
        button(fac, "Hand over").click()
        expect(fac.locator("#room-controls")).to_contain_text(f"{s.names['m3']} holds the controls")
        assert errors == [], errors
    finally:
        for context in contexts:
            context.close()
