"""The audit log: who did what to which set, and when; never what anyone said.

Rows are only ever inserted (`record`); nothing here or elsewhere updates or deletes them, and
the database refuses to (migration 0005's triggers). A row names people by id alone, so that
erasing a person (app.db.member_data) leaves the log as it is: the id then names "Erased
member". Where the action comes from:

- the meeting log (`eventlog._project`): starting, closing, locking a meeting, handing the
  controls over and taking them back, letting someone in from the lobby; written in the same
  transaction as the event;
- the admin routes (app.web.audit_trail, from a table of route to action), written before the
  response goes out, so the action is on the page by the time the person sees it done;
- exporting and erasing a member's data (app.web.member_data), in the erasure's transaction;
- the retention purge (`python -m app purge`), one row per meeting purged.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, Engine, insert
from sqlmodel import Session, col, select

from app.db.tables import AuditEntry, LearningSet, Meeting, Person


class Action(StrEnum):
    MEETING_STARTED = "meeting_started"
    MEETING_CLOSED = "meeting_closed"
    MEETING_LOCKED = "meeting_locked"
    MEETING_UNLOCKED = "meeting_unlocked"
    CONTROLS_HANDED = "controls_handed"
    CONTROLS_TAKEN_BACK = "controls_taken_back"
    MEMBER_ADMITTED = "member_admitted"
    PROGRAMME_CREATED = "programme_created"
    PROGRAMME_SAVED = "programme_saved"
    ORGANISATION_ADDED = "organisation_added"
    LEAD_ADDED = "lead_added"
    SET_CREATED = "set_created"
    SET_SETTINGS_SAVED = "set_settings_saved"
    MEMBER_ADDED = "member_added"
    FACILITATOR_ADDED = "facilitator_added"
    LINK_ISSUED = "link_issued"
    LINKS_ISSUED = "links_issued"
    LINK_REVOKED = "link_revoked"
    PERSON_REMOVED = "person_removed"
    MEMBERS_IMPORTED = "members_imported"
    MEETING_PLANNED = "meeting_planned"
    MEETING_SCHEDULED = "meeting_scheduled"
    ROTA_SET = "rota_set"
    TEMPLATE_SAVED = "template_saved"
    GROUND_RULES_SAVED = "ground_rules_saved"
    ATTENDANCE_CORRECTED = "attendance_corrected"
    REPORT_EXPORTED = "report_exported"
    DATA_EXPORTED = "data_exported"
    DATA_ERASED = "data_erased"
    CONTENT_PURGED = "content_purged"


PHRASES: dict[Action, str] = {
    Action.MEETING_STARTED: "started a meeting",
    Action.MEETING_CLOSED: "closed a meeting",
    Action.MEETING_LOCKED: "locked a meeting",
    Action.MEETING_UNLOCKED: "unlocked a meeting",
    Action.CONTROLS_HANDED: "handed the controls to",
    Action.CONTROLS_TAKEN_BACK: "took the controls back",
    Action.MEMBER_ADMITTED: "let in from the lobby",
    Action.PROGRAMME_CREATED: "created the programme",
    Action.PROGRAMME_SAVED: "changed the programme's settings",
    Action.ORGANISATION_ADDED: "added an organisation",
    Action.LEAD_ADDED: "added a lead",
    Action.SET_CREATED: "created a set",
    Action.SET_SETTINGS_SAVED: "changed the set's settings",
    Action.MEMBER_ADDED: "added a member",
    Action.FACILITATOR_ADDED: "added a facilitator",
    Action.LINK_ISSUED: "issued a new join link for",
    Action.LINKS_ISSUED: "issued new join links for every member",
    Action.LINK_REVOKED: "revoked the join link of",
    Action.PERSON_REMOVED: "removed from the set",
    Action.MEMBERS_IMPORTED: "imported members from CSV",
    Action.MEETING_PLANNED: "planned a meeting",
    Action.MEETING_SCHEDULED: "changed a meeting's date",
    Action.ROTA_SET: "changed a meeting's rota",
    Action.TEMPLATE_SAVED: "changed the meeting template",
    Action.GROUND_RULES_SAVED: "changed the ground rules",
    Action.ATTENDANCE_CORRECTED: "corrected attendance",
    Action.REPORT_EXPORTED: "exported the programme report",
    Action.DATA_EXPORTED: "exported the personal data of",
    Action.DATA_ERASED: "erased the personal data of",
    Action.CONTENT_PURGED: "removed a meeting's content (retention period)",
}
"""What each action reads as on the audit page, after the actor's name (and before the subject's
name, when there is one)."""


_INSERT = insert(AuditEntry.__table__)  # type: ignore[attr-defined]


def record(
    connection: Connection,
    *,
    at: int,
    action: Action,
    actor_id: str | None,
    actor_role: str,
    programme_id: str | None = None,
    set_id: str | None = None,
    meeting_id: str | None = None,
    subject_id: str | None = None,
) -> None:
    """Append one row inside the caller's transaction (it commits it with its own writes)."""
    connection.execute(
        _INSERT,
        {
            "at": at,
            "action": action.value,
            "actor_id": actor_id,
            "actor_role": actor_role,
            "programme_id": programme_id,
            "set_id": set_id,
            "meeting_id": meeting_id,
            "subject_id": subject_id,
        },
    )


def record_now(engine: Engine, **values: Any) -> None:
    """`record` in a transaction of its own."""
    with engine.begin() as connection:
        record(connection, **values)


def programme_of(session: Session, set_id: str | None) -> str | None:
    if set_id is None:
        return None
    learning_set = session.get(LearningSet, set_id)
    return learning_set.programme_id if learning_set is not None else None


@dataclass(frozen=True)
class Line:
    """One audit row as the page shows it: names looked up now, so an erased person reads as
    their anonymised name."""

    at: int
    actor: str
    actor_role: str
    action: str
    subject: str
    set_name: str
    meeting_number: int | None


LIMIT = 1000

LEADS_ONLY = frozenset({Action.DATA_EXPORTED, Action.DATA_ERASED})
"""Left out of a set's page for its facilitators: that a member asked for their data, or to be
erased, is between them and the programme's leads."""


def lines(
    engine: Engine, *, programme_id: str | None = None, set_id: str | None = None
) -> list[Line]:
    """The newest rows (up to LIMIT) of a programme (for its leads) or of one set (for its
    facilitators, without LEADS_ONLY), newest first."""
    if (programme_id is None) == (set_id is None):
        raise ValueError("name a programme or a set")
    query = select(AuditEntry).order_by(col(AuditEntry.id).desc()).limit(LIMIT)
    if programme_id is not None:
        query = query.where(AuditEntry.programme_id == programme_id)
    else:
        query = query.where(
            AuditEntry.set_id == set_id,
            col(AuditEntry.action).not_in([a.value for a in LEADS_ONLY]),
        )
    with Session(engine) as session:
        rows = session.exec(query).all()
        people = _names(session, Person, {r.actor_id for r in rows} | {r.subject_id for r in rows})
        sets = _names(session, LearningSet, {r.set_id for r in rows})
        meeting_ids = {r.meeting_id for r in rows if r.meeting_id}
        numbers = dict(
            session.exec(
                select(Meeting.id, Meeting.number).where(col(Meeting.id).in_(meeting_ids))
            ).all()
        )
    return [
        Line(
            at=r.at,
            actor=people.get(r.actor_id or "", "the server" if r.actor_id is None else "someone"),
            actor_role=r.actor_role,
            action=_phrase(r.action),
            subject=people.get(r.subject_id or "", "") if r.subject_id else "",
            set_name=sets.get(r.set_id or "", ""),
            meeting_number=numbers.get(r.meeting_id) if r.meeting_id else None,
        )
        for r in rows
    ]


def _phrase(action: str) -> str:
    try:
        return PHRASES[Action(action)]
    except ValueError:  # an action a later version added: shown as stored
        return action


def _names(
    session: Session, table: type[Person] | type[LearningSet], ids: set[str | None]
) -> dict[str, str]:
    wanted = [i for i in ids if i]
    if not wanted:
        return {}
    return dict(session.exec(select(table.id, table.name).where(col(table.id).in_(wanted))).all())
