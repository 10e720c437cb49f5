"""A set's people, as its facilitators and its programme's leads run them: members one by one or
from a checked CSV, facilitators by account, and everyone's personal join link (issued,
re-issued, revoked). Only a link's hash is stored: a token is seen once, when it is issued.

Removing someone deletes their membership and revokes their links, which ends the sessions
those links opened; what they did in earlier meetings (attendance, commitments) stays."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from app.db.access import DAY_MS, digest, new_id
from app.db.member_csv import MAX_NAME, MemberRow, normalise_email, text_problem
from app.db.programmes import (
    SET_SIZE,
    AdminError,
    Named,
    check_organisation,
    organisation_named,
    programme_organisations,
    take_part,
)
from app.db.refusal import Term
from app.db.tables import Account, JoinLink, LearningSet, Membership, Organisation, Person
from app.domain.model import Role
from app.domain.text import N_


@dataclass(frozen=True)
class PersonItem:
    person_id: str
    name: str
    email: str
    organisation: str
    role: Role
    rules_accepted_at: int | None
    has_account: bool
    link_expires_at: int | None
    """When their current join link stops working; None when they have no working link."""


@dataclass(frozen=True)
class SetAdminView:
    set: LearningSet
    programme_id: str | None
    organisations: tuple[Named, ...]
    facilitators: tuple[PersonItem, ...]
    members: tuple[PersonItem, ...]

    @property
    def size(self) -> int:
        return len(self.members)

    @property
    def size_ok(self) -> bool:
        return SET_SIZE[0] <= self.size <= SET_SIZE[1]


@dataclass(frozen=True)
class Issued:
    """A link just issued: the token is shown once and never stored."""

    person_id: str
    name: str
    email: str
    token: str


def set_admin_view(engine: Engine, *, set_id: str, now: int) -> SetAdminView:
    with Session(engine, expire_on_commit=False) as session:
        learning_set = session.get(LearningSet, set_id)
        if learning_set is None:
            raise AdminError(N_("No such set."))
        rows = session.exec(
            select(Membership, Person, Organisation, Account)
            .join(Person, col(Person.id) == col(Membership.person_id))
            .join(Organisation, col(Organisation.id) == col(Person.organisation_id), isouter=True)
            .join(Account, col(Account.person_id) == col(Person.id), isouter=True)
            .where(Membership.set_id == set_id)
            .order_by(col(Person.name))
        ).all()
        links = session.exec(
            select(JoinLink).where(
                JoinLink.set_id == set_id,
                col(JoinLink.revoked_at).is_(None),
                JoinLink.expires_at > now,
            )
        ).all()
        session.expunge(learning_set)
    expiry: dict[str, int] = {}
    for link in links:
        expiry[link.person_id] = max(expiry.get(link.person_id, 0), link.expires_at)
    people = [
        PersonItem(
            person_id=person.id,
            name=person.name,
            email=person.email or (account.email if account else ""),
            organisation=organisation.name if organisation else "",
            role=Role(membership.role),
            rules_accepted_at=membership.rules_accepted_at,
            has_account=account is not None,
            link_expires_at=expiry.get(person.id),
        )
        for membership, person, organisation, account in rows
    ]
    programme_id = learning_set.programme_id
    return SetAdminView(
        set=learning_set,
        programme_id=programme_id,
        organisations=(
            programme_organisations(engine, programme_id=programme_id) if programme_id else ()
        ),
        facilitators=tuple(p for p in people if p.role is Role.FACILITATOR),
        members=tuple(p for p in people if p.role is Role.MEMBER),
    )


def set_emails(engine: Engine, *, set_id: str) -> frozenset[str]:
    """The addresses of everyone in the set (lower-cased), from their person or account."""
    with Session(engine) as session:
        return _set_emails(session, set_id)


def add_member(
    engine: Engine,
    *,
    set_id: str,
    name: str,
    email: str,
    organisation: str,
    now: int,
    days: int,
) -> Issued:
    """One new member, with their first join link."""
    clean_name = " ".join(name.split())
    what = N_("The name")
    problem = text_problem(clean_name, what=what, limit=MAX_NAME)
    if problem:
        raise AdminError(problem, what=Term(what), limit=MAX_NAME)
    address: str | None = None
    if email.strip():
        address = normalise_email(email)
        if address is None:
            raise AdminError(N_("That does not look like an email address."))
    row = MemberRow(
        row=0, name=clean_name, email=address, organisation=check_organisation(organisation)
    )
    return import_members(engine, set_id=set_id, rows=(row,), now=now, days=days)[0]


def import_members(
    engine: Engine, *, set_id: str, rows: tuple[MemberRow, ...], now: int, days: int
) -> list[Issued]:
    """Add every row as a member and issue each a link, all in one transaction, or none.

    A row whose address has an account joins as that account's person (a set of facilitators
    is a set like any other); otherwise each row is a new person."""
    issued: list[Issued] = []
    with Session(engine) as session:
        learning_set = session.get(LearningSet, set_id)
        if learning_set is None:
            raise AdminError(N_("No such set."))
        taken = _set_emails(session, set_id)
        for row in rows:
            if row.email is not None and row.email in taken:
                raise AdminError("{address} is already in this set.", address=row.email)
        organisations: dict[str, str] = {}
        for row in rows:
            key = row.organisation.lower()
            if key not in organisations:
                organisation = organisation_named(session, row.organisation)
                organisations[key] = organisation.id
                if learning_set.programme_id is not None:
                    take_part(
                        session,
                        programme_id=learning_set.programme_id,
                        organisation_id=organisation.id,
                    )
            account = None
            if row.email is not None:
                account = session.exec(select(Account).where(Account.email == row.email)).first()
            if account is not None:
                person_id = account.person_id
            else:
                person_id = new_id()
                session.add(
                    Person(
                        id=person_id,
                        name=row.name,
                        email=row.email,
                        organisation_id=organisations[key],
                    )
                )
                session.flush()
            session.add(Membership(set_id=set_id, person_id=person_id, role=Role.MEMBER.value))
            token = _issue(session, person_id=person_id, set_id=set_id, now=now, days=days)
            issued.append(Issued(person_id, row.name, row.email or "", token))
        session.commit()
    return issued


def add_facilitator(engine: Engine, *, set_id: str, email: str) -> str:
    """Make the holder of an existing account a facilitator of the set."""
    address = normalise_email(email)
    if address is None:
        raise AdminError(N_("That does not look like an email address."))
    with Session(engine) as session:
        if session.get(LearningSet, set_id) is None:
            raise AdminError(N_("No such set."))
        account = session.exec(select(Account).where(Account.email == address)).first()
        if account is None:
            raise AdminError(
                "No account uses {address}. A facilitator signs in with an account: "
                "ask a lead to create one.",
                address=address,
            )
        existing = session.get(Membership, (set_id, account.person_id))
        if existing is not None:
            if existing.role == Role.FACILITATOR.value:
                raise AdminError("{address} is already a facilitator of this set.", address=address)
            raise AdminError("{address} is already a member of this set.", address=address)
        session.add(
            Membership(set_id=set_id, person_id=account.person_id, role=Role.FACILITATOR.value)
        )
        session.commit()
        return account.person_id


def person_in_set(engine: Engine, *, set_id: str, person_id: str) -> PersonItem | None:
    with Session(engine) as session:
        row = session.exec(
            select(Membership, Person)
            .join(Person, col(Person.id) == col(Membership.person_id))
            .where(Membership.set_id == set_id, Membership.person_id == person_id)
        ).first()
    if row is None:
        return None
    membership, person = row
    return PersonItem(
        person_id=person.id,
        name=person.name,
        email=person.email or "",
        organisation="",
        role=Role(membership.role),
        rules_accepted_at=membership.rules_accepted_at,
        has_account=False,
        link_expires_at=None,
    )


def reissue_link(engine: Engine, *, set_id: str, person_id: str, now: int, days: int) -> Issued:
    """A fresh link for someone in the set; their earlier links (and the sessions those opened)
    stop working."""
    with Session(engine) as session:
        _, person = _membership(session, set_id, person_id)
        token = _issue(session, person_id=person_id, set_id=set_id, now=now, days=days)
        session.commit()
        return Issued(person.id, person.name, person.email or "", token)


def reissue_all_links(engine: Engine, *, set_id: str, now: int, days: int) -> list[Issued]:
    """A fresh link for every member of the set (their earlier links stop working)."""
    with Session(engine) as session:
        rows = session.exec(
            select(Membership, Person)
            .join(Person, col(Person.id) == col(Membership.person_id))
            .where(Membership.set_id == set_id, Membership.role == Role.MEMBER.value)
            .order_by(col(Person.name))
        ).all()
        issued = [
            Issued(
                person_id=person.id,
                name=person.name,
                email=person.email or "",
                token=_issue(session, person_id=person.id, set_id=set_id, now=now, days=days),
            )
            for _, person in rows
        ]
        session.commit()
    return issued


def revoke_links(engine: Engine, *, set_id: str, person_id: str, now: int) -> int:
    """Revoke every working link of someone in the set; how many there were."""
    with Session(engine) as session:
        _membership(session, set_id, person_id)
        count = _revoke(session, person_id=person_id, set_id=set_id, now=now)
        session.commit()
        return count


def remove_person(engine: Engine, *, set_id: str, person_id: str, now: int) -> str:
    """Take someone out of the set: their membership goes and their links are revoked. A set
    keeps at least one facilitator. Returns their name."""
    with Session(engine) as session:
        membership, person = _membership(session, set_id, person_id)
        if membership.role == Role.FACILITATOR.value:
            others = session.exec(
                select(Membership).where(
                    Membership.set_id == set_id,
                    Membership.role == Role.FACILITATOR.value,
                    Membership.person_id != person_id,
                )
            ).first()
            if others is None:
                raise AdminError(
                    "A set needs a facilitator: add another before removing the last one."
                )
        _revoke(session, person_id=person_id, set_id=set_id, now=now)
        session.delete(membership)
        session.commit()
        return person.name


def _membership(session: Session, set_id: str, person_id: str) -> tuple[Membership, Person]:
    membership = session.get(Membership, (set_id, person_id))
    person = session.get(Person, person_id)
    if membership is None or person is None:
        raise AdminError(N_("That person is not in this set."))
    return membership, person


def _set_emails(session: Session, set_id: str) -> frozenset[str]:
    rows = session.exec(
        select(Person.email, Account.email)
        .join(Membership, col(Membership.person_id) == col(Person.id))
        .join(Account, col(Account.person_id) == col(Person.id), isouter=True)
        .where(Membership.set_id == set_id)
    ).all()
    return frozenset(e.lower() for pair in rows for e in pair if e)


def _revoke(session: Session, *, person_id: str, set_id: str, now: int) -> int:
    links = session.exec(
        select(JoinLink).where(
            JoinLink.person_id == person_id,
            JoinLink.set_id == set_id,
            col(JoinLink.revoked_at).is_(None),
        )
    ).all()
    for link in links:
        link.revoked_at = now
        session.add(link)
    return len(links)


def _issue(session: Session, *, person_id: str, set_id: str, now: int, days: int) -> str:
    """As `access.issue_link`, inside the caller's transaction: 256 random bits, stored as a
    hash; the person's earlier links for the set are revoked."""
    _revoke(session, person_id=person_id, set_id=set_id, now=now)
    token = secrets.token_urlsafe(32)
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
    return token
