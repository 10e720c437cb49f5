"""A member's pages between meetings, on a real server: feedback after a meeting closes, the
private learning log, and the chain of commitments with updates the facilitators see."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Iterator

import httpx
import pytest
from fastapi.routing import APIRoute
from sqlmodel import Session, col, select

from app.db.database import make_engine
from app.db.tables import (
    CommitmentRecord,
    CommitmentUpdate,
    Feedback,
    LearningLogEntry,
    Meeting,
    MeetingEvent,
)
from app.main import create_app
from app.settings import Settings
from tests.harness import CSRF, RoomClient, SeededSet, Server, seed_set, session_cookie, sign_in

HTML = {"accept": "text/html"}
DAY_MS = 86_400_000


def _member(server: Server, token: str) -> httpx.Client:
    cookie = session_cookie(server, token)
    return httpx.Client(
        auth=CSRF, base_url=server.base, cookies={"setroom_session": cookie}, headers=HTML
    )


def _account(server: Server, email: str) -> httpx.Client:
    cookie = sign_in(server, email)
    return httpx.Client(
        auth=CSRF, base_url=server.base, cookies={"setroom_session": cookie}, headers=HTML
    )


@pytest.fixture
def people(server: Server, seeded: SeededSet) -> Iterator[dict[str, httpx.Client]]:
    clients = {
        "m1": _member(server, seeded.tokens[seeded.members[0]]),
        "m2": _member(server, seeded.tokens[seeded.members[1]]),
        "facilitator": _account(server, seeded.emails[seeded.facilitator]),
        "lead": _account(server, seeded.emails[seeded.lead]),
    }
    yield clients
    for client in clients.values():
        client.close()


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


def _feedback(db_url: str, meeting_id: str) -> list[Feedback]:
    engine = make_engine(db_url)
    with Session(engine) as session:
        rows = list(
            session.exec(
                select(Feedback)
                .where(Feedback.meeting_id == meeting_id)
                .order_by(col(Feedback.person_id))
            ).all()
        )
    engine.dispose()
    return rows


def _rated(u: int | str, s: int | str, c: int | str, comment: str = "") -> dict[str, str]:
    return {"usefulness": str(u), "safety": str(s), "challenge": str(c), "comment": comment}


def _form_to(path: str, html: str) -> bool:
    return f'action="{path}"' in html


def test_feedback_opens_at_the_close_and_is_one_per_member(
    server: Server, seeded: SeededSet, db_url: str, people: dict[str, httpx.Client]
) -> None:
    m1, m2 = people["m1"], people["m2"]
    path = f"/meetings/{seeded.meeting_id}/feedback"

    before = m1.get(path)
    assert before.status_code == 200
    assert "opens when the meeting has closed" in before.text
    assert not _form_to(path, before.text)
    refused = m1.post(path, data=_rated(4, 4, 4))
    assert refused.status_code == 409 and 'role="alert"' in refused.text
    assert _feedback(db_url, seeded.meeting_id) == []

    _close_meeting(server, seeded)
    room = m1.get(f"/meetings/{seeded.meeting_id}")
    assert f'href="{path}"' in room.text, "the close summary links a member to the form"
    form = m1.get(path)
    assert form.status_code == 200 and _form_to(path, form.text)

    for bad in (
        _rated(0, 3, 3),
        _rated(6, 3, 3),
        _rated(3, "", 3),
        _rated(3, 3, "x"),
        _rated("2.5", 3, 3),
        _rated(3, 3, 3, "y" * 2001),
        {"comment": "no ratings"},
    ):
        answer = m1.post(path, data=bad)
        assert answer.status_code == 400, bad
        assert 'role="alert"' in answer.text
    assert _feedback(db_url, seeded.meeting_id) == [], "bad input stores nothing"

    given = m1.post(path, data=_rated(4, 5, 3, "A useful morning"))
    assert given.status_code == 303
    assert given.headers["location"] == f"{path}?saved=1"
    changed = m1.post(path, data=_rated(2, 3, 5, "Changed my mind"))
    assert changed.status_code == 303
    assert m2.post(path, data=_rated(5, 5, 5)).status_code == 303
    rows = _feedback(db_url, seeded.meeting_id)
    assert [(r.person_id, r.usefulness, r.safety, r.challenge) for r in rows] == [
        (seeded.members[0], 2, 3, 5),
        (seeded.members[1], 5, 5, 5),
    ], "one answer per member: a second one edits the first"
    assert rows[0].comment == "Changed my mind"
    shown = m1.get(path).text
    assert "Changed my mind" in shown and 'value="5" required checked' in shown

    # Two weeks after the close, the form closes.
    engine = make_engine(db_url)
    with Session(engine) as session:
        for event in session.exec(
            select(MeetingEvent).where(
                MeetingEvent.meeting_id == seeded.meeting_id,
                MeetingEvent.type == "meeting_closed",
            )
        ).all():
            event.at -= 15 * DAY_MS
            session.add(event)
        session.commit()
    engine.dispose()
    late = m1.post(path, data=_rated(1, 1, 1, "Too late"))
    assert late.status_code == 409 and "closed 14 days after" in late.text
    assert _feedback(db_url, seeded.meeting_id)[0].comment == "Changed my mind"
    page = m1.get(path)
    assert not _form_to(path, page.text) and "Changed my mind" in page.text


def test_a_facilitator_gives_no_feedback_and_reads_the_comments_unattributed(
    server: Server, seeded: SeededSet, db_url: str, people: dict[str, httpx.Client]
) -> None:
    path = f"/meetings/{seeded.meeting_id}/feedback"
    _close_meeting(server, seeded)
    assert people["m1"].post(path, data=_rated(3, 4, 5, "SECRET-COMMENT")).status_code == 303
    fac = people["facilitator"]
    page = fac.get(path)
    assert page.status_code == 200
    assert not _form_to(path, page.text)
    assert "1 of 8" in page.text and "SECRET-COMMENT" in page.text, "comments, unattributed"
    assert seeded.names[seeded.members[0]] not in page.text.split("Their comments")[1]
    assert "SECRET-COMMENT" not in people["m2"].get(path).text
    refused = fac.post(path, data=_rated(5, 5, 5))
    assert refused.status_code == 409 and "facilitators give none" in refused.text
    assert [r.person_id for r in _feedback(db_url, seeded.meeting_id)] == [seeded.members[0]]
    room = fac.get(f"/meetings/{seeded.meeting_id}")
    assert f'href="{path}"' not in room.text
    assert people["lead"].get(path).status_code == 403
    assert people["lead"].post(path, data=_rated(5, 5, 5)).status_code == 403


def _log(db_url: str) -> list[LearningLogEntry]:
    engine = make_engine(db_url)
    with Session(engine) as session:
        rows = list(session.exec(select(LearningLogEntry)).all())
    engine.dispose()
    return rows


def test_the_learning_log_keeps_its_author_s_entries(
    server: Server, seeded: SeededSet, db_url: str, people: dict[str, httpx.Client]
) -> None:
    m1 = people["m1"]
    path = f"/sets/{seeded.set_id}/log"
    assert m1.get(path).status_code == 200
    for bad in ({"text": "   "}, {"text": "z" * 5001}, {"text": "ok", "meeting_id": "nope"}):
        answer = m1.post(path, data={"action": "add", **bad})
        assert answer.status_code == 400 and 'role="alert"' in answer.text, bad
    assert _log(db_url) == []

    first = m1.post(path, data={"action": "add", "text": "First note"})
    assert first.status_code == 303 and first.headers["location"] == f"{path}?done=added"
    added = m1.post(
        path, data={"action": "add", "text": "Second note", "meeting_id": seeded.meeting_id}
    )
    assert added.status_code == 303
    page = m1.get(path).text
    assert page.index("Second note") < page.index("First note"), "newest first"
    assert "about meeting 2" in page

    (entry,) = [e for e in _log(db_url) if e.text == "First note"]
    edited = m1.post(path, data={"action": "edit", "entry_id": entry.id, "text": "First, edited"})
    assert edited.status_code == 303
    too_long = m1.post(path, data={"action": "edit", "entry_id": entry.id, "text": "z" * 5001})
    assert too_long.status_code == 400
    assert sorted(e.text for e in _log(db_url)) == ["First, edited", "Second note"]
    deleted = m1.post(path, data={"action": "delete", "entry_id": entry.id})
    assert deleted.status_code == 303
    assert [e.text for e in _log(db_url)] == ["Second note"]
    assert "First, edited" not in m1.get(path).text


def _readable_paths(db_url: str, seeded: SeededSet, earlier: str) -> list[str]:
    """Every GET route of the app with a set, meeting or programme in its path, for each of this
    set's meetings, and the plain ones."""
    app = create_app(Settings(database_url=db_url))
    paths: set[str] = set()
    routes = list(app.routes)
    while routes:
        route = routes.pop()
        inner = getattr(route, "original_router", None)
        if inner is not None:
            routes += inner.routes
            continue
        if not isinstance(route, APIRoute) or "GET" not in route.methods:
            continue
        names = set(re.findall(r"{(\w+)}", route.path))
        if not names <= {"meeting_id", "set_id", "programme_id"}:
            continue
        for meeting in (seeded.meeting_id, earlier):
            values = {
                "meeting_id": meeting,
                "set_id": seeded.set_id,
                "programme_id": seeded.programme_id,
            }
            path = route.path
            for name, value in values.items():
                path = path.replace("{" + name + "}", value)
            paths.add(path)
    return sorted(paths)


def _earlier_meeting(db_url: str, seeded: SeededSet) -> str:
    engine = make_engine(db_url)
    with Session(engine) as session:
        meeting = session.exec(
            select(Meeting).where(Meeting.set_id == seeded.set_id, Meeting.number == 1)
        ).one()
    engine.dispose()
    return meeting.id


def test_a_learning_log_entry_is_seen_by_its_author_alone(
    server: Server, seeded: SeededSet, db_url: str, people: dict[str, httpx.Client]
) -> None:
    marker = f"LOG-{uuid.uuid4().hex}"
    path = f"/sets/{seeded.set_id}/log"
    earlier = _earlier_meeting(db_url, seeded)
    posted = people["m1"].post(
        path, data={"action": "add", "text": f"What I saw: {marker}", "meeting_id": earlier}
    )
    assert posted.status_code == 303
    assert marker in people["m1"].get(path).text
    (entry,) = _log(db_url)
    _close_meeting(server, seeded)

    other = seed_set(db_url, members=3, set_id="set-b", prefix="b-", programme_id="prog2")
    outsider = _member(server, other.tokens[other.members[0]])
    people["outsider"] = outsider  # closed with the others
    others = {
        "another member": people["m2"],
        "the facilitator": people["facilitator"],
        "the lead": people["lead"],
        "a member of another set": outsider,
    }
    own_log = {name: client.get(path) for name, client in others.items()}
    assert own_log["another member"].status_code == 200
    assert own_log["the facilitator"].status_code == 200
    assert own_log["the lead"].status_code == 403
    assert own_log["a member of another set"].status_code == 403
    for name, client in others.items():
        for action in ("edit", "delete"):
            answer = client.post(
                path, data={"action": action, "entry_id": entry.id, "text": "overwritten"}
            )
            assert answer.status_code in (400, 403), (name, action)
    assert [e.text for e in _log(db_url)] == [f"What I saw: {marker}"], "nobody else changed it"

    seen = []
    paths = _readable_paths(db_url, seeded, earlier)
    assert path in paths and f"/sets/{seeded.set_id}/commitments" in paths
    for name, client in others.items():
        for each in paths:
            answer = client.get(each, follow_redirects=True)
            if marker in answer.text:
                seen.append(f"{name}: {each}")
    assert not seen, seen


def _updates(db_url: str) -> list[CommitmentUpdate]:
    engine = make_engine(db_url)
    with Session(engine) as session:
        rows = list(session.exec(select(CommitmentUpdate)).all())
    engine.dispose()
    return rows


def test_commitment_updates_are_seen_by_the_member_and_the_facilitators(
    server: Server, seeded: SeededSet, db_url: str, people: dict[str, httpx.Client]
) -> None:
    m1, m2, fac = people["m1"], people["m2"], people["facilitator"]
    earlier = _earlier_meeting(db_url, seeded)
    mine, theirs = f"{earlier}.c1", f"{earlier}.c2"
    path = f"/sets/{seeded.set_id}/commitments"

    room = m1.get(f"/meetings/{seeded.meeting_id}").text
    assert f'href="/meetings/{seeded.meeting_id}/commitments"' in room
    assert f'href="/meetings/{seeded.meeting_id}/log"' in room
    hop = m1.get(f"/meetings/{seeded.meeting_id}/commitments", follow_redirects=False)
    assert hop.status_code == 303 and hop.headers["location"] == path

    page = m1.get(path)
    assert page.status_code == 200
    assert "Commitment of member 1" in page.text and "Commitment of member 2" not in page.text
    assert 'name="commitment_id" value="' + mine + '"' in page.text

    marker = f"UPDATE-{uuid.uuid4().hex}"
    for bad in (
        {"commitment_id": mine, "text": "  "},
        {"commitment_id": mine, "text": "u" * 1001},
        {"commitment_id": theirs, "text": "not mine"},
        {"commitment_id": "nothing", "text": "no such"},
    ):
        answer = m1.post(path, data=bad)
        assert answer.status_code == 400 and 'role="alert"' in answer.text, bad
    assert fac.post(path, data={"commitment_id": mine, "text": "fac"}).status_code == 400
    assert _updates(db_url) == []
    posted = m1.post(path, data={"commitment_id": mine, "text": f"Halfway: {marker}"})
    assert posted.status_code == 303
    assert [(u.commitment_id, u.person_id) for u in _updates(db_url)] == [(mine, seeded.members[0])]

    assert marker in m1.get(path).text
    other = m2.get(path).text
    assert marker not in other and "Commitment of member 1" not in other
    assert "Commitment of member 2" in other
    facilitator = fac.get(path).text
    assert marker in facilitator
    assert "Commitment of member 1" in facilitator and "Commitment of member 2" in facilitator
    assert people["lead"].get(path).status_code == 403
    for each in (f"/meetings/{seeded.meeting_id}", f"/meetings/{earlier}/feedback"):
        assert marker not in m2.get(each, follow_redirects=True).text

    # Reported back at the next meeting: the chain shows it, and it takes no more updates.
    engine = make_engine(db_url)
    with Session(engine) as session:
        record = session.get(CommitmentRecord, mine)
        assert record is not None
        record.report_status = "partly"
        record.reported_meeting_id = seeded.meeting_id
        record.learned = "Learned to ask"
        record.next_step = "Ask again"
        session.add(record)
        session.commit()
    engine.dispose()
    chain = m1.get(path).text
    assert "Partly done" in chain and "at meeting 2" in chain and "Ask again" in chain
    assert 'name="commitment_id" value="' + mine + '"' not in chain
    late = m1.post(path, data={"commitment_id": mine, "text": "after the report"})
    assert late.status_code == 400 and len(_updates(db_url)) == 1
    assert "Commitment of member 1" not in fac.get(path).text, "no longer open"
