"""Write many benchmark rooms into a database at once: a learning set per room (a facilitator and
nine members), one meeting with its first event, and a personal join link for everyone.

It writes the same rows as the app's own functions (app.db.meetings.create_meeting,
app.db.access.issue_link), in one transaction of bulk inserts, so a thousand rooms take seconds.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert
from sqlmodel import Session, SQLModel

from app.db import eventlog
from app.db.access import DAY_MS, digest, new_id
from app.db.database import make_engine, migrate
from app.db.tables import (
    JoinLink,
    LearningSet,
    Meeting,
    MeetingEvent,
    Membership,
    Organisation,
    Person,
    Programme,
)
from app.domain import events as e
from app.domain.model import MeetingInfo, Participant, Role, Settings
from app.domain.templates import DEFAULT_TEMPLATE, phases_from

MEMBERS = 9
ORGS = ("Northfield Health Trust", "Riverside Borough Council", "Brightwater Care")


@dataclass(frozen=True)
class SeededRoom:
    meeting_id: str
    tokens: list[str]
    """Join-link tokens: the facilitator's first, then the members'."""


def seed_rooms(db_url: str, rooms: int, *, members: int = MEMBERS) -> list[SeededRoom]:
    """Create `rooms` sets in a fresh database, each with one meeting ready to start."""
    migrate(db_url)
    engine = make_engine(db_url)
    now = time.time_ns() // 1_000_000
    phases = phases_from(DEFAULT_TEMPLATE)
    seeded: list[SeededRoom] = []
    rows: dict[type[SQLModel], list[dict[str, Any]]] = {
        LearningSet: [],
        Person: [],
        Membership: [],
        Meeting: [],
        JoinLink: [],
    }
    events = []
    for r in range(rooms):
        set_id, name = f"bs{r}", f"Bench set {r}"
        rows[LearningSet].append({"id": set_id, "programme_id": "bench", "name": name})
        roster: list[Participant] = []
        tokens: list[str] = []
        for n in range(members + 1):
            pid = f"b{r}f" if n == 0 else f"b{r}m{n}"
            role = Role.FACILITATOR if n == 0 else Role.MEMBER
            person_name = "Fran Facilitator" if n == 0 else f"Member {n:02d}"
            org = n % len(ORGS)
            rows[Person].append({"id": pid, "name": person_name, "organisation_id": f"borg{org}"})
            rows[Membership].append(
                {"set_id": set_id, "person_id": pid, "role": role.value, "rules_accepted_at": now}
            )
            roster.append(Participant(id=pid, name=person_name, org=ORGS[org], role=role))
            token = secrets.token_urlsafe(32)
            tokens.append(token)
            rows[JoinLink].append(
                {
                    "id": new_id(),
                    "token_hash": digest(token),
                    "person_id": pid,
                    "set_id": set_id,
                    "created_at": now,
                    "expires_at": now + 30 * DAY_MS,
                }
            )
        meeting_id, title = new_id(), f"{name}: meeting 1"
        rows[Meeting].append(
            {"id": meeting_id, "set_id": set_id, "number": 1, "title": title, "created_at": now}
        )
        opened = e.MeetingOpened(
            info=MeetingInfo(title=title, set_name=name),
            settings=Settings(),
            roster=tuple(roster),
            phases=phases,
        )
        first = e.Stamped(seq=1, at=now, actor=None, actor_role=Role.SYSTEM, event=opened)
        events.append(eventlog.to_row(meeting_id, first).model_dump())
        seeded.append(SeededRoom(meeting_id=meeting_id, tokens=tokens))

    with Session(engine) as session:
        session.add(Programme(id="bench", name="Benchmark programme"))
        session.add_all(Organisation(id=f"borg{i}", name=name) for i, name in enumerate(ORGS))
        session.flush()
        # Parents before children (the foreign keys are enforced). Each table's defaults come
        # from one instance of its model, so new columns with defaults need nothing here.
        for model, values in rows.items():
            defaults = model(**values[0]).model_dump()
            session.execute(insert(model.__table__), [{**defaults, **v} for v in values])  # type: ignore[attr-defined]
            if model is Meeting:
                session.execute(insert(MeetingEvent.__table__), events)  # type: ignore[attr-defined]
        session.commit()
    engine.dispose()
    return seeded
