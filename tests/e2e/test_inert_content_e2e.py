"""What people type stays text, in a real browser (docs/security.md, "What the browser may do").

Names, the set's and programme's names, a prior commitment, an issue title, a question, a new
commitment, a learning-log entry and a feedback comment are each set to a script tag, event
handlers, htmx attributes (a `load` trigger that would fetch a probe address) and template
syntax. Chromium then runs a meeting through the UI, live over the socket (a presenter's, an
asker's and the facilitator's views), and opens the summary, the member's pages, the admin
pages and the lead's report. Everywhere the text shows as typed, and nothing runs: no dialog,
no request to a probe or to another origin, no evaluated template ("49" never appears) and no
Content-Security-Policy violation (which would also mean that markup had got through).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Dialog,
    Locator,
    Page,
    Request,
    expect,
)
from sqlmodel import Session, select

from app.db.database import make_engine
from app.db.meetings import create_meeting
from app.db.tables import CommitmentRecord, LearningSet, Person, Programme
from tests.harness import PASSWORD, SeededSet, Server, now_ms, seed_set

pytestmark = [pytest.mark.e2e, pytest.mark.confidentiality]

PAYLOAD = (
    '<script>alert(1)</script><img src="/probe-img" onerror="alert(2)">'
    '<div hx-get="/probe-hx" hx-trigger="load">hx</div>'
    '"\'><svg onload="alert(3)">{{7*7}}Q ${7*7}Q'
)
EVALUATED = ("49Q",)
"""What `{{7*7}}Q` or `${7*7}Q` would become if any template engine evaluated it."""

expect.set_options(timeout=10_000)


def typed(label: str) -> str:
    return f"{label} {PAYLOAD}"


M1, M2 = typed("Ann"), typed("Bob")
SET_NAME, PROGRAMME = typed("Set"), typed("Programme")
PRIOR, BID, QUESTION = typed("Prior"), typed("Bid"), typed("Question")
COMMITMENT, LOG_ENTRY, COMMENT = typed("Commit"), typed("Log"), typed("Comment")


@pytest.fixture
def seeded(db_url: str) -> tuple[str, SeededSet]:
    """The usual set, then its names and m1's earlier commitment set to the payload, and a
    meeting made after that (a meeting keeps the names it was made with)."""
    s = seed_set(db_url, members=4, prior_for=(1,))
    engine = make_engine(db_url)
    with Session(engine) as session:
        for pid, name in (("m1", M1), ("m2", M2)):
            person = session.get(Person, pid)
            assert person is not None
            person.name = name
            session.add(person)
        learning_set = session.get(LearningSet, s.set_id)
        programme = session.get(Programme, s.programme_id)
        assert learning_set is not None and programme is not None
        learning_set.name, programme.name = SET_NAME, PROGRAMME
        session.add_all([learning_set, programme])
        for record in session.exec(select(CommitmentRecord)).all():
            record.what = PRIOR
            session.add(record)
        session.commit()
    s.meeting_id = create_meeting(engine, set_id=s.set_id, now=now_ms())
    engine.dispose()
    s.names.update(m1=M1, m2=M2)
    return db_url, s


@dataclass
class Watch:
    """Everything a browser did that it should not have."""

    server: Server
    dialogs: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    contexts: list[BrowserContext] = field(default_factory=list)

    def context(self, browser: Browser) -> BrowserContext:
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        self.contexts.append(context)
        context.on("request", self._request)
        context.on("page", self._page)
        return context

    def _page(self, page: Page) -> None:
        page.on("dialog", self._dialog)
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.violations.append(f"script error: {error}"))

    def _dialog(self, dialog: Dialog) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def _console(self, message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            self.violations.append(message.text)

    def _request(self, request: Request) -> None:
        url = request.url
        same_origin = url.startswith((self.server.base + "/", self.server.ws_base + "/"))
        if "probe" in url or not same_origin:
            self.requests.append(url)

    def assert_nothing_ran(self) -> None:
        assert self.dialogs == [], f"dialogs: {self.dialogs}"
        assert self.requests == [], f"unexpected requests: {self.requests}"
        assert self.violations == [], f"policy violations or errors: {self.violations}"


@pytest.fixture
def watch(server: Server) -> Iterator[Watch]:
    watching = Watch(server)
    yield watching
    for context in watching.contexts:
        context.close()


def button(where: Page | Locator, name: str | re.Pattern[str]) -> Locator:
    return where.get_by_role("button", name=name)


def shows_as_typed(page: Page, *texts: str, where: str = "body") -> None:
    for text in texts:
        expect(page.locator(where).first).to_contain_text(text)
    html = page.content()
    for evaluated in EVALUATED:
        assert evaluated not in html, f"{page.url}: a template was evaluated"
    became_markup = 'script:not([src]), [hx-get="/probe-hx"], img[src="/probe-img"], svg[onload]'
    assert page.locator(became_markup).count() == 0, f"{page.url}: the payload became markup"


def join(watch: Watch, browser: Browser, s: SeededSet, server: Server, token: str) -> Page:
    page = watch.context(browser).new_page()
    page.goto(f"{server.base}/j/{token}")
    expect(page).to_have_url(re.compile(r"/meetings/[^/]+$"))
    page.goto(f"{server.base}/meetings/{s.meeting_id}")
    expect(page.locator("#room-status .conn__text")).to_have_text("Connected")
    return page


def visit(page: Page, server: Server, path: str, *texts: str) -> None:
    response = page.goto(server.base + path)
    assert response is not None and response.status == 200, f"{path}: {response}"
    shows_as_typed(page, *texts)


def test_what_people_type_renders_inert_everywhere(
    browser: Browser, server: Server, seeded: tuple[str, SeededSet], watch: Watch
) -> None:
    _, s = seeded
    fac = join(watch, browser, s, server, s.tokens[s.facilitator])
    m1 = join(watch, browser, s, server, s.tokens["m1"])
    m2 = join(watch, browser, s, server, s.tokens["m2"])
    everyone = (fac, m1, m2)
    for page in everyone:
        shows_as_typed(page, SET_NAME)
    shows_as_typed(fac, M1, M2, where="#room-presence")

    # The meeting, live over the socket: each region arrives as an HTML fragment.
    button(fac, "Start the meeting").click()
    button(fac, "Next phase: Report-back").click()
    for page in everyone:
        shows_as_typed(page, PRIOR, where="#room-report-back")
    button(fac, "Next phase: Bidding for time").click()
    bids = m1.locator("#room-bids")
    bids.get_by_label("Your issue, in one line").fill(BID)
    bids.get_by_label("Minutes").fill("15")
    button(m1, "Place bid").click()
    shows_as_typed(fac, BID, where="#room-bids")
    button(fac.locator("#room-bids"), re.compile(r"^Allot 15 minutes to Ann ")).click()
    button(fac, "Next phase: Presenter turns").click()
    for page in everyone:
        shows_as_typed(page, M1, where="#room-phase .presenter")
    button(fac, "Next stage: Questions").click()
    button(m2, "Raise my hand").click()
    shows_as_typed(fac, M2, where="#room-hands")
    button(fac.locator("#room-hands"), re.compile(r"^Call on Bob ")).click()
    m2.get_by_label("Your question").fill(QUESTION)
    button(m2, "Ask").click()
    # The payload does not read as a question: the gentle prompt quotes it back, inert too.
    shows_as_typed(m2, QUESTION, where=".ask-prompt__text")
    button(m2, "Send as it is").click()
    for page in everyone:
        shows_as_typed(page, QUESTION, where="#room-questions")
    button(fac, "Next stage: Reflection").click()
    button(fac, "Next stage: Commitment").click()
    form = m1.locator("#room-commitments form.commit")
    form.get_by_label("What I will do").fill(COMMITMENT)
    form.get_by_label("By when").fill(PAYLOAD)
    button(m1, "Save commitment").click()
    for page in everyone:
        shows_as_typed(page, COMMITMENT, where="#room-commitments")
    for title in ("Process review", "Check-out", "Close"):
        button(fac, f"Next phase: {title}").click()
        expect(fac.locator("#room-phase .now__title")).to_have_text(title)
    button(fac, "Close the meeting").click()
    for page in everyone:
        shows_as_typed(page, BID, COMMITMENT, M1, where="#room-summary")
    watch.assert_nothing_ran()

    # The summary and a member's own pages; the log and feedback go through their forms.
    m = s.meeting_id
    visit(m1, server, f"/meetings/{m}/summary", BID, COMMITMENT, M1, SET_NAME)
    visit(m1, server, f"/sets/{s.set_id}/commitments", COMMITMENT, PRIOR)
    visit(m1, server, f"/meetings/{m}/commitments", COMMITMENT)
    visit(m1, server, f"/sets/{s.set_id}/log")
    m1.get_by_label("What are you learning?").fill(LOG_ENTRY)
    with m1.expect_navigation():
        button(m1, "Keep it").click()
    shows_as_typed(m1, LOG_ENTRY, where=".log")
    visit(m1, server, f"/meetings/{m}/feedback")
    for question in m1.locator("fieldset.rating").all():
        question.get_by_role("radio", name="4", exact=True).check()
    m1.get_by_label("Anything else?").fill(COMMENT)
    with m1.expect_navigation():
        button(m1, "Send feedback").click()
    expect(button(m1, "Save my feedback")).to_be_visible()
    shows_as_typed(m1, COMMENT)

    # The facilitator's pages.
    visit(fac, server, f"/meetings/{m}/summary", BID, COMMITMENT, M1, M2)
    visit(fac, server, f"/meetings/{m}/feedback", COMMENT)
    visit(fac, server, f"/meetings/{m}/attendance", M1, M2)
    visit(fac, server, f"/sets/{s.set_id}/commitments", COMMITMENT, M1)
    visit(fac, server, f"/sets/{s.set_id}/admin", SET_NAME, M1, M2)

    # The lead signs in through the form (a pre-session token) and reads the report.
    lead = watch.context(browser).new_page()
    lead.goto(server.base + "/login")
    lead.get_by_label("Email").fill(s.emails[s.lead])
    lead.get_by_label("Password").fill(PASSWORD)
    button(lead, "Sign in").click()
    expect(lead).to_have_url(re.compile(r"/home$"))
    shows_as_typed(lead, PROGRAMME)
    visit(lead, server, f"/programmes/{s.programme_id}", PROGRAMME, SET_NAME)
    visit(lead, server, f"/programmes/{s.programme_id}/report", PROGRAMME, SET_NAME, M1)
    visit(lead, server, f"/sets/{s.set_id}/admin", SET_NAME, M1)
    visit(lead, server, f"/sets/{s.set_id}/meetings", SET_NAME)
    watch.assert_nothing_ran()


def test_the_policy_refuses_inline_script_and_the_watch_sees_what_runs(
    browser: Browser, server: Server, seeded: tuple[str, SeededSet], watch: Watch
) -> None:
    """The policy as the browser applies it: an inline script the page did not ship is refused,
    so a gap in escaping would still run nothing. And the watch the test above relies on does
    see a dialog and a probe request when there is one."""
    _, s = seeded
    page = join(watch, browser, s, server, s.tokens["m1"])
    watch.assert_nothing_ran()
    ran = page.evaluate(
        """() => new Promise(resolve => {
            document.addEventListener("securitypolicyviolation", e => resolve(e.violatedDirective));
            const s = document.createElement("script");
            s.textContent = "window.__ran = true";
            document.body.appendChild(s);
            setTimeout(() => resolve(window.__ran ? "ran" : "no event"), 2000);
        })"""
    )
    assert ran.startswith("script-src"), ran
    page.evaluate("() => alert('seen')")
    page.evaluate("() => fetch('/probe-seen').then(() => null, () => null)")
    assert watch.dialogs == ["seen"]
    assert [url.removeprefix(server.base) for url in watch.requests] == ["/probe-seen"]
