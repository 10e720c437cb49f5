"""A facilitator's home says what is due across the sets they facilitate: the next meetings,
commitments awaiting report-back, ground rules not yet accepted; and not for a set where they
are a member (supervision)."""

from __future__ import annotations

import asyncio
import re

import httpx
from sqlmodel import Session

from app.db.database import make_engine
from app.db.tables import Membership
from app.domain.model import ReportStatus
from tests.harness import RoomClient, SeededSet, Server, seed_set, session_cookie, sign_in


def _due(server: Server, cookie: str) -> str:
    page = httpx.get(f"{server.base}/home", cookies={"setroom_session": cookie})
    assert page.status_code == 200
    start = page.text.index('id="due-h"')
    section = page.text[start : page.text.index("</section>", start)]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", section))


def test_the_home_page_says_what_is_due(server: Server, seeded: SeededSet, db_url: str) -> None:
    supervision = seed_set(db_url, members=1, set_id="set-sup", prefix="s")
    engine = make_engine(db_url)
    with Session(engine) as session:
        late = session.get(Membership, (seeded.set_id, seeded.members[5]))
        assert late is not None
        late.rules_accepted_at = None
        session.add(late)
        session.add(
            Membership(
                set_id=supervision.set_id,
                person_id=seeded.facilitator,
                role="member",
                rules_accepted_at=None,
            )
        )
        session.commit()
    engine.dispose()
    cookie = sign_in(server, seeded.emails[seeded.facilitator])

    due = _due(server, cookie)
    assert "Set set-a" in due and "Set set-sup" not in due  # a member there, not its facilitator
    assert "Next meeting: " in due and "meeting 2" in due
    assert "2 open commitments awaiting report-back" in due
    assert "Ground rules not yet accepted by Member 6" in due

    async def report_back() -> None:
        fac = await RoomClient(server, seeded.meeting_id, cookie).connect()
        owner = seeded.members[0]
        member = await RoomClient(
            server, seeded.meeting_id, session_cookie(server, seeded.tokens[owner])
        ).connect()
        await fac.command("start_meeting")
        await fac.command("next_phase")
        prior = next(p for p in fac.state.prior if p.owner == owner)  # type: ignore[union-attr]
        await member.command("report_back", commitment_id=prior.id, status=ReportStatus.DONE)
        await fac.close()
        await member.close()

    asyncio.run(report_back())
    due = _due(server, cookie)
    assert "1 open commitment awaiting report-back" in due
