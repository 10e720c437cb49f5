"""A person's data: exported as JSON, and erased.

Export gives everything the person said or that is recorded about them, in the sets named: who
they are, their memberships, attendance, the questions they asked, the issues they bid with,
their private notes on their own turns (only in their own download: a presenter's notes reach
no one else, a lead answering a request for their data included), their commitments with
their report-backs and updates, their feedback and their learning log.
Nothing anyone else said is in it (not even questions put to them as presenter).

Erasure anonymises the person everywhere and leaves everyone else's records as they were:

- their name becomes "Erased member" (the person's row and every roster in the meeting log);
  email and organisation go; their account, password resets, join links and sessions are
  deleted (their open sockets close: app.web.member_data), and they leave every set;
- what they wrote becomes the marker "[erased]": their questions, bids and slot titles,
  commitments and report-backs (in the tables and in the meeting log, app.db.scrub), feedback
  comments; their commitment updates and learning-log entries are deleted;
- ids, times, statuses and scores stay: attendance rows, feedback scores, commitment statuses,
  the meeting log's shape. Others' questions (those put to them included), commitments and
  attendance are untouched, and the programme report's figures stay the same for everyone else.
  Their own past attendance leaves the set's rates with their membership, as when someone is
  removed from a set.
- the audit log keeps its rows (ids only), plus one for the erasure.

Refused while a meeting of one of their sets is live, or while anyone is in the room of one that
has not started (a room in memory holds the state folded before the rewrite, with their name:
`_refuse_if_occupied`), for a programme lead (an account the programme runs on), for a set's
last facilitator, and for anyone who takes part in sets outside the lead's programme.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, delete, or_
from sqlmodel import Session, col, select

from app.db import audit, eventlog, scrub
from app.db.programmes import AdminError
from app.db.tables import (
    Account,
    Attendance,
    CommitmentRecord,
    CommitmentUpdate,
    Feedback,
    JoinLink,
    LearningLogEntry,
    LearningSet,
    Meeting,
    MeetingEvent,
    Membership,
    Organisation,
    PasswordReset,
    Person,
    ProgrammeLead,
    QuestionRecord,
    WebSession,
)
from app.domain.engine import replay
from app.domain.model import Role
from app.domain.text import N_

FORMAT = "setroom-member-data/1"


def _iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="seconds")


def known_sets(session: Session, person_id: str) -> set[str]:
    """Sets the person is or was in: a membership, or a join link (kept, revoked, on removal)."""
    members = session.exec(select(Membership.set_id).where(Membership.person_id == person_id))
    links = session.exec(select(JoinLink.set_id).where(JoinLink.person_id == person_id))
    return set(members) | set(links)


def sets_of_programme(session: Session, programme_id: str | None) -> set[str]:
    return set(session.exec(select(LearningSet.id).where(LearningSet.programme_id == programme_id)))


def export(
    engine: Engine,
    *,
    person_id: str,
    set_ids: Collection[str],
    now: int,
    with_private_notes: bool = False,
) -> dict[str, Any]:
    """The person's data in these sets, as a JSON-ready dict."""
    with Session(engine) as session:
        person = session.get(Person, person_id)
        if person is None:
            raise LookupError(person_id)
        sets = {
            s.id: s
            for s in session.exec(select(LearningSet).where(col(LearningSet.id).in_(set_ids)))
        }
        meetings = {
            m.id: m for m in session.exec(select(Meeting).where(col(Meeting.set_id).in_(sets)))
        }

        def where(meeting_id: str | None) -> dict[str, Any]:
            meeting = meetings.get(meeting_id or "")
            if meeting is None:
                return {"set": None, "meeting": None}
            return {"set": sets[meeting.set_id].name, "meeting": meeting.number}

        organisation = (
            session.get(Organisation, person.organisation_id) if person.organisation_id else None
        )
        account = session.get(Account, person_id)
        memberships = session.exec(
            select(Membership).where(
                Membership.person_id == person_id, col(Membership.set_id).in_(sets)
            )
        ).all()
        attendance = session.exec(
            select(Attendance).where(
                Attendance.person_id == person_id, col(Attendance.meeting_id).in_(meetings)
            )
        ).all()
        questions = session.exec(
            select(QuestionRecord)
            .where(
                QuestionRecord.author_id == person_id, col(QuestionRecord.meeting_id).in_(meetings)
            )
            .order_by(col(QuestionRecord.at))
        ).all()
        commitments = session.exec(
            select(CommitmentRecord)
            .where(
                CommitmentRecord.owner_id == person_id,
                col(CommitmentRecord.meeting_id).in_(meetings),
            )
            .order_by(col(CommitmentRecord.created_at))
        ).all()
        updates = session.exec(
            select(CommitmentUpdate)
            .where(
                CommitmentUpdate.person_id == person_id,
                col(CommitmentUpdate.commitment_id).in_([c.id for c in commitments]),
            )
            .order_by(col(CommitmentUpdate.created_at))
        ).all()
        feedback = session.exec(
            select(Feedback).where(
                Feedback.person_id == person_id, col(Feedback.meeting_id).in_(meetings)
            )
        ).all()
        log = session.exec(
            select(LearningLogEntry)
            .where(LearningLogEntry.person_id == person_id, col(LearningLogEntry.set_id).in_(sets))
            .order_by(col(LearningLogEntry.created_at))
        ).all()
        bids = _bids(session, person_id, meetings)
        notes = _notes(session, person_id, meetings) if with_private_notes else []
    return {
        "format": FORMAT,
        "exported_at": _iso(now),
        "person": {
            "id": person.id,
            "name": person.name,
            "email": person.email or (account.email if account else None),
            "organisation": organisation.name if organisation else None,
            "has_account": account is not None,
        },
        "sets": [
            {
                "set": sets[m.set_id].name,
                "role": m.role,
                "ground_rules_accepted_at": _iso(m.rules_accepted_at),
            }
            for m in memberships
        ],
        "attendance": [
            {
                **where(a.meeting_id),
                "first_joined_at": _iso(a.first_joined_at or None),
                "late": a.late,
                "corrected_status": a.status,
            }
            for a in attendance
        ],
        "questions_asked": [
            {
                **where(q.meeting_id),
                "text": q.text,
                "anonymous": q.anonymous,
                "flagged_as_advice": q.advice,
                "starred_by_presenter": q.starred,
                "at": _iso(q.at),
            }
            for q in questions
        ],
        "issues_bid": [{**where(meeting_id), "title": title} for meeting_id, title in bids],
        "presenter_notes": [{**where(meeting_id), "text": text} for meeting_id, text in notes],
        "commitments": [
            {
                **where(c.meeting_id),
                "what": c.what,
                "by_when": c.by_when,
                "how_i_will_know": c.how_know,
                "support_wanted": c.support,
                "reported": c.report_status,
                "learned": c.learned,
                "next_step": c.next_step,
                "updates": [
                    {"text": u.text, "at": _iso(u.created_at)}
                    for u in updates
                    if u.commitment_id == c.id
                ],
            }
            for c in commitments
        ],
        "feedback": [
            {
                **where(f.meeting_id),
                "usefulness": f.usefulness,
                "safety": f.safety,
                "challenge": f.challenge,
                "comment": f.comment,
            }
            for f in feedback
        ],
        "learning_log": [
            {
                "set": sets[entry.set_id].name,
                "meeting": meetings[entry.meeting_id].number
                if entry.meeting_id in meetings
                else None,
                "text": entry.text,
                "written_at": _iso(entry.created_at),
            }
            for entry in log
        ],
    }


def _logged(
    session: Session, meetings: Collection[str], event_type: str
) -> list[tuple[str, dict[str, Any]]]:
    rows = session.exec(
        select(MeetingEvent.meeting_id, MeetingEvent.payload)
        .where(col(MeetingEvent.meeting_id).in_(list(meetings)), MeetingEvent.type == event_type)
        .order_by(col(MeetingEvent.meeting_id), col(MeetingEvent.seq))
    ).all()
    return [(meeting_id, json.loads(raw)) for meeting_id, raw in rows]


def _bids(session: Session, person_id: str, meetings: Collection[str]) -> list[tuple[str, str]]:
    """The issue titles the person bid with, from the meeting logs (bids have no table)."""
    found = []
    for meeting_id, payload in _logged(session, meetings, "bid_placed"):
        bid = payload.get("bid") or {}
        if bid.get("member") == person_id:
            found.append((meeting_id, str(bid.get("title", ""))))
    return found


def _notes(session: Session, person_id: str, meetings: Collection[str]) -> list[tuple[str, str]]:
    """The person's private notes on their own turns, as last saved (notes live only in the
    meeting log, see docs/security.md)."""
    latest: dict[tuple[str, str], str] = {}
    for meeting_id, payload in _logged(session, meetings, "note_saved"):
        note = payload.get("note") or {}
        if note.get("owner") == person_id:
            latest[(meeting_id, str(note.get("id")))] = str(note.get("text", ""))
    return [(meeting_id, text) for (meeting_id, _), text in latest.items()]


def erase(
    engine: Engine, *, person_id: str, programme_id: str | None, by: str, now: int
) -> list[str]:
    """Anonymise the person everywhere (see the module's docstring), all or nothing, with the
    audit row in the same transaction. Returns the sets they were in, for the rooms to follow.
    Raises AdminError (with a sentence for the page) when refused, LookupError for nobody."""
    with Session(engine) as session:
        person = session.get(Person, person_id)
        if person is None:
            raise LookupError(person_id)
        sets = known_sets(session, person_id)
        if not sets or not sets <= sets_of_programme(session, programme_id):
            raise AdminError(
                "They take part in sets outside this programme: erasing them needs those "
                "programmes' leads too."
            )
        if session.exec(select(ProgrammeLead).where(ProgrammeLead.person_id == person_id)).first():
            raise AdminError(N_("They lead a programme: a lead's account cannot be erased here."))
        meeting_ids = list(session.exec(select(Meeting.id).where(col(Meeting.set_id).in_(sets))))
        if session.exec(
            select(Meeting.id).where(col(Meeting.id).in_(meeting_ids), Meeting.status == "live")
        ).first():
            raise AdminError(N_("A meeting of their set is live: erase them once it has closed."))
        _refuse_if_occupied(session, meeting_ids)
        memberships = session.exec(
            select(Membership).where(Membership.person_id == person_id)
        ).all()
        for membership in memberships:
            if (
                membership.role == Role.FACILITATOR.value
                and not session.exec(
                    select(Membership).where(
                        Membership.set_id == membership.set_id,
                        Membership.role == Role.FACILITATOR.value,
                        Membership.person_id != person_id,
                    )
                ).first()
            ):
                raise AdminError(
                    "They are the set's only facilitator: add another before erasing them."
                )
        account = session.get(Account, person_id)
        names = frozenset(n for n in (person.name, person.email, account and account.email) if n)
        commitment_ids = frozenset(
            session.exec(select(CommitmentRecord.id).where(CommitmentRecord.owner_id == person_id))
        )
        redaction = scrub.Redaction(
            marker=scrub.ERASED, person=person_id, commitment_ids=commitment_ids, names=names
        )
        scrub.redact_log(session, meeting_ids, redaction)
        _erase_rows(session, person_id, commitment_ids)
        for membership in memberships:
            session.delete(membership)
        person.name, person.email, person.organisation_id = scrub.ERASED_NAME, None, None
        session.add(person)
        session.flush()
        audit.record(
            session.connection(),
            at=now,
            action=audit.Action.DATA_ERASED,
            actor_id=by,
            actor_role="lead",
            programme_id=programme_id,
            subject_id=person_id,
        )
        session.commit()
    return sorted(sets)


def _refuse_if_occupied(session: Session, meeting_ids: list[str]) -> None:
    """A room someone has open holds the meeting's state in memory, folded from the log before
    the rewrite: its next roster event would write the old name back. So an open meeting (not
    started yet) must have nobody in its room, which the log's presence events tell across
    every worker.

    Known gap: a closed meeting's room that someone holds open (to read it after the close)
    keeps the old text in that worker's memory until it empties; new sockets there see it
    until then. Closed meetings are not checked because a presence left stale by a crashed
    worker would then block erasure for good; the fix is for erasure to tell every worker's
    hub to drop the meeting's room (a broker message), not yet built."""
    open_ids = session.exec(
        select(Meeting.id).where(col(Meeting.id).in_(meeting_ids), Meeting.status != "closed")
    ).all()
    for meeting_id in open_ids:
        rows = session.exec(
            select(MeetingEvent)
            .where(MeetingEvent.meeting_id == meeting_id)
            .order_by(col(MeetingEvent.seq))
        ).all()
        if replay(meeting_id, (eventlog.from_row(r) for r in rows)).online:
            raise AdminError(
                "Someone is in the room of their set's next meeting: erase them once it is empty."
            )


def _erase_rows(session: Session, person_id: str, commitment_ids: frozenset[str]) -> None:
    marker = scrub.ERASED
    for question in session.exec(
        select(QuestionRecord).where(QuestionRecord.author_id == person_id)
    ):
        question.text = marker
        session.add(question)
    for c in session.exec(
        select(CommitmentRecord).where(col(CommitmentRecord.id).in_(commitment_ids))
    ):
        c.what = marker
        for name in ("by_when", "how_know", "support", "learned", "next_step"):
            if getattr(c, name):
                setattr(c, name, marker)
        session.add(c)
    for f in session.exec(select(Feedback).where(Feedback.person_id == person_id)):
        if f.comment:
            f.comment = marker
            session.add(f)
    session.exec(
        delete(CommitmentUpdate).where(
            or_(
                col(CommitmentUpdate.person_id) == person_id,
                col(CommitmentUpdate.commitment_id).in_(commitment_ids),
            )
        )
    )
    for table in (LearningLogEntry, WebSession, PasswordReset, JoinLink):
        session.exec(delete(table).where(col(table.person_id) == person_id))
    session.exec(delete(Account).where(col(Account.person_id) == person_id))
