"""Command-line administration: `python -m app create-lead --name ... --email ...`."""

from __future__ import annotations

import argparse
import logging.config
import sys
import time
from datetime import UTC, datetime

from sqlmodel import Session

from app import logs, mail
from app.auth import accounts
from app.db import reminders, retention
from app.db.access import new_id
from app.db.database import make_engine, migrate
from app.db.tables import Programme, ProgrammeLead
from app.settings import Settings

RESET_DAYS = 7


def create_lead(argv: list[str]) -> int:
    """Create the first programme lead (and, with --programme, their programme), then print a
    one-time link where they choose their password."""
    parser = argparse.ArgumentParser(
        prog="python -m app create-lead",
        description="Create a programme lead's account and print a link to set its password.",
    )
    parser.add_argument("--name", required=True)
    parser.add_argument("--email", required=True)
    parser.add_argument("--programme", help="also create a programme with this name, led by them")
    args = parser.parse_args(argv)
    settings = Settings()
    migrate(settings.database_url)
    engine = make_engine(settings.database_url)
    now = time.time_ns() // 1_000_000
    try:
        person_id = accounts.create_account(engine, name=args.name, email=args.email, now=now)
    except accounts.AccountError as error:
        print(f"create-lead: {error}", file=sys.stderr)
        return 2
    if args.programme:
        with Session(engine) as session:
            programme_id = new_id()
            session.add(Programme(id=programme_id, name=args.programme))
            session.flush()
            session.add(ProgrammeLead(programme_id=programme_id, person_id=person_id))
            session.commit()
    token = accounts.issue_reset(engine, args.email, now=now, minutes=RESET_DAYS * 24 * 60)
    engine.dispose()
    print(f"Created {args.name} <{accounts.normalise_email(args.email)}>.")
    print(
        f"Choose a password within {RESET_DAYS} days: {settings.public_url}/password/reset/{token}"
    )
    return 0


def send_reminders(argv: list[str]) -> int:
    """Mail each member of a set their open commitments and the time of the set's next meeting,
    N days ahead: once per member and meeting, however often cron runs it."""
    parser = argparse.ArgumentParser(
        prog="python -m app send-reminders",
        description="Remind members of meetings within the next N days (SMTP when configured, "
        "else the log). Safe to run as often as you like: each member gets one reminder a "
        "meeting.",
    )
    parser.add_argument("--days", type=int, required=True, help="how many days ahead to look")
    parser.add_argument(
        "--now", help="the time to count from, ISO 8601 (UTC unless it names a zone); default now"
    )
    args = parser.parse_args(argv)
    if not 0 <= args.days <= 366:
        parser.error("--days must be from 0 to 366")
    now = time.time_ns() // 1_000_000
    if args.now:
        try:
            at = datetime.fromisoformat(args.now)
        except ValueError:
            parser.error(f"--now is not an ISO 8601 time: {args.now!r}")
        if at.tzinfo is None:
            at = at.replace(tzinfo=UTC)
        now = int(at.timestamp() * 1000)
    if not logging.getLogger().handlers:  # the log mailer's lines go to stderr, as JSON
        logging.config.dictConfig(logs.config("INFO"))
    settings = Settings()
    migrate(settings.database_url)
    engine = make_engine(settings.database_url)

    def send(to: str, subject: str, body: str) -> None:
        mail.send(settings, to=to, subject=subject, body=body)

    try:
        outcome = reminders.send_due(
            engine, now=now, days=args.days, public_url=settings.public_url, send=send
        )
    finally:
        engine.dispose()
    print(f"Sent {outcome.sent} reminder{'' if outcome.sent == 1 else 's'}.")
    if outcome.failed:
        print(f"send-reminders: {outcome.failed} could not be sent", file=sys.stderr)
        return 1
    return 0


def _time(parser: argparse.ArgumentParser, raw: str | None) -> int:
    """--now as epoch milliseconds (ISO 8601, UTC unless it names a zone); default now."""
    if not raw:
        return time.time_ns() // 1_000_000
    try:
        at = datetime.fromisoformat(raw)
    except ValueError:
        parser.error(f"--now is not an ISO 8601 time: {raw!r}")
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return int(at.timestamp() * 1000)


def purge(argv: list[str]) -> int:
    """Remove the content of meetings closed longer ago than the retention period, keeping
    what the reports count (app.db.retention)."""
    parser = argparse.ArgumentParser(
        prog="python -m app purge",
        description="Remove what was said in meetings closed more than N days ago (questions, "
        "issue titles, commitments' text, feedback comments, learning-log entries tied to "
        "them), keeping attendance, counts and statuses. Safe to run as often as you like.",
    )
    parser.add_argument(
        "--days",
        type=int,
        help="the retention period in days (default: SETROOM_RETENTION_DAYS)",
    )
    parser.add_argument(
        "--now", help="the time to count from, ISO 8601 (UTC unless it names a zone); default now"
    )
    args = parser.parse_args(argv)
    settings = Settings()
    days = args.days if args.days is not None else settings.retention_days
    if days is None:
        parser.error("give --days, or set SETROOM_RETENTION_DAYS")
    if not 0 <= days <= 36_500:
        parser.error("the retention period must be from 0 to 36500 days")
    now = _time(parser, args.now)
    migrate(settings.database_url)
    engine = make_engine(settings.database_url)
    try:
        outcome = retention.purge(engine, now=now, days=days)
    finally:
        engine.dispose()
    print(
        f"Purged {outcome.meetings} meeting{'' if outcome.meetings == 1 else 's'} "
        f"closed more than {days} days ago."
    )
    return 0


COMMANDS = {"create-lead": create_lead, "send-reminders": send_reminders, "purge": purge}
