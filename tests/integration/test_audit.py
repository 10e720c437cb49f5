"""The audit log: facilitators' and leads' actions (who, what, when, which set; never what was
said) on a page for the programme's leads and one for the set's facilitators; the database
refuses to change it; every route that changes a set or programme is audited."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, col, select

from app.db import audit
from app.db.database import make_engine, migrate
from app.db.tables import AuditEntry
from app.web.audit_trail import AUDITED, NOT_AUDITED
from tests.harness import RoomClient, SeededSet, Server, now_ms, session_cookie, sign_in
from tests.integration.said import account, member, post, run_meeting
from tests.integration.test_matrix import app_routes


def _entries(db_url: str) -> list[AuditEntry]:
    engine = make_engine(db_url)
    with Session(engine) as session:
        rows = list(session.exec(select(AuditEntry).order_by(col(AuditEntry.id))).all())
    engine.dispose()
    return rows


@pytest.mark.confidentiality
def test_facilitators_and_leads_actions_are_logged_without_what_was_said(
    server: Server, seeded: SeededSet, db_url: str
) -> None:
    run_meeting(server, seeded)
    m3, m7, m8 = seeded.members[2], seeded.members[6], seeded.members[7]
    s = seeded.set_id
    with account(server, seeded.emails[seeded.lead]) as lead:
        assert post(lead, f"/sets/{s}/members", {"name": ""}).status_code == 400
        assert post(lead, f"/sets/{s}/people/{m8}/remove").status_code == 303
        assert lead.get(f"/sets/{s}/people/{m3}/export").status_code == 200
        with account(server, seeded.emails[seeded.facilitator]) as facilitator:
            assert post(facilitator, f"/sets/{s}/people/{m7}/link").status_code == 200
            with member(server, seeded, seeded.members[0]) as client:
                assert client.get(f"/sets/{s}/audit").status_code == 403
                assert client.get(f"/sets/{s}/my-data").status_code == 200
            set_page = facilitator.get(f"/sets/{s}/audit")
            admin = facilitator.get(f"/sets/{s}/admin").text
        programme = lead.get(f"/programmes/{seeded.programme_id}").text
        page = lead.get(f"/programmes/{seeded.programme_id}/audit")
        assert lead.get(f"/sets/{s}/audit").status_code == 403

    rows = _entries(db_url)
    assert [(r.action, r.actor_id, r.actor_role, r.subject_id) for r in rows] == [
        ("meeting_started", seeded.facilitator, "facilitator", None),
        ("meeting_closed", seeded.facilitator, "facilitator", None),
        ("person_removed", seeded.lead, "lead", m8),
        ("data_exported", seeded.lead, "lead", m3),
        ("link_issued", seeded.facilitator, "facilitator", m7),
        ("data_exported", seeded.members[0], "member", seeded.members[0]),
    ]
    assert {(r.set_id, r.programme_id) for r in rows} == {(s, seeded.programme_id)}
    assert {r.meeting_id for r in rows[:2]} == {seeded.meeting_id}
    stored = " ".join(str(v) for r in rows for v in r.model_dump().values())
    for said in ("zebra", "okapi", "Member", "Fran", "Set "):
        assert said not in stored

    assert f'href="/programmes/{seeded.programme_id}/audit"' in programme
    assert f'href="/sets/{s}/audit"' in admin
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    lines = page.text
    for line in (
        "started a meeting",
        "(meeting 2)",
        "closed a meeting",
        "removed from the set Member 8",
        "exported the personal data of Member 3",
        "issued a new join link for Member 7",
        "Fran Facilitator",
        "Set set-a",
    ):
        assert line in lines, line
    # Newest first.
    assert lines.index("issued a new join link") < lines.index("started a meeting")
    assert 'Member 1 <span class="hint">(member)</span>' in lines
    assert "zebra" not in lines and "okapi" not in lines
    assert set_page.status_code == 200
    assert "started a meeting" in set_page.text and "removed from the set" in set_page.text
    # That someone asked for their data is for the programme's leads alone.
    assert "exported the personal data" not in set_page.text


def test_the_room_s_controls_are_audited(server: Server, seeded: SeededSet, db_url: str) -> None:
    m1, m2 = seeded.members[:2]

    async def scenario() -> None:
        cookie = sign_in(server, seeded.emails[seeded.facilitator])
        fac = await RoomClient(server, seeded.meeting_id, cookie).connect()
        await fac.command("lock_meeting", locked=True)
        newcomer = await RoomClient(
            server, seeded.meeting_id, session_cookie(server, seeded.tokens[m2])
        ).connect()
        await fac.wait_for(lambda st: st.waiting == (m2,))
        await fac.command("admit", member=m2)
        await fac.command("lock_meeting", locked=False)
        await fac.command("hand_over", member=m1)
        await fac.command("take_back")
        for client in (fac, newcomer):
            await client.close()

    asyncio.run(scenario())
    rows = _entries(db_url)
    assert [(r.action, r.actor_id, r.subject_id) for r in rows] == [
        ("meeting_locked", seeded.facilitator, None),
        ("member_admitted", seeded.facilitator, m2),
        ("meeting_unlocked", seeded.facilitator, None),
        ("controls_handed", seeded.facilitator, m1),
        ("controls_taken_back", seeded.facilitator, None),
    ]


def test_the_database_refuses_to_change_the_audit_log(db_url: str) -> None:
    migrate(db_url)
    engine = make_engine(db_url)
    audit.record_now(
        engine,
        at=now_ms(),
        action=audit.Action.PERSON_REMOVED,
        actor_id="lead",
        actor_role="lead",
        set_id="s",
        subject_id="m1",
    )
    for statement in (
        "UPDATE audit_entry SET actor_id = 'someone else'",
        "DELETE FROM audit_entry",
    ):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:
            connection.execute(text(statement))
    (row,) = _entries(db_url)
    assert (row.actor_id, row.subject_id) == ("lead", "m1")
    engine.dispose()


def test_every_route_that_changes_something_is_audited_or_says_why_not(db_url: str) -> None:
    routes = app_routes(db_url)
    changing = {(m, p) for m, p, _rule in routes if m not in ("GET", "HEAD", "WS")}
    assert changing - set(AUDITED) - set(NOT_AUDITED) == set()
    assert set(AUDITED) | set(NOT_AUDITED) <= {(m, p) for m, p, _rule in routes}
