"""A member's data: exported as JSON by the member and by a lead, and erased by a lead:
anonymised everywhere (every column of every table, the meeting log's payloads included),
while everyone else's records, the meeting's replay and the programme's figures stay."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from sqlmodel import Session, select

from app.db import eventlog
from app.db.database import make_engine
from app.db.meetings import create_meeting
from app.db.reports import programme_report
from app.db.tables import (
    Account,
    Attendance,
    CommitmentRecord,
    Feedback,
    Person,
    QuestionRecord,
)
from app.domain.engine import replay
from app.domain.views import summary
from tests.harness import RoomClient, SeededSet, Server, now_ms, session_cookie, sign_in
from tests.integration.said import (
    M1_NOTE,
    M1_SAID,
    OTHERS_SAID,
    account,
    dump,
    member,
    post,
    run_meeting,
)


def _erase(server: Server, seeded: SeededSet, pid: str) -> httpx.Response:
    with account(server, seeded.emails[seeded.lead]) as lead:
        return post(lead, f"/sets/{seeded.set_id}/people/{pid}/erase")


def _export_text(data: object) -> str:
    return json.dumps(data, ensure_ascii=False)


def test_a_member_downloads_everything_they_said_and_nothing_anyone_else_did(
    server: Server, seeded: SeededSet
) -> None:
    run_meeting(server, seeded)
    m1 = seeded.members[0]
    with member(server, seeded, m1) as client:
        answer = client.get(f"/sets/{seeded.set_id}/my-data")
        commitments_page = client.get(f"/sets/{seeded.set_id}/commitments").text
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/json")
    assert "attachment" in answer.headers["content-disposition"]
    assert answer.headers["cache-control"] == "no-store"
    assert f'href="/sets/{seeded.set_id}/my-data"' in commitments_page
    data = answer.json()
    text = _export_text(data)
    assert data["person"]["name"] == "Member 1"
    for said in M1_SAID:
        assert said in text, said
    for said in OTHERS_SAID:
        assert said not in text, said
    assert [q["text"] for q in data["questions_asked"]] == ["zebra m1 question"]
    assert data["questions_asked"][0]["anonymous"] is True
    assert [b["title"] for b in data["issues_bid"]] == ["zebra m1 issue"]
    assert data["attendance"][0]["meeting"] == 2
    assert data["feedback"][0]["usefulness"] == 4


def test_a_lead_exports_a_member_s_data_on_request(server: Server, seeded: SeededSet) -> None:
    run_meeting(server, seeded)
    m1 = seeded.members[0]
    with account(server, seeded.emails[seeded.lead]) as lead:
        page = lead.get(f"/sets/{seeded.set_id}/people/{m1}/data")
        admin = lead.get(f"/sets/{seeded.set_id}/admin").text
        answer = lead.get(f"/sets/{seeded.set_id}/people/{m1}/export")
        nobody = lead.get(f"/sets/{seeded.set_id}/people/nobody/export")
    assert f'href="/sets/{seeded.set_id}/people/{m1}/data"' in admin
    assert page.status_code == 200 and "Erase Member 1" in page.text
    assert answer.status_code == 200
    text = _export_text(answer.json())
    assert all(said in text for said in M1_SAID if said != M1_NOTE)
    assert M1_NOTE not in text, "a presenter's private notes reach no one else, a lead included"
    assert not any(said in text for said in OTHERS_SAID)
    assert nobody.status_code == 404
    with account(server, seeded.emails[seeded.facilitator]) as facilitator:
        assert facilitator.get(f"/sets/{seeded.set_id}/people/{m1}/export").status_code == 403


def _figures(db_url: str, seeded: SeededSet) -> dict[str, object]:
    """What the programme report says about everyone but member 1."""
    engine = make_engine(db_url)
    report = programme_report(engine, programme_id=seeded.programme_id)
    engine.dispose()
    (figures,) = report.sets
    meeting = next(m for m in figures.meetings if m.meeting_id == seeded.meeting_id)
    return {
        "commitments": report.commitments,
        "feedback": meeting.feedback,
        "presentations": report.presentations,
        "others": [m for m in figures.member_attendance if m.name != "Member 1"],
    }


@pytest.mark.confidentiality
def test_erasure_leaves_nothing_of_the_member_and_everything_of_the_others(
    server: Server, seeded: SeededSet, db_url: str
) -> None:
    run_meeting(server, seeded)
    m1, m2 = seeded.members[:2]
    engine = make_engine(db_url)
    # The next meeting, planned: its first event carries the roster and m1's open commitment.
    following = create_meeting(engine, set_id=seeded.set_id, now=now_ms())
    with Session(engine) as session:
        person = session.get(Person, m1)
        assert person is not None
        person.email = "zebra.m1@example.org"
        session.add(person)
        session.commit()
    assert "zebra m1 commitment" in dump(db_url)
    before = _figures(db_url, seeded)
    presenters = summary(replay(seeded.meeting_id, eventlog.load(engine, seeded.meeting_id)))
    with Session(engine) as session:
        attendance = len(session.exec(select(Attendance)).all())
    old = member(server, seeded, m1)

    answer = _erase(server, seeded, m1)

    assert answer.status_code == 200 and "Erased" in answer.text
    everything = dump(db_url)
    assert "Member 1" not in everything and "zebra.m1@example.org" not in everything
    for said in M1_SAID:
        assert said not in everything, said
    assert "[erased]" in everything
    for said in OTHERS_SAID:
        assert said in everything, said
    # The person's sessions and links are gone: the old cookie and link open nothing.
    assert old.get(f"/sets/{seeded.set_id}/commitments").status_code == 401
    old.close()
    link = httpx.get(f"{server.base}/j/{seeded.tokens[m1]}", follow_redirects=False)
    assert link.status_code >= 400
    # The meeting still replays, to the same presenters, now under the anonymised name.
    after = summary(replay(seeded.meeting_id, eventlog.load(engine, seeded.meeting_id)))
    assert [s.member for s in after.presenters] == [s.member for s in presenters.presenters]
    state = replay(seeded.meeting_id, eventlog.load(engine, seeded.meeting_id))
    assert state.person(m1) is not None and state.person(m1).name == "Erased member"  # type: ignore[union-attr]
    # They are off the next meeting's roster (kept inactive, under the anonymised name).
    nxt = replay(following, eventlog.load(engine, following))
    erased = nxt.person(m1)
    assert erased is not None and erased.name == "Erased member" and not erased.active
    with Session(engine) as session:
        assert len(session.exec(select(Attendance)).all()) == attendance
        theirs = session.exec(select(CommitmentRecord).where(CommitmentRecord.owner_id == m1)).all()
        assert {c.what for c in theirs} == {"[erased]"}
        assert {c.report_status for c in theirs} == {"partly", None}
        assert session.exec(
            select(CommitmentRecord.what).where(CommitmentRecord.owner_id == m2)
        ).all()
        scores = session.exec(select(Feedback.usefulness).where(Feedback.person_id == m1)).all()
        assert scores == [4]
        assert {q.text for q in session.exec(select(QuestionRecord)).all()} >= {
            "okapi m2 question",
            "okapi m3 question",
            "okapi m3 for m2",
        }
    engine.dispose()
    assert _figures(db_url, seeded) == before
    # Others still read their meeting, with the erased member's words gone.
    with member(server, seeded, m2) as client:
        page = client.get(f"/meetings/{seeded.meeting_id}/summary").text
    assert "okapi m2 commitment" in page and "zebra" not in page and "Member 1" not in page
    with account(server, seeded.emails[seeded.lead]) as lead:
        audit = lead.get(f"/programmes/{seeded.programme_id}/audit").text
    assert "erased the personal data of Erased member" in audit


def test_erasure_waits_for_a_live_meeting_to_close(
    server: Server, seeded: SeededSet, db_url: str
) -> None:
    m1 = seeded.members[0]
    lead = account(server, seeded.emails[seeded.lead])

    async def attempt() -> tuple[httpx.Response, str, str]:
        fac = await RoomClient(
            server, seeded.meeting_id, sign_in(server, seeded.emails[seeded.facilitator])
        ).connect()
        try:
            await fac.command("start_meeting")
            before = dump(db_url)
            answer = await asyncio.to_thread(post, lead, f"/sets/{seeded.set_id}/people/{m1}/erase")
            return answer, before, dump(db_url)
        finally:
            await fac.close()

    answer, before, after = asyncio.run(attempt())
    lead.close()
    assert answer.status_code == 409
    assert "live" in answer.text
    assert after == before


def test_erasure_is_refused_for_a_set_s_only_facilitator(
    server: Server, seeded: SeededSet, db_url: str
) -> None:
    answer = _erase(server, seeded, seeded.facilitator)
    assert answer.status_code == 409
    assert "only facilitator" in answer.text
    engine = make_engine(db_url)
    with Session(engine) as session:
        person = session.get(Person, seeded.facilitator)
        assert person is not None and person.name == "Fran Facilitator"
        assert session.get(Account, seeded.facilitator) is not None
    engine.dispose()
    sign_in(server, seeded.emails[seeded.facilitator])  # the account still works


def test_erasure_waits_for_the_next_meeting_s_room_to_empty(
    server: Server, seeded: SeededSet, db_url: str
) -> None:
    m1, m2 = seeded.members[:2]
    lead = account(server, seeded.emails[seeded.lead])

    async def attempt() -> tuple[httpx.Response, str, str]:
        waiting = await RoomClient(
            server, seeded.meeting_id, session_cookie(server, seeded.tokens[m2])
        ).connect()
        try:
            before = dump(db_url)
            answer = await asyncio.to_thread(post, lead, f"/sets/{seeded.set_id}/people/{m1}/erase")
            return answer, before, dump(db_url)
        finally:
            await waiting.close()

    answer, before, after = asyncio.run(attempt())
    lead.close()
    assert answer.status_code == 409
    assert "in the room" in answer.text
    assert after == before
