"""Web hardening on a real server (docs/security.md, "Forms and requests" and "What the
browser may do"): every form on every page carries the CSRF token of the browser's cookie, a
POST without it (or with another browser's) is refused and changes nothing, and every answer
carries the security headers, with no inline script, handler or style for the policy to need."""

from __future__ import annotations

import asyncio
import json
import re
from html.parser import HTMLParser

import httpx

from app.web.csrf import PRE_SESSION_COOKIE, REFUSED, SAFE_METHODS, token_for
from app.web.security_headers import CONTENT_SECURITY_POLICY
from tests.harness import (
    CSRF,
    RoomClient,
    SeededSet,
    Server,
    csrf_from_page,
    session_cookie,
    sign_in,
)
from tests.integration.test_matrix import app_routes

HTML = {"accept": "text/html"}


class Page(HTMLParser):
    """What the checks need from a page: its forms that post, <body>'s htmx headers, and any
    inline script, event-handler attribute or inline style."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.forms: list[dict[str, str]] = []  # action -> the token its hidden field holds
        self.body_headers: dict[str, str] = {}
        self.inline: list[str] = []
        self._form: dict[str, str] | None = None
        self._script_has_src = True
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = {k: v or "" for k, v in attrs}
        self.inline += [f"<{tag} {k}=…>" for k in named if k.startswith("on") or k == "style"]
        if tag == "style":
            self.inline.append("<style>")
        if tag == "script":
            self._script_has_src = bool(named.get("src"))
            if not self._script_has_src:
                self.inline.append("<script> without src")
        if tag == "body":
            self.body_headers = json.loads(named.get("hx-headers", "{}"))
        if tag == "form" and named.get("method", "get").lower() == "post":
            self._form = {"action": named.get("action", ""), "token": ""}
            self.forms.append(self._form)
        if tag == "input" and self._form is not None and named.get("name") == "csrf_token":
            self._form["token"] = named.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None


def _close_meeting(server: Server, seeded: SeededSet) -> None:
    async def run() -> None:
        cookie = sign_in(server, seeded.emails[seeded.facilitator])
        fac = await RoomClient(server, seeded.meeting_id, cookie).connect()
        try:
            await fac.command("start_meeting")
            await fac.command("close_meeting")
        finally:
            await fac.close()

    asyncio.run(run())


def _check_headers(path: str, response: httpx.Response, wrong: list[str]) -> None:
    expected = {
        "content-security-policy": CONTENT_SECURITY_POLICY,
        "x-content-type-options": "nosniff",
        "referrer-policy": "no-referrer",
        "x-frame-options": "DENY",
    }
    for name, value in expected.items():
        if response.headers.get(name) != value:
            wrong.append(f"{path}: {name} is {response.headers.get(name)!r}")
    if "no-store" not in response.headers.get("cache-control", ""):
        wrong.append(f"{path}: cached ({response.headers.get('cache-control')!r})")


def test_every_page_carries_the_headers_and_every_form_its_token(
    server: Server, seeded: SeededSet
) -> None:
    _close_meeting(server, seeded)
    s, m, p = seeded.set_id, seeded.meeting_id, seeded.programme_id
    member = session_cookie(server, seeded.tokens[seeded.members[0]])
    facilitator = sign_in(server, seeded.emails[seeded.facilitator])
    lead = sign_in(server, seeded.emails[seeded.lead])
    pages: dict[str | None, list[str]] = {
        None: ["/", "/login", "/password/forgot"],
        member: [
            f"/meetings/{m}",
            f"/meetings/{m}/summary",
            f"/meetings/{m}/summary.csv",
            f"/meetings/{m}/feedback",
            f"/meetings/{m}/calendar.ics",
            f"/sets/{s}/commitments",
            f"/sets/{s}/log",
            f"/sets/{s}/calendar.ics",
        ],
        facilitator: [
            "/home",
            f"/meetings/{m}",
            f"/meetings/{m}/attendance",
            f"/sets/{s}/admin",
            f"/sets/{s}/import",
            f"/sets/{s}/meetings",
            f"/sets/{s}/template",
            f"/sets/{s}/commitments",
        ],
        lead: [
            "/programmes/new",
            f"/programmes/{p}",
            f"/programmes/{p}/report",
            f"/programmes/{p}/report.csv",
            f"/sets/{s}/admin",
        ],
    }
    wrong: list[str] = []
    forms = 0
    for cookie, paths in pages.items():
        cookies = {"setroom_session": cookie} if cookie else {}
        with httpx.Client(base_url=server.base, headers=HTML, cookies=cookies) as browser:
            for path in paths:
                response = browser.get(path)
                if response.status_code != 200:
                    wrong.append(f"{path}: {response.status_code}")
                    continue
                _check_headers(path, response, wrong)
                if not response.headers["content-type"].startswith("text/html"):
                    continue
                secret = cookie or browser.cookies.get(PRE_SESSION_COOKIE)
                assert secret, f"{path}: no session and no pre-session cookie"
                token = token_for(secret)
                page = Page(response.text)
                wrong += [f"{path}: {found}" for found in page.inline]
                if page.body_headers.get("X-CSRF-Token") != token:
                    wrong.append(f"{path}: <body> hx-headers {page.body_headers}")
                for form in page.forms:
                    forms += 1
                    if form["token"] != token:
                        wrong.append(f"{path}: form to {form['action']!r} has no valid token")
    assert not wrong, "\n".join(wrong)
    assert forms >= 25, "the pages above hold the app's forms that post"
    static = httpx.get(f"{server.base}/static/room.css")
    assert static.headers["x-content-type-options"] == "nosniff"
    assert "no-store" not in static.headers.get("cache-control", ""), "our CSS may be cached"


def test_every_route_that_changes_something_checks_the_token(
    server: Server, seeded: SeededSet, db_url: str
) -> None:
    """One check for the whole app, before any route runs: no POST route is left out."""
    values = {
        "meeting_id": seeded.meeting_id,
        "set_id": seeded.set_id,
        "programme_id": seeded.programme_id,
        "person_id": seeded.members[0],
        "token": "t" * 43,
    }
    unsafe = [
        (method, re.sub(r"{(\w+)}", lambda m: values[m.group(1)], path))
        for method, path, _ in app_routes(db_url)
        if method not in SAFE_METHODS | {"WS"}
    ]
    assert len(unsafe) >= 25
    facilitator = sign_in(server, seeded.emails[seeded.facilitator])
    refused = []
    with httpx.Client(base_url=server.base, cookies={"setroom_session": facilitator}) as client:
        for method, path in unsafe:
            answer = client.request(method, path, data={"name": "x"})
            if answer.status_code != 403 or answer.json()["detail"] != REFUSED:
                refused.append(f"{method} {path}: {answer.status_code} {answer.text[:80]}")
    assert not refused, "\n".join(refused)


def _organisations(client: httpx.Client, programme: str) -> str:
    page = client.get(programme)
    assert page.status_code == 200
    return page.text


def test_a_post_without_the_pages_token_is_refused_and_changes_nothing(
    server: Server, seeded: SeededSet
) -> None:
    programme = f"/programmes/{seeded.programme_id}"
    lead = sign_in(server, seeded.emails[seeded.lead])
    facilitator = sign_in(server, seeded.emails[seeded.facilitator])
    cookies = {"setroom_session": lead}
    with httpx.Client(base_url=server.base, headers=HTML, cookies=cookies) as browser:
        token = csrf_from_page(browser.get(programme).text)
        attempts = {
            "no token": {},
            "an empty token": {"csrf_token": ""},
            "another session's token": {"csrf_token": token_for(facilitator)},
            "a made-up token": {"csrf_token": "x" * 43},
        }
        for what, extra in attempts.items():
            refused = browser.post(f"{programme}/organisations", data={"name": what, **extra})
            assert refused.status_code == 403, what
            assert "This form has expired" in refused.text and "Nothing was changed" in refused.text
        as_json = browser.post(
            f"{programme}/organisations", data={"name": "json"}, headers={"accept": "*/*"}
        )
        assert as_json.status_code == 403 and "Nothing was changed" in as_json.json()["detail"]
        # Another session's token in the header htmx sends is refused alike.
        forged = browser.post(
            f"{programme}/organisations",
            data={"name": "header"},
            headers={"X-CSRF-Token": token_for(facilitator)},
        )
        assert forged.status_code == 403
        page = _organisations(browser, programme)
        for what in (*attempts, "json", "header"):
            assert f'class="chip">{what}<' not in page, f"{what} was added"

        # The page's own token, in its form field or in htmx's header, is accepted.
        by_form = browser.post(
            f"{programme}/organisations", data={"name": "By Form", "csrf_token": token}
        )
        assert by_form.status_code == 303
        by_header = browser.post(
            f"{programme}/organisations",
            data={"name": "By Header"},
            headers={"X-CSRF-Token": token},
        )
        assert by_header.status_code == 303
        page = _organisations(browser, programme)
        assert 'class="chip">By Form<' in page and 'class="chip">By Header<' in page


def test_signing_in_needs_the_token_of_the_sign_in_page(server: Server, seeded: SeededSet) -> None:
    credentials = {"email": seeded.emails[seeded.facilitator], "password": "a long test password"}
    with httpx.Client(base_url=server.base, headers=HTML) as victim:
        form = victim.get("/login")
        cookie = form.headers["set-cookie"]
        assert cookie.startswith(f"{PRE_SESSION_COOKIE}=")
        assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
        token = csrf_from_page(form.text)

        # A cross-site page can send neither the cookie's token nor the cookie.
        with httpx.Client(base_url=server.base, headers=HTML) as attacker:
            own = csrf_from_page(attacker.get("/login").text)
            refused = victim.post("/login", data={**credentials, "csrf_token": own})
            assert refused.status_code == 403 and "setroom_session" not in refused.cookies
            elsewhere = attacker.post("/login", data={**credentials, "csrf_token": token})
            assert elsewhere.status_code == 403 and "setroom_session" not in elsewhere.cookies
        assert victim.post("/login", data=credentials).status_code == 403
        assert victim.post("/password/forgot", data={"email": "x@example.org"}).status_code == 403

        signed = victim.post("/login", data={**credentials, "csrf_token": token})
        assert signed.status_code == 303 and "setroom_session" in victim.cookies
        # The session has its own token now; the sign-in page's is spent.
        session_token = csrf_from_page(victim.get("/home").text)
        assert session_token == token_for(victim.cookies["setroom_session"]) != token
        assert victim.post("/logout", data={"csrf_token": token}).status_code == 403
        assert victim.get("/home").status_code == 200, "still signed in"
        assert victim.post("/logout", data={"csrf_token": session_token}).status_code == 303
        assert victim.get("/home").status_code == 401


def test_the_harness_posts_as_a_page_would(server: Server, seeded: SeededSet) -> None:
    """`auth=CSRF` is what the other tests post with: it must be no looser than a browser."""
    cookie = sign_in(server, seeded.emails[seeded.lead])
    with httpx.Client(
        auth=CSRF, base_url=server.base, headers=HTML, cookies={"setroom_session": cookie}
    ) as lead:
        added = lead.post(f"/programmes/{seeded.programme_id}/organisations", data={"name": "Hx"})
        assert added.status_code == 303
        token = csrf_from_page(lead.get(f"/programmes/{seeded.programme_id}").text)
        assert token == token_for(cookie)
