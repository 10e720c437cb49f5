"""Command-line administration: `python -m app create-lead --name ... --email ...`."""

from __future__ import annotations

import argparse
import sys
import time

from sqlmodel import Session

from app.auth import accounts
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


COMMANDS = {"create-lead": create_lead}
