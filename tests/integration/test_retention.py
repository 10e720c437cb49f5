"""The retention period: `python -m app purge` removes what was said in meetings closed longer
ago than it, and the programme report gives the same figures afterwards."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime

import pytest
from sqlmodel import Session, select

from app.db import eventlog
from app.db.database import make_engine
from app.db.meetings import create_meeting
from app.db.reports import ProgrammeReport, programme_report
from app.db.tables import AuditEntry, Meeting, MeetingEvent
from app.domain.engine import replay
from app.domain.events import MeetingOpened
from app.domain.views import summary
from tests.harness import ROOT, SeededSet, Server
from tests.integration.said import M1_SAID, OTHERS_SAID, dump, run_meeting

DAY_MS = 86_400_000


def _purge(db_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "SETROOM_RETENTION_DAYS"}
    return subprocess.run(
        [sys.executable, "-m", "app", "purge", *args],
        cwd=ROOT,
        env={**env, "SETROOM_DATABASE_URL": db_url},
        capture_output=True,
        text=True,
        timeout=60,
    )


def _closed_at(db_url: str, meeting_id: str) -> int:
    engine = make_engine(db_url)
    with Session(engine) as session:
        at = session.exec(
            select(MeetingEvent.at).where(
                MeetingEvent.meeting_id == meeting_id, MeetingEvent.type == "meeting_closed"
            )
        ).one()
    engine.dispose()
    return at


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat()


def _report(db_url: str, seeded: SeededSet) -> ProgrammeReport:
    engine = make_engine(db_url)
    try:
        return programme_report(engine, programme_id=seeded.programme_id)
    finally:
        engine.dispose()


@pytest.mark.confidentiality
def test_a_purge_removes_what_was_said_and_keeps_every_figure(
    server: Server, seeded: SeededSet, db_url: str
) -> None:
    run_meeting(server, seeded)
    server.stop()
    closed = _closed_at(db_url, seeded.meeting_id)
    report = _report(db_url, seeded)
    assert report.commitments.made > 0 and report.presentations == 2
    engine = make_engine(db_url)
    presenters = summary(replay(seeded.meeting_id, eventlog.load(engine, seeded.meeting_id)))

    done = _purge(db_url, "--days", "30", "--now", _iso(closed + 31 * DAY_MS))

    assert done.returncode == 0, done.stderr
    assert "Purged 1 meeting" in done.stdout
    everything = dump(db_url)
    for said in (*M1_SAID, *OTHERS_SAID):
        if said != "Commitment of member 1":  # made at the earlier meeting, not purged
            assert said not in everything, said
    assert "[removed]" in everything
    assert "Member 1" in everything  # names are not meeting content
    assert _report(db_url, seeded) == report
    after = summary(replay(seeded.meeting_id, eventlog.load(engine, seeded.meeting_id)))
    assert [s.member for s in after.presenters] == [s.member for s in presenters.presenters]
    assert [c.owner for c in after.commitments] == [c.owner for c in presenters.commitments]
    with Session(engine) as session:
        meeting = session.get(Meeting, seeded.meeting_id)
        assert meeting is not None and meeting.purged_at is not None
        purges = session.exec(select(AuditEntry).where(AuditEntry.action == "content_purged")).all()
        assert [(p.meeting_id, p.set_id) for p in purges] == [(seeded.meeting_id, seeded.set_id)]
    engine.dispose()

    again = _purge(db_url, "--days", "30", "--now", _iso(closed + 40 * DAY_MS))
    assert again.returncode == 0 and "Purged 0 meetings" in again.stdout


def test_a_meeting_closed_within_the_period_keeps_its_content(
    server: Server, seeded: SeededSet, db_url: str
) -> None:
    run_meeting(server, seeded)
    server.stop()
    closed = _closed_at(db_url, seeded.meeting_id)
    before = dump(db_url)

    done = _purge(db_url, "--days", "30", "--now", _iso(closed + 29 * DAY_MS))

    assert done.returncode == 0, done.stderr
    assert "Purged 0 meetings" in done.stdout
    assert dump(db_url) == before


def test_the_purge_needs_a_period(db_url: str) -> None:
    refused = _purge(db_url)
    assert refused.returncode == 2
    assert "SETROOM_RETENTION_DAYS" in refused.stderr
    negative = _purge(db_url, "--days", "-1")
    assert negative.returncode == 2


@pytest.mark.confidentiality
def test_a_purge_also_removes_its_commitments_from_the_meetings_that_followed(
    server: Server, seeded: SeededSet, db_url: str
) -> None:
    """The next meeting's log copies open commitments in to be reported back on: purging the
    meeting that made them must not leave their text there."""
    run_meeting(server, seeded)
    server.stop()
    closed = _closed_at(db_url, seeded.meeting_id)
    engine = make_engine(db_url)
    following = create_meeting(engine, set_id=seeded.set_id, now=closed + DAY_MS)
    opened = eventlog.load(engine, following)[0].event
    assert isinstance(opened, MeetingOpened)
    assert "zebra m1 commitment" in [p.what for p in opened.prior]

    done = _purge(db_url, "--days", "30", "--now", _iso(closed + 31 * DAY_MS))

    assert done.returncode == 0, done.stderr
    everything = dump(db_url)
    assert "zebra m1 commitment" not in everything
    assert "okapi m2 commitment" not in everything
    state = replay(following, eventlog.load(engine, following))
    assert {p.owner for p in state.prior} == {p.owner for p in opened.prior}
    engine.dispose()
