"""The person behind a session and what they may reach: their sets and programmes."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine
from sqlmodel import Session, select

from app.db.tables import (
    LearningSet,
    Meeting,
    Membership,
    Programme,
    ProgrammeLead,
    WebSession,
)
from app.domain.model import Role


@dataclass(frozen=True)
class Principal:
    person_id: str
    account: bool
    """Signed in with a facilitator's or lead's account (else through a personal join link)."""
    participates: frozenset[str]
    """Sets whose rooms this session opens (as a member or a facilitator)."""
    facilitates: frozenset[str]
    leads: frozenset[str]
    """Programmes this person leads (accounts only)."""


@dataclass(frozen=True)
class Target:
    """What a route names: the set and programme its meeting, set or programme id leads to."""

    set_id: str | None = None
    programme_id: str | None = None


def load_principal(engine: Engine, web_session: WebSession) -> Principal:
    """A join link opens its own set alone; an account reaches every set and programme the
    person belongs to."""
    with Session(engine) as session:
        query = select(Membership).where(Membership.person_id == web_session.person_id)
        if web_session.set_id is not None:
            query = query.where(Membership.set_id == web_session.set_id)
        memberships = session.exec(query).all()
        leads: frozenset[str] = frozenset()
        if web_session.set_id is None:
            leads = frozenset(
                session.exec(
                    select(ProgrammeLead.programme_id).where(
                        ProgrammeLead.person_id == web_session.person_id
                    )
                ).all()
            )
    return Principal(
        person_id=web_session.person_id,
        account=web_session.set_id is None,
        participates=frozenset(m.set_id for m in memberships),
        facilitates=frozenset(m.set_id for m in memberships if m.role == Role.FACILITATOR.value),
        leads=leads,
    )


def resolve_target(engine: Engine, params: dict[str, str]) -> Target | None:
    """The set and programme a route's path parameters name; None when they name nothing."""
    with Session(engine) as session:
        set_id = params.get("set_id")
        if "meeting_id" in params:
            meeting = session.get(Meeting, params["meeting_id"])
            if meeting is None:
                return None
            set_id = meeting.set_id
        if set_id is not None:
            learning_set = session.get(LearningSet, set_id)
            if learning_set is None:
                return None
            return Target(set_id=set_id, programme_id=learning_set.programme_id)
        if "programme_id" in params:
            if session.get(Programme, params["programme_id"]) is None:
                return None
            return Target(programme_id=params["programme_id"])
    return Target()
