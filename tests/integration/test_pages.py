"""The pages around the room: join links, sessions and refusals."""

from __future__ import annotations

import httpx

from tests.harness import CSRF, SeededSet, Server, seed_set, session_cookie, sign_in

HTML = {"accept": "text/html"}


def test_a_join_link_gives_a_session_and_a_clean_address(server: Server, seeded: SeededSet) -> None:
    token = seeded.tokens[seeded.members[0]]
    with httpx.Client(auth=CSRF, base_url=server.base) as client:
        response = client.get(f"/j/{token}")
        assert response.status_code == 303
        assert response.headers["location"] == f"/meetings/{seeded.meeting_id}"
        assert token not in response.headers["location"]
        assert response.headers["referrer-policy"] == "no-referrer"
        cookie = response.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=lax" in cookie
        room = client.get(response.headers["location"])
        assert room.status_code == 200
        assert "Member 1" in room.text
        assert room.headers["cache-control"] == "no-store"


def test_refusals_explain_themselves_and_let_nobody_in(server: Server, seeded: SeededSet) -> None:
    with httpx.Client(auth=CSRF, base_url=server.base, headers=HTML) as client:
        forged = client.get("/j/" + "A" * 43)
        assert forged.status_code == 404 and "not valid" in forged.text
        assert "setroom_session" not in forged.headers.get("set-cookie", "")
        no_session = client.get(f"/meetings/{seeded.meeting_id}")
        assert no_session.status_code == 401 and "personal link" in no_session.text
        assert "Member 1" not in no_session.text
    api = httpx.get(f"{server.base}/meetings/{seeded.meeting_id}")
    assert api.status_code == 401 and "detail" in api.json()


def test_a_person_cannot_open_another_sets_meeting(
    server: Server, seeded: SeededSet, db_url: str
) -> None:
    other = seed_set(db_url, members=6, set_id="set-b", prefix="b-")
    cookie = session_cookie(server, seeded.tokens[seeded.members[0]])
    response = httpx.get(
        f"{server.base}/meetings/{other.meeting_id}",
        headers=HTML,
        cookies={"setroom_session": cookie},
    )
    assert response.status_code == 403
    assert "Member 1" not in response.text  # b-m1 is also "Member 1": nothing of set B shows


def test_forms_refuse_nul_characters_and_oversized_bodies(
    server: Server, seeded: SeededSet
) -> None:
    nul = httpx.post(
        f"{server.base}/login", data={"email": "a\x00b@example.org", "password": "x"}, auth=CSRF
    )
    assert nul.status_code == 400 and "NUL" in nul.text
    cookie = sign_in(server, seeded.emails[seeded.facilitator])
    big = httpx.post(
        f"{server.base}/sets/{seeded.set_id}/import",
        data={"text": "name,email,organisation\n" + "x,,y\n" * 300_000},
        cookies={"setroom_session": cookie},
        auth=CSRF,
    )
    assert big.status_code == 413
