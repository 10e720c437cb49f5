"""Personal join links and web sessions. Only hashes of their secrets are stored."""

from __future__ import annotations

import hashlib
import secrets
import uuid

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from app.db.tables import JoinLink, Membership, WebSession

DAY_MS = 86_400_000


def new_id() -> str:
    return uuid.uuid4().hex


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def issue_link(engine: Engine, *, person_id: str, set_id: str, now: int, days: int) -> str:
    """A fresh personal link token (256 random bits); the person's earlier links are revoked."""
    token = secrets.token_urlsafe(32)
    with Session(engine) as session:
        for old in session.exec(
            select(JoinLink).where(
                JoinLink.person_id == person_id,
                JoinLink.set_id == set_id,
                col(JoinLink.revoked_at).is_(None),
            )
        ):
            old.revoked_at = now
            session.add(old)
        session.add(
            JoinLink(
                id=new_id(),
                token_hash=digest(token),
                person_id=person_id,
                set_id=set_id,
                created_at=now,
                expires_at=now + days * DAY_MS,
            )
        )
        session.commit()
    return token


def redeem_link(
    engine: Engine, token: str, *, now: int, session_days: int
) -> tuple[str, JoinLink] | None:
    """Exchange a valid link for a new session secret; None for a bad, expired or revoked link."""
    if not token or len(token) > 128:
        return None
    with Session(engine) as session:
        link = session.exec(select(JoinLink).where(JoinLink.token_hash == digest(token))).first()
        if link is None or link.revoked_at is not None or link.expires_at <= now:
            return None
        membership = session.get(Membership, (link.set_id, link.person_id))
        if membership is None:
            return None
        secret = open_session(
            session,
            person_id=link.person_id,
            set_id=link.set_id,
            link_id=link.id,
            now=now,
            days=session_days,
        )
        session.commit()
        session.refresh(link)
        return secret, link


def open_session(
    session: Session,
    *,
    person_id: str,
    now: int,
    days: int,
    set_id: str | None = None,
    link_id: str | None = None,
) -> str:
    """A new session's secret (for the cookie); only its hash is stored. The caller commits."""
    secret = secrets.token_urlsafe(32)
    session.add(
        WebSession(
            id_hash=digest(secret),
            person_id=person_id,
            set_id=set_id,
            link_id=link_id,
            created_at=now,
            expires_at=now + days * DAY_MS,
        )
    )
    return secret


def session_person(engine: Engine, secret: str | None, *, now: int) -> WebSession | None:
    if not secret or len(secret) > 128:
        return None
    with Session(engine) as session:
        row = session.get(WebSession, digest(secret))
        if row is None or row.expires_at <= now:
            return None
        if row.link_id is not None:
            # Revoking or replacing a link ends the sessions it opened.
            link = session.get(JoinLink, row.link_id)
            if link is None or link.revoked_at is not None:
                return None
        return row


def end_session(engine: Engine, secret: str) -> None:
    with Session(engine) as session:
        row = session.get(WebSession, digest(secret))
        if row is not None:
            session.delete(row)
            session.commit()
