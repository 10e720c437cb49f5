"""Facilitators' and programme leads' accounts: Argon2id passwords (pwdlib), sessions, and
password reset by a one-time token. Members have no account: their join link is their key."""

from __future__ import annotations

import functools
import secrets

from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from sqlalchemy import Engine
from sqlmodel import Session, col, delete, select

from app.db.access import digest, new_id, open_session
from app.db.tables import Account, PasswordReset, Person, WebSession

MIN_PASSWORD = 10
MAX_PASSWORD = 200
RESET_MINUTES = 60

_hasher = PasswordHash((Argon2Hasher(),))


class AccountError(ValueError):
    """A request about accounts that cannot be met; the message says why, for people."""


def normalise_email(raw: str) -> str:
    email = raw.strip().lower()
    local, _, domain = email.partition("@")
    # Control characters too: PostgreSQL cannot even compare text that holds a NUL.
    bad = any(c.isspace() or not c.isprintable() for c in email)
    if not local or "." not in domain or len(email) > 320 or bad:
        raise AccountError("That does not look like an email address.")
    return email


def check_password(password: str) -> None:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise AccountError(f"A password has {MIN_PASSWORD} to {MAX_PASSWORD} characters.")


@functools.cache
def _dummy_hash() -> str:
    return _hasher.hash(secrets.token_urlsafe(16))


def create_account(
    engine: Engine,
    *,
    name: str,
    email: str,
    now: int,
    password: str | None = None,
    person_id: str | None = None,
    organisation_id: str | None = None,
) -> str:
    """A person with an account; without a password it can only be entered after a reset."""
    email = normalise_email(email)
    if password is not None:
        check_password(password)
    secret = password if password is not None else secrets.token_urlsafe(32)
    with Session(engine) as session:
        if session.exec(select(Account).where(Account.email == email)).first() is not None:
            raise AccountError("An account with that email address already exists.")
        if person_id is None:
            person_id = new_id()
            session.add(
                Person(id=person_id, name=name, email=email, organisation_id=organisation_id)
            )
            session.flush()
        session.add(
            Account(
                person_id=person_id, email=email, password_hash=_hasher.hash(secret), created_at=now
            )
        )
        session.commit()
    return person_id


def authenticate(engine: Engine, email: str, password: str) -> str | None:
    """The person whose account this is, or None. Unknown addresses cost the same time."""
    try:
        email = normalise_email(email)
    except AccountError:
        email = ""
    with Session(engine) as session:
        account = session.exec(select(Account).where(Account.email == email)).first()
    if account is None or len(password) > MAX_PASSWORD:
        _hasher.verify(password[:MAX_PASSWORD], _dummy_hash())
        return None
    valid, updated = _hasher.verify_and_update(password, account.password_hash)
    if not valid:
        return None
    if updated is not None:
        with Session(engine) as session:
            row = session.get(Account, account.person_id)
            if row is not None:
                row.password_hash = updated
                session.add(row)
                session.commit()
    return account.person_id


def sign_in(engine: Engine, *, person_id: str, now: int, days: int) -> str:
    with Session(engine) as session:
        secret = open_session(session, person_id=person_id, now=now, days=days)
        session.commit()
    return secret


def issue_reset(
    engine: Engine, email: str, *, now: int, minutes: int = RESET_MINUTES
) -> str | None:
    """A one-time reset token for the account with that address, or None if there is none."""
    try:
        email = normalise_email(email)
    except AccountError:
        return None
    with Session(engine) as session:
        account = session.exec(select(Account).where(Account.email == email)).first()
        if account is None:
            return None
        token = secrets.token_urlsafe(32)
        session.add(
            PasswordReset(
                token_hash=digest(token),
                person_id=account.person_id,
                created_at=now,
                expires_at=now + minutes * 60_000,
            )
        )
        session.commit()
    return token


def reset_is_valid(engine: Engine, token: str, *, now: int) -> bool:
    with Session(engine) as session:
        return _usable_reset(session, token, now) is not None


def _usable_reset(session: Session, token: str, now: int) -> PasswordReset | None:
    if not token or len(token) > 128:
        return None
    reset = session.get(PasswordReset, digest(token))
    if reset is None or reset.used_at is not None or reset.expires_at <= now:
        return None
    return reset


def reset_password(engine: Engine, token: str, password: str, *, now: int) -> str:
    """Set a new password with a reset token; every session of that account ends."""
    check_password(password)
    with Session(engine) as session:
        reset = _usable_reset(session, token, now)
        if reset is None:
            raise AccountError("This reset link has expired or been used. Ask for a new one.")
        account = session.get(Account, reset.person_id)
        if account is None:
            raise AccountError("This reset link has expired or been used. Ask for a new one.")
        account.password_hash = _hasher.hash(password)
        reset.used_at = now
        session.add(account)
        session.add(reset)
        session.exec(
            delete(WebSession).where(
                col(WebSession.person_id) == account.person_id, col(WebSession.set_id).is_(None)
            )
        )
        session.commit()
        return account.person_id
