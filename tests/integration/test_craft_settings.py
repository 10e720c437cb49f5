"""A set's `turn_record` setting: by default the set keeps only a turn's commitments; a
facilitator can let the set see the questions each presenter kept. Notes stay private either
way."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from sqlmodel import Session

import tests.harness as harness
from app.db.database import make_engine
from app.db.meetings import create_meeting
from app.db.tables import LearningSet
from tests.harness import RoomClient, SeededSet, Server, now_ms, session_cookie, sign_in

AUTH = getattr(harness, "CSRF", None)
"""The harness's CSRF auth, where the app asks forms for a token."""

KEPT = "What would you do with one more hour a week?"
OTHER = "What is the cost of doing nothing?"
NOTE = "PRIVATE-NOTE-8d2e my hour goes to email"


async def _turn(server: Server, s: SeededSet, meeting_id: str, fac_cookie: str) -> None:
    presenter, asker = s.members[2], s.members[3]
    fac = await RoomClient(server, meeting_id, fac_cookie).connect()
    me = await RoomClient(server, meeting_id, session_cookie(server, s.tokens[presenter])).connect()
    other = await RoomClient(server, meeting_id, session_cookie(server, s.tokens[asker])).connect()
    await fac.command("start_meeting")
    await fac.command("next_phase")
    await fac.command("next_phase")
    await fac.command("allot", member=presenter, minutes=10)
    await fac.command("next_phase")
    await fac.command("next_stage")
    await other.command("ask_question", text=KEPT)
    await other.command("ask_question", text=OTHER)
    kept = next(q for q in me.state.questions if q.text == KEPT)  # type: ignore[union-attr]
    await me.command("star_question", question_id=kept.id)
    await me.command("save_note", text=NOTE)
    await fac.command("close_meeting")
    for client in (fac, me, other):
        await client.close()


def _summary(server: Server, s: SeededSet, meeting_id: str, reader: int = 0) -> str:
    cookie = session_cookie(server, s.tokens[s.members[reader]])
    page = httpx.get(
        f"{server.base}/meetings/{meeting_id}/summary", cookies={"setroom_session": cookie}
    )
    assert page.status_code == 200
    return page.text


def test_the_set_sees_kept_questions_only_when_its_facilitator_says_so(
    server: Server, seeded: SeededSet, db_url: str
) -> None:
    fac_cookie = sign_in(server, seeded.emails[seeded.facilitator])
    asyncio.run(_turn(server, seeded, seeded.meeting_id, fac_cookie))
    by_default = _summary(server, seeded, seeded.meeting_id)
    assert KEPT not in by_default and "Questions the presenters kept" not in by_default

    form = httpx.get(
        f"{server.base}/sets/{seeded.set_id}/admin", cookies={"setroom_session": fac_cookie}
    )
    assert 'name="kept_to_set" value="no" checked' in form.text
    saved = httpx.post(
        f"{server.base}/sets/{seeded.set_id}/settings",
        auth=AUTH,
        cookies={"setroom_session": fac_cookie},
        data={
            "name": f"Set {seeded.set_id}",
            "video_link": "",
            "anonymous_questions": "yes",
            "questions_to_set": "yes",
            "kept_to_set": "yes",
        },
    )
    assert saved.status_code == 303, saved.text
    engine = make_engine(db_url)
    with Session(engine) as session:
        learning_set = session.get(LearningSet, seeded.set_id)
        assert learning_set is not None
        assert learning_set.turn_record == "kept_items_visible_to_set"
    meeting_id = create_meeting(engine, set_id=seeded.set_id, now=now_ms())
    engine.dispose()

    asyncio.run(_turn(server, seeded, meeting_id, fac_cookie))
    shared = _summary(server, seeded, meeting_id)
    assert "Questions the presenters kept" in shared and KEPT in shared
    assert OTHER not in shared
    assert "PRIVATE-NOTE" not in shared and "PRIVATE-NOTE" not in by_default


@pytest.mark.confidentiality
def test_kept_questions_stay_with_those_the_set_shows_questions_to(
    server: Server, seeded: SeededSet, db_url: str
) -> None:
    """Kept questions visible to the set, but typed questions shown only to the presenter and
    facilitators: the summary, like the room, gives other members no question text."""
    fac_cookie = sign_in(server, seeded.emails[seeded.facilitator])
    saved = httpx.post(
        f"{server.base}/sets/{seeded.set_id}/settings",
        auth=AUTH,
        cookies={"setroom_session": fac_cookie},
        data={
            "name": f"Set {seeded.set_id}",
            "video_link": "",
            "anonymous_questions": "yes",
            "questions_to_set": "no",
            "kept_to_set": "yes",
        },
    )
    assert saved.status_code == 303, saved.text
    engine = make_engine(db_url)
    meeting_id = create_meeting(engine, set_id=seeded.set_id, now=now_ms())
    engine.dispose()
    asyncio.run(_turn(server, seeded, meeting_id, fac_cookie))
    assert KEPT not in _summary(server, seeded, meeting_id, reader=0)
    assert KEPT in _summary(server, seeded, meeting_id, reader=2)  # the presenter
