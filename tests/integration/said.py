"""A meeting in which people say things, run over real sockets against a real server, and a
dump of the whole database to look for what they said. Shared by the data-protection tests
(test_member_data, test_retention, test_audit).

Everything member 1 says contains "zebra"; everything the others say contains "okapi", so a
test can look for one person's words in every table and every event's payload."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from sqlmodel import Session, SQLModel, select

from app.db.database import make_engine
from app.db.tables import CommitmentRecord
from tests.harness import CSRF, RoomClient, SeededSet, Server, session_cookie, sign_in

M1_NOTE = "zebra m1 note"
"""Member 1's private note on their own turn: in their own download only."""
M1_SAID = (
    "zebra m1 learned",
    "zebra m1 next step",
    "zebra m1 issue",
    "zebra m1 commitment",
    "zebra m1 by when",
    "zebra m1 how I know",
    "zebra m1 support",
    "zebra m1 question",
    M1_NOTE,
    "zebra m1 feedback",
    "zebra m1 log entry",
    "zebra m1 update",
    "Commitment of member 1",  # seed_set's earlier commitment, reported back on here
)
OTHERS_SAID = (
    "okapi m2 learned",
    "okapi m2 issue",
    "okapi m2 question",
    "okapi m3 question",
    "okapi m2 commitment",
    "okapi m3 for m2",
    "okapi m2 note",
    "okapi m2 feedback",
    "okapi m2 log entry",
)


def post(client: httpx.Client, path: str, data: dict[str, str] | None = None) -> httpx.Response:
    """Every form the data-protection tests send, in one place (as a browser would post it)."""
    return client.post(path, data=data or {}, follow_redirects=False, auth=CSRF)


def member(server: Server, seeded: SeededSet, pid: str) -> httpx.Client:
    cookie = session_cookie(server, seeded.tokens[pid])
    return httpx.Client(
        base_url=server.base, cookies={"setroom_session": cookie}, headers={"accept": "text/html"}
    )


def account(server: Server, email: str) -> httpx.Client:
    return httpx.Client(
        base_url=server.base,
        cookies={"setroom_session": sign_in(server, email)},
        headers={"accept": "text/html"},
    )


async def _meeting(server: Server, seeded: SeededSet) -> None:
    m1, m2, m3 = seeded.members[:3]
    fac = await RoomClient(
        server, seeded.meeting_id, sign_in(server, seeded.emails[seeded.facilitator])
    ).connect()
    people = {
        pid: await RoomClient(
            server, seeded.meeting_id, session_cookie(server, seeded.tokens[pid])
        ).connect()
        for pid in (m1, m2, m3)
    }
    try:
        await fac.command("start_meeting")
        await fac.command("next_phase")  # report-back
        priors = {p.owner: p.id for p in fac.state.prior}  # type: ignore[union-attr]
        await people[m1].command(
            "report_back",
            commitment_id=priors[m1],
            status="partly",
            learned="zebra m1 learned",
            next_step="zebra m1 next step",
        )
        await people[m2].command(
            "report_back", commitment_id=priors[m2], status="done", learned="okapi m2 learned"
        )
        await fac.command("next_phase")  # bidding
        await people[m1].command("place_bid", minutes=15, title="zebra m1 issue")
        await people[m2].command("place_bid", minutes=15, title="okapi m2 issue")
        await fac.command("allot", member=m1)
        await fac.command("allot", member=m2)
        await fac.command("next_phase")  # presenter turns: m1 first
        await fac.command("next_stage")  # questions
        await people[m2].command("ask_question", text="okapi m2 question", confirmed=True)
        await people[m3].command(
            "ask_question", text="okapi m3 question", anonymous=True, confirmed=True
        )
        await people[m1].command("save_note", text=M1_NOTE)
        await fac.command("next_stage")
        await fac.command("next_stage")  # commitment
        await people[m1].command(
            "save_commitment",
            what="zebra m1 commitment",
            by_when="zebra m1 by when",
            how_know="zebra m1 how I know",
            support="zebra m1 support",
        )
        await fac.command("next_stage")  # m2's turn
        await fac.command("next_stage")
        await people[m1].command(
            "ask_question", text="zebra m1 question", anonymous=True, confirmed=True
        )
        await people[m3].command("ask_question", text="okapi m3 for m2", confirmed=True)
        await people[m2].command("save_note", text="okapi m2 note")
        await fac.command("next_stage")
        await fac.command("next_stage")
        await people[m2].command("save_commitment", what="okapi m2 commitment")
        await fac.command("next_stage")
        await fac.command("close_meeting")
    finally:
        for client in [fac, *people.values()]:
            await client.close()


def run_meeting(server: Server, seeded: SeededSet) -> None:
    """The meeting, closed; then members 1 and 2 give feedback and write in their learning
    logs, and member 1 posts an update on their new commitment."""
    asyncio.run(_meeting(server, seeded))
    m1, m2 = seeded.members[:2]
    for pid, word in ((m1, "zebra m1"), (m2, "okapi m2")):
        with member(server, seeded, pid) as client:
            path = f"/meetings/{seeded.meeting_id}/feedback"
            answer = post(
                client,
                path,
                {"usefulness": "4", "safety": "5", "challenge": "3", "comment": f"{word} feedback"},
            )
            assert answer.status_code < 400, answer.text
            answer = post(
                client,
                f"/sets/{seeded.set_id}/log",
                {"action": "add", "text": f"{word} log entry", "meeting_id": seeded.meeting_id},
            )
            assert answer.status_code < 400, answer.text
            if pid == m1:
                answer = post(
                    client,
                    f"/sets/{seeded.set_id}/commitments",
                    {"commitment_id": _commitment_of(server, pid), "text": "zebra m1 update"},
                )
                assert answer.status_code < 400, answer.text


def _commitment_of(server: Server, pid: str) -> str:
    engine = make_engine(server.db_url)
    with Session(engine) as session:
        key = session.exec(
            select(CommitmentRecord.id).where(
                CommitmentRecord.owner_id == pid, CommitmentRecord.what == "zebra m1 commitment"
            )
        ).one()
    engine.dispose()
    return key


def dump(db_url: str) -> str:
    """Every value of every column of every table (the event log's payloads included), as one
    text to search."""
    engine = make_engine(db_url)
    values: list[Any] = []
    with engine.connect() as connection:
        for table in SQLModel.metadata.sorted_tables:
            values.extend(v for row in connection.execute(table.select()) for v in row)
    engine.dispose()
    return "\n".join(str(v) for v in values if v is not None)
