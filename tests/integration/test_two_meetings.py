"""Two meetings in a row: what members commit to at the first opens the second, their report-backs
and next steps are kept, and the summaries show the right people and commitments."""

from __future__ import annotations

import asyncio
import csv
import io
import re

import httpx
from sqlmodel import Session, col, select

from app.db.database import make_engine
from app.db.meetings import create_meeting, open_commitments
from app.db.tables import Attendance, CommitmentRecord
from app.domain.model import MeetingStatus, PhaseKind, ReportStatus
from tests.harness import RoomClient, SeededSet, Server, now_ms, session_cookie, sign_in
from tests.integration.test_live_meeting import PRESENTERS, _run_meeting, _server_state

DAY = 86_400_000


def _get(server: Server, path: str, cookie: str) -> httpx.Response:
    return httpx.get(f"{server.base}{path}", cookies={"setroom_session": cookie})


def test_the_second_meeting_opens_with_the_first_ones_commitments(
    server: Server, seeded: SeededSet, db_url: str
) -> None:
    ids = seeded.members
    presenters = ids[2 : 2 + PRESENTERS]
    cookies = {pid: session_cookie(server, seeded.tokens[pid]) for pid in seeded.names}
    engine = make_engine(db_url)

    async def first() -> None:
        fac = await RoomClient(server, seeded.meeting_id, cookies[seeded.facilitator]).connect()
        members = {
            pid: await RoomClient(server, seeded.meeting_id, cookies[pid]).connect() for pid in ids
        }
        await _run_meeting(fac, members)
        for client in [fac, *members.values()]:
            await client.close()

    asyncio.run(first())
    assert _server_state(db_url, seeded.meeting_id).status is MeetingStatus.CLOSED
    with Session(engine) as session:
        made = session.exec(
            select(CommitmentRecord)
            .where(CommitmentRecord.meeting_id == seeded.meeting_id)
            .order_by(col(CommitmentRecord.created_at))
        ).all()
        first_open = {r.id: r.owner_id for r in made}
    assert sorted(first_open.values()) == sorted(presenters)

    second = create_meeting(
        engine, set_id=seeded.set_id, now=now_ms(), scheduled_at=now_ms() + 28 * DAY
    )
    carrier, done_one, missed = presenters

    async def meeting_two() -> None:
        fac = await RoomClient(server, second, cookies[seeded.facilitator]).connect()
        members = {pid: await RoomClient(server, second, cookies[pid]).connect() for pid in ids}
        state = fac.state
        assert state is not None
        # Exactly the first meeting's open commitments, with their owners.
        assert {p.id: p.owner for p in state.prior} == first_open
        assert state.presented_before == tuple(sorted(presenters))

        await fac.command("start_meeting")
        await fac.command("next_phase")
        state = fac.state
        assert state is not None and state.phase is not None
        assert state.phase.kind is PhaseKind.REPORT_BACK
        assert set(state.order) == set(presenters)
        mine = {p.owner: p.id for p in state.prior}
        await members[done_one].command(
            "report_back", commitment_id=mine[done_one], status="done", learned="Ask early"
        )
        await members[carrier].command(
            "report_back",
            commitment_id=mine[carrier],
            status="partly",
            learned="It needs HR",
            next_step="Meet HR about the rota",
            carry=True,
        )
        # The facilitator records a report for a member: they own it all the same.
        await fac.command(
            "report_back",
            commitment_id=mine[missed],
            status="not_done",
            learned="No time",
            next_step="Block an hour",
        )
        state = fac.state
        assert state is not None
        (carried,) = state.commitments
        assert (carried.owner, carried.what) == (carrier, "Meet HR about the rota")
        await members[carrier].command(
            "save_commitment",
            commitment_id=carried.id,
            what="Meet HR about the rota",
            by_when="end of the month",
        )

        await fac.command("next_phase")
        assert fac.state is not None and fac.state.phase is not None
        assert fac.state.phase.kind is PhaseKind.BIDDING
        page = _get(server, f"/meetings/{second}", cookies[ids[0]])
        assert page.status_code == 200
        spread = re.search(r'<div id="room-spread".*?</div>', page.text, re.S)
        assert spread is not None and "Not presented yet:" in spread.group()
        named = set(re.findall(r"<strong>(.*?)</strong>", spread.group()))
        assert named == {seeded.names[p] for p in ids if p not in presenters}
        await members[ids[0]].command("place_bid", minutes=20, title="A new issue")
        await fac.command("close_meeting")
        for client in [fac, *members.values()]:
            await client.close()

    asyncio.run(meeting_two())

    with Session(engine) as session:
        reported = {
            r.owner_id: r
            for r in session.exec(
                select(CommitmentRecord).where(CommitmentRecord.meeting_id == seeded.meeting_id)
            ).all()
        }
        assert all(r.reported_meeting_id == second for r in reported.values())
        assert (reported[done_one].report_status, reported[done_one].learned) == (
            ReportStatus.DONE.value,
            "Ask early",
        )
        assert (reported[carrier].report_status, reported[carrier].next_step) == (
            ReportStatus.PARTLY.value,
            "Meet HR about the rota",
        )
        assert (reported[missed].report_status, reported[missed].next_step) == (
            ReportStatus.NOT_DONE.value,
            "Block an hour",
        )
        # The carrier's history: the first meeting's commitment, reported, then its next step.
        history = session.exec(
            select(CommitmentRecord)
            .where(CommitmentRecord.owner_id == carrier)
            .order_by(col(CommitmentRecord.created_at))
        ).all()
        assert [(h.meeting_id, h.report_status) for h in history] == [
            (seeded.meeting_id, "partly"),
            (second, None),
        ]
        assert (history[1].what, history[1].by_when) == (
            "Meet HR about the rota",
            "end of the month",
        )
        # A third meeting would open with the carried commitment alone.
        assert [(p.owner, p.what) for p in open_commitments(session, seeded.set_id)] == [
            (carrier, "Meet HR about the rota")
        ]
        # A facilitator's correction (member 8 was there, but for a minute) wins on the summary.
        row = session.get(Attendance, (second, ids[7]))
        assert row is not None
        row.status = "apologies"
        session.add(row)
        session.commit()
    engine.dispose()

    # The summaries: members and facilitators see them; a lead never does.
    member = cookies[ids[0]]
    one = _get(server, f"/meetings/{seeded.meeting_id}/summary", member)
    assert one.status_code == 200
    assert one.headers["cache-control"] == "no-store"
    for pid in presenters:
        assert seeded.names[pid] in one.text
    assert "Talk to my whole team (0)" in one.text and "Talk to my team (1)" in one.text

    two = _get(server, f"/meetings/{second}/summary", cookies[seeded.facilitator])
    assert two.status_code == 200
    assert "Meet HR about the rota" in two.text and "It needs HR" in two.text
    assert "Apologies" in two.text

    export = _get(server, f"/meetings/{second}/summary.csv", member)
    assert export.status_code == 200 and export.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(export.text)))
    kinds = [r["kind"] for r in rows]
    assert kinds.count("attendance") == len(seeded.names)
    attendance = {r["person"]: r["attendance"] for r in rows if r["kind"] == "attendance"}
    assert attendance[seeded.names[ids[7]]] == "apologies"
    assert attendance[seeded.names[ids[0]]] == "present"
    assert [(r["person"], r["what"], r["by_when"]) for r in rows if r["kind"] == "commitment"] == [
        (seeded.names[carrier], "Meet HR about the rota", "end of the month")
    ]
    reports = {r["person"]: r for r in rows if r["kind"] == "report_back"}
    assert set(reports) == {seeded.names[p] for p in presenters}
    assert reports[seeded.names[missed]]["status"] == "not_done"
    assert reports[seeded.names[carrier]]["next_step"] == "Meet HR about the rota"
    assert not [r for r in rows if r["kind"] == "presenter"]

    lead = sign_in(server, seeded.emails[seeded.lead])
    for path in (f"/meetings/{second}/summary", f"/meetings/{second}/summary.csv"):
        assert _get(server, path, lead).status_code == 403
        assert httpx.get(f"{server.base}{path}").status_code == 401
