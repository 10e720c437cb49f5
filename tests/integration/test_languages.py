"""Languages against a real uvicorn: a member who picks Cymraeg gets Welsh pages and a Welsh
room over the WebSocket while another member of the same meeting gets English at the same time;
a browser asking for Welsh gets it until its person chooses; the switcher stays on this site."""

from __future__ import annotations

import asyncio

import httpx
from sqlmodel import Session

from app.db.database import make_engine
from app.db.tables import Person
from tests.harness import CSRF, RoomClient, SeededSet, Server, session_cookie, sign_in
from tests.integration.test_craft_room import Tap


def _choose(server: Server, cookie: str, language: str, next_path: str) -> httpx.Response:
    return httpx.post(
        f"{server.base}/language",
        data={"language": language, "next": next_path},
        headers={"Cookie": f"setroom_session={cookie}"},
        auth=CSRF,
    )


def _language_of(db_url: str, person_id: str) -> str | None:
    engine = make_engine(db_url)
    try:
        with Session(engine) as session:
            person = session.get(Person, person_id)
            assert person is not None
            return person.language
    finally:
        engine.dispose()


def _page(server: Server, cookie: str, path: str, **headers: str) -> str:
    response = httpx.get(
        f"{server.base}{path}", headers={"Cookie": f"setroom_session={cookie}", **headers}
    )
    assert response.status_code == 200, response.text
    return response.text


def test_a_member_in_welsh_and_one_in_english_share_a_meeting(
    server: Server, seeded: SeededSet, db_url: str
) -> None:
    welsh, english = seeded.members[0], seeded.members[1]
    cy = session_cookie(server, seeded.tokens[welsh])
    en = session_cookie(server, seeded.tokens[english])
    room = f"/meetings/{seeded.meeting_id}"

    chosen = _choose(server, cy, "cy", room)
    assert chosen.status_code == 303 and chosen.headers["location"] == room
    assert _language_of(db_url, welsh) == "cy"

    page = _page(server, cy, room)
    assert '<html lang="cy">' in page
    assert "Yn aros i ddechrau" in page and "Waiting to begin" not in page
    page = _page(server, en, room)
    assert '<html lang="en">' in page
    assert "Waiting to begin" in page and "Yn aros i ddechrau" not in page

    async def run() -> None:
        base = f"{server.ws_base}/meetings/{seeded.meeting_id}/ws"
        fac = RoomClient(
            server, seeded.meeting_id, sign_in(server, seeded.emails[seeded.facilitator])
        )
        await fac.connect()
        async with Tap(base, cy) as cy_room, Tap(base, en) as en_room:
            await cy_room.until("room-phase")
            await en_room.until("room-phase")
            await fac.command("start_meeting")
            started_cy = await cy_room.until("Mae’r cyfarfod wedi dechrau.")
            started_en = await en_room.until("The meeting has started.")
            assert "Cyrraedd" in started_cy and "Yn siarad nawr" in started_cy
            assert "Speaking now" not in started_cy and "Check-in" not in started_cy
            assert "Check-in" in started_en and "Speaking now" in started_en
            assert "Yn siarad nawr" not in started_en

            # A refusal reaches its sender in their language too.
            await cy_room.send({"type": "lower_hand"})
            refused = await cy_room.until('id="room-error"')
            assert "Nid yw’r llaw honno wedi’i chodi." in refused
        await fac.close()

    asyncio.run(run())


def test_the_browser_language_serves_until_a_choice_and_english_is_the_default(
    server: Server, seeded: SeededSet
) -> None:
    cookie = session_cookie(server, seeded.tokens[seeded.members[2]])
    room = f"/meetings/{seeded.meeting_id}"
    assert '<html lang="en">' in _page(server, cookie, room)
    asked = _page(server, cookie, room, **{"Accept-Language": "cy-GB,cy;q=0.9,en;q=0.5"})
    assert '<html lang="cy">' in asked and "Yn aros i ddechrau" in asked
    _choose(server, cookie, "en", room)
    chose = _page(server, cookie, room, **{"Accept-Language": "cy"})
    assert '<html lang="en">' in chose and "Waiting to begin" in chose


def test_someone_not_signed_in_keeps_their_choice_in_a_cookie(server: Server) -> None:
    with httpx.Client(base_url=server.base, auth=CSRF) as browser:
        assert "Sign in" in browser.get("/login").text
        chosen = browser.post("/language", data={"language": "cy", "next": "/login"})
        assert chosen.status_code == 303 and chosen.headers["location"] == "/login"
        page = browser.get("/login").text
        assert '<html lang="cy">' in page and "Mewngofnodi" in page
        welcome = browser.get("/").text
        assert "Ystafell ar gyfer eich Set Dysgu Gweithredol" in welcome


def test_the_switcher_refuses_other_sites_and_unknown_languages(
    server: Server, seeded: SeededSet, db_url: str
) -> None:
    member = seeded.members[3]
    cookie = session_cookie(server, seeded.tokens[member])
    for elsewhere in ("https://evil.example/", "//evil.example/", "/\\evil.example"):
        response = _choose(server, cookie, "cy", elsewhere)
        assert response.status_code == 303 and response.headers["location"] == "/"
    response = _choose(server, cookie, "xx", "/")
    assert response.status_code == 303
    assert _language_of(db_url, member) == "cy"
    refused = httpx.post(
        f"{server.base}/language",
        data={"language": "en", "next": "/"},
        headers={"Cookie": f"setroom_session={cookie}"},
    )
    assert refused.status_code == 403  # no CSRF token: nothing changes
    assert _language_of(db_url, member) == "cy"


def test_a_lead_who_reads_welsh_gets_a_refusal_with_its_value_in_welsh(
    server: Server, seeded: SeededSet
) -> None:
    lead = sign_in(server, seeded.emails[seeded.lead])
    page = f"/programmes/{seeded.programme_id}"
    assert _choose(server, lead, "cy", page).status_code == 303
    refused = httpx.post(
        f"{server.base}{page}",
        data={
            "name": "Rhaglen",
            "meetings_planned": "99",
            "cadence_weeks": "4",
            "attendance_target": "80",
        },
        headers={"Cookie": f"setroom_session={lead}", "accept": "text/html"},
        auth=CSRF,
    )
    assert refused.status_code == 400
    assert "fod yn rhif cyfan o 1 i 24." in refused.text
    assert "must be a whole number" not in refused.text
