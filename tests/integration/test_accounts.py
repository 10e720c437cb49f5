"""Facilitators' and leads' accounts: the first lead from the command line, password reset,
sign-in with a rate limit, sign-out that really ends the session."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import httpx

from tests.harness import CSRF, ROOT, SeededSet, Server

HTML = {"accept": "text/html"}


def _create_lead(db_url: str, email: str) -> str:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "app",
            "create-lead",
            "--name",
            "Pat Lead",
            "--email",
            email,
            "--programme",
            "Leaders 2027",
        ],
        cwd=ROOT,
        env={**os.environ, "SETROOM_DATABASE_URL": db_url},
        capture_output=True,
        text=True,
        check=True,
    )
    match = re.search(r"/password/reset/(\S+)", result.stdout)
    assert match, result.stdout
    return match.group(1)


def test_the_first_lead_sets_a_password_signs_in_and_out(server: Server, db_url: str) -> None:
    token = _create_lead(db_url, "Pat@Example.org")
    with httpx.Client(auth=CSRF, base_url=server.base, headers=HTML) as client:
        assert client.get(f"/password/reset/{token}").status_code == 200
        mismatch = client.post(
            f"/password/reset/{token}", data={"password": "correct horse battery", "again": "nope"}
        )
        assert mismatch.status_code == 400 and "not the same" in mismatch.text
        done = client.post(
            f"/password/reset/{token}",
            data={"password": "correct horse battery", "again": "correct horse battery"},
        )
        assert done.status_code == 303 and done.headers["location"] == "/login?reset=1"
        reused = client.post(
            f"/password/reset/{token}",
            data={"password": "another long phrase", "again": "another long phrase"},
        )
        assert reused.status_code == 400 and "expired or been used" in reused.text

        wrong = client.post("/login", data={"email": "pat@example.org", "password": "guess guess"})
        assert wrong.status_code == 400 and "do not match" in wrong.text
        signed = client.post(
            "/login", data={"email": " PAT@example.org", "password": "correct horse battery"}
        )
        assert signed.status_code == 303 and signed.headers["location"] == "/home"
        cookie = client.cookies["setroom_session"]
        home = client.get("/home")
        assert home.status_code == 200 and "Leaders 2027" in home.text

        client.post("/logout")
        assert client.get("/home").status_code == 401
    # The old cookie is dead on the server, not only forgotten by the browser.
    again = httpx.get(f"{server.base}/home", cookies={"setroom_session": cookie}, headers=HTML)
    assert again.status_code == 401


def test_sign_in_is_rate_limited(server: Server, db_url: str) -> None:
    _create_lead(db_url, "pat.lead@example.org")
    with httpx.Client(auth=CSRF, base_url=server.base, headers=HTML) as client:
        answers = [
            client.post(
                "/login", data={"email": "pat.lead@example.org", "password": f"try {n}"}
            ).status_code
            for n in range(7)
        ]
    assert answers[:5] == [400] * 5
    assert answers[5:] == [429, 429]


def test_an_address_with_a_nul_in_it_is_a_wrong_address_not_a_server_error(
    server: Server,
) -> None:
    # PostgreSQL refuses text holding NUL even in a comparison: these were 500s there.
    email = "pat.lead\x00@example.org"
    with httpx.Client(auth=CSRF, base_url=server.base, headers=HTML) as client:
        login = client.post("/login", data={"email": email, "password": "long enough, surely"})
        forgot = client.post("/password/forgot", data={"email": email})
    # Refused before any route reads the form (app/web/body_guard.py), with a clear answer.
    assert login.status_code == forgot.status_code == 400
    assert "NUL" in forgot.text


def test_a_forgotten_password_answer_does_not_say_who_has_an_account(
    server: Server, db_url: str
) -> None:
    _create_lead(db_url, "known@example.org")
    with httpx.Client(auth=CSRF, base_url=server.base, headers=HTML) as client:
        known = client.post("/password/forgot", data={"email": "known@example.org"})
        unknown = client.post("/password/forgot", data={"email": "nobody@example.org"})
    assert known.status_code == unknown.status_code == 200
    assert known.text == unknown.text


def test_replacing_a_members_link_ends_the_sessions_it_opened(
    server: Server, seeded: SeededSet, db_url: str
) -> None:
    from app.db import access
    from app.db.database import make_engine
    from tests.harness import now_ms, session_cookie

    member = seeded.members[0]
    cookie = session_cookie(server, seeded.tokens[member])
    room = f"{server.base}/meetings/{seeded.meeting_id}"
    assert httpx.get(room, cookies={"setroom_session": cookie}).status_code == 200
    engine = make_engine(db_url)
    fresh = access.issue_link(engine, person_id=member, set_id=seeded.set_id, now=now_ms(), days=30)
    engine.dispose()
    assert httpx.get(room, cookies={"setroom_session": cookie}).status_code == 401
    assert httpx.get(f"{server.base}/j/{seeded.tokens[member]}").status_code == 404
    assert (
        httpx.get(room, cookies={"setroom_session": session_cookie(server, fresh)}).status_code
        == 200
    )


def test_a_facilitator_and_a_lead_each_see_their_own_home(
    server: Server, seeded: SeededSet
) -> None:
    from tests.harness import sign_in

    facilitator = sign_in(server, seeded.emails[seeded.facilitator])
    home = httpx.get(f"{server.base}/home", cookies={"setroom_session": facilitator})
    assert f"Set {seeded.set_id}" in home.text
    assert f"/meetings/{seeded.meeting_id}" in home.text
    lead = sign_in(server, seeded.emails[seeded.lead])
    home = httpx.get(f"{server.base}/home", cookies={"setroom_session": lead})
    assert f"Programme {seeded.programme_id}" in home.text
    assert f"/meetings/{seeded.meeting_id}" not in home.text
