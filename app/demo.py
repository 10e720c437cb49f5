"""The demo set `make run` creates on first start: a facilitator and 8 members from 3
organisations, with a meeting ready to start. Its join links are issued afresh at every start
(only their hashes are stored, so old ones cannot be printed again)."""

from __future__ import annotations

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from app.db import access
from app.db.meetings import create_meeting, current_meeting
from app.db.tables import LearningSet, Membership, Organisation, Person, Programme

DEMO_SET_ID = "demo-set"
_ORGS = {
    "nhs": "Northfield Health Trust",
    "council": "Riverside Borough Council",
    "care": "Brightwater Care",
}
_FACILITATOR = ("Jordan Reyes", "care")
_MEMBERS = (
    ("Amira Haddad", "nhs"),
    ("Ben Okafor", "nhs"),
    ("Carys Llewellyn", "council"),
    ("Dev Patel", "council"),
    ("Elena Rossi", "care"),
    ("Finn Murphy", "nhs"),
    ("Grace Chen", "council"),
    ("Hugo Martin", "care"),
)


def ensure_demo(engine: Engine, *, now: int) -> None:
    with Session(engine) as session:
        if session.get(LearningSet, DEMO_SET_ID) is not None:
            return
        session.add(Programme(id="demo-programme", name="Cross-organisation leadership"))
        for key, name in _ORGS.items():
            session.add(Organisation(id=f"demo-{key}", name=name))
        session.flush()  # no ORM relationships, so parents are written first by hand
        session.add(
            LearningSet(
                id=DEMO_SET_ID,
                programme_id="demo-programme",
                name="Set A",
                video_link="https://meet.jit.si/setroom-demo",
            )
        )
        session.flush()
        people = [(_FACILITATOR, "facilitator")] + [(m, "member") for m in _MEMBERS]
        for i, ((name, org), role) in enumerate(people):
            person_id = f"demo-{i}"
            session.add(Person(id=person_id, name=name, organisation_id=f"demo-{org}"))
            session.flush()
            session.add(Membership(set_id=DEMO_SET_ID, person_id=person_id, role=role))
        session.commit()
    create_meeting(engine, set_id=DEMO_SET_ID, now=now, scheduled_at=now)


def demo_links(
    engine: Engine, *, public_url: str, now: int, days: int
) -> list[tuple[str, str, str]]:
    """(name, role, link) for everyone in the demo set, freshly issued."""
    if current_meeting(engine, DEMO_SET_ID) is None:
        create_meeting(engine, set_id=DEMO_SET_ID, now=now, scheduled_at=now)
    with Session(engine) as session:
        rows = session.exec(
            select(Membership, Person)
            .join(Person, col(Person.id) == col(Membership.person_id))
            .where(Membership.set_id == DEMO_SET_ID)
            .order_by(col(Membership.role), col(Person.id))
        ).all()
        people = [(p.id, p.name, m.role) for m, p in rows]
    links = []
    for person_id, name, role in people:
        token = access.issue_link(
            engine, person_id=person_id, set_id=DEMO_SET_ID, now=now, days=days
        )
        links.append((name, role, f"{public_url}/j/{token}"))
    return links
