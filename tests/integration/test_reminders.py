"""`python -m app send-reminders`: one mail per member and meeting, N days ahead, with their
open commitments and the meeting's time, never a join link."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from datetime import UTC, datetime

import pytest
from sqlmodel import Session, select

from app import cli
from app.db.database import make_engine
from app.db.tables import Meeting, Person, ReminderSent
from tests.harness import ROOT, SeededSet, seed_set

MEETING_AT = datetime(2026, 3, 10, 9, 30, tzinfo=UTC)
AT_MS = int(MEETING_AT.timestamp() * 1000)


@pytest.fixture
def planned(db_url: str) -> SeededSet:
    """Members 1 and 2 hold open commitments; everyone but member 8 has an email address; the
    set's meeting is on 10 March 2026 at 09:30 UTC."""
    seeded = seed_set(db_url, members=8, prior_for=(1, 2))
    engine = make_engine(db_url)
    with Session(engine) as session:
        for pid in seeded.members[:-1]:
            person = session.get(Person, pid)
            assert person is not None
            person.email = f"{pid}@example.org"
            session.add(person)
        meeting = session.get(Meeting, seeded.meeting_id)
        assert meeting is not None
        meeting.scheduled_at = AT_MS
        session.add(meeting)
        session.commit()
    engine.dispose()
    return seeded


def _mails(records: list[logging.LogRecord]) -> dict[str, str]:
    """Recipient -> the whole logged message (the log mailer's lines)."""
    found = {}
    for record in records:
        message = record.getMessage()
        if record.name == "app.mail" and message.startswith("mail (no SMTP configured)"):
            to = message.split("to=", 1)[1].split(" ", 1)[0]
            found[to] = message
    return found


def test_reminders_go_once_to_each_member_with_their_commitments(
    planned: SeededSet,
    db_url: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("SETROOM_DATABASE_URL", db_url)
    monkeypatch.delenv("SETROOM_SMTP_HOST", raising=False)
    # Four days ahead is too early for a three-day reminder: nothing is sent.
    assert cli.COMMANDS["send-reminders"](["--days", "3", "--now", "2026-03-06T09:00:00"]) == 0
    assert capsys.readouterr().out.strip() == "Sent 0 reminders."

    caplog.set_level(logging.INFO, logger="app.mail")
    assert cli.send_reminders(["--days", "3", "--now", "2026-03-08T09:00:00+00:00"]) == 0
    assert capsys.readouterr().out.strip() == "Sent 7 reminders."
    mails = _mails(caplog.records)
    members = planned.members
    assert set(mails) == {f"{pid}@example.org" for pid in members[:-1]}
    first = mails[f"{members[0]}@example.org"]
    assert "Tue 10 Mar 2026, 09:30 UTC" in first
    assert "Commitment of member 1 (by next month)" in first
    assert "Commitment of member 2" not in first
    assert "no open commitments" in mails[f"{members[3]}@example.org"]
    for body in mails.values():
        assert "Member 8" not in body
        assert all(token not in body for token in planned.tokens.values())
        assert "/j/" not in body

    # Run again (cron): no one is reminded twice.
    caplog.clear()
    assert cli.send_reminders(["--days", "3", "--now", "2026-03-09T09:00:00Z"]) == 0
    assert capsys.readouterr().out.strip() == "Sent 0 reminders."
    assert _mails(caplog.records) == {}
    engine = make_engine(db_url)
    with Session(engine) as session:
        rows = session.exec(select(ReminderSent)).all()
        assert sorted(r.person_id for r in rows) == sorted(members[:-1])
        assert {r.meeting_id for r in rows} == {planned.meeting_id}
    engine.dispose()


def test_started_meetings_and_bad_input_send_nothing(
    planned: SeededSet, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SETROOM_DATABASE_URL", db_url)
    engine = make_engine(db_url)
    with Session(engine) as session:
        meeting = session.get(Meeting, planned.meeting_id)
        assert meeting is not None
        meeting.status = "live"
        session.add(meeting)
        session.commit()
    assert cli.send_reminders(["--days", "3", "--now", "2026-03-08T09:00"]) == 0
    with Session(engine) as session:
        assert session.exec(select(ReminderSent)).all() == []
    engine.dispose()
    with pytest.raises(SystemExit):
        cli.send_reminders(["--days", "3", "--now", "next tuesday"])
    with pytest.raises(SystemExit):
        cli.send_reminders(["--days", "-1"])


def test_the_command_runs_from_the_shell_and_logs_each_mail(
    planned: SeededSet, db_url: str
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SETROOM_SMTP")}
    env["SETROOM_DATABASE_URL"] = db_url
    done = subprocess.run(
        [sys.executable, "-m", "app", "send-reminders", "--days", "2", "--now", "2026-03-09"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "Sent 7 reminders."
    lines = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    mails = [x for x in lines if x["logger"] == "app.mail"]
    assert len(mails) == 7
    assert all("Tue 10 Mar 2026, 09:30 UTC" in x["msg"] for x in mails)
