"""Rewriting what people said out of the meeting event log: the one lawful rewrite of an
otherwise append-only log.

The log is never changed in normal operation. Two things may rewrite it, both outside any live
meeting, both in one transaction with the tables they go with:

- erasing a person (app.db.member_data): their name in every roster, and the text of their
  questions, bids, slots, private notes, commitments and report-backs;
- the retention purge (app.db.retention): everyone's text in a meeting closed long enough ago.

Only text is replaced: every id, sequence number, time, status, count and the shape of every
event stay, so each meeting still replays (the engine's `replay` reads the rewritten log like
any other) to the same phases, presenters, attendance and commitment statuses, and the reports
give the same figures. Text is replaced by a marker, never dropped, so a reader sees that
something was there.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, select

from app.db.tables import Meeting, MeetingEvent

ERASED = "[erased]"
ERASED_NAME = "Erased member"
REMOVED = "[removed]"


@dataclass(frozen=True)
class Redaction:
    """What to rewrite: one person's content (erasure) or everyone's (`person` None: the
    retention purge)."""

    marker: str
    person: str | None = None
    commitment_ids: frozenset[str] = field(default_factory=frozenset)
    """The record keys of the person's commitments (report-backs name commitments by key)."""
    names: frozenset[str] = frozenset()
    """The person's former names: replaced wherever they appear as a whole string."""

    def mine(self, owner: object) -> bool:
        return self.person is None or owner == self.person


def _blank(obj: dict[str, Any], keys: Collection[str], marker: str) -> bool:
    changed = False
    for key in keys:
        if isinstance(obj.get(key), str) and obj[key] and obj[key] != marker:
            obj[key] = marker
            changed = True
    return changed


def _each(items: object, edit: Callable[[dict[str, Any]], bool]) -> bool:
    changed = False
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict):
            changed |= edit(item)
    return changed


def redact_payload(payload: dict[str, Any], r: Redaction) -> bool:
    """Rewrite one event's payload in place; whether anything changed."""
    kind = payload.get("type")
    changed = False

    def participant(p: dict[str, Any]) -> bool:
        if r.person is None or p.get("id") != r.person:
            return False
        before = (p.get("name"), p.get("org"))
        p["name"], p["org"] = ERASED_NAME, ""
        return before != (p["name"], p["org"])

    def prior(p: dict[str, Any]) -> bool:
        if not r.mine(p.get("owner")):
            return False
        return _blank(p, ("what", "by_when", "learned", "next_step"), r.marker)

    def slot(s: dict[str, Any]) -> bool:
        return r.mine(s.get("member")) and _blank(s, ("title",), r.marker)

    match kind:
        case "meeting_opened":
            changed |= _each(payload.get("roster"), participant)
            changed |= _each(payload.get("prior"), prior)
        case "roster_set":
            changed |= _each(payload.get("roster"), participant)
        case "bid_placed":
            bid = payload.get("bid")
            changed |= isinstance(bid, dict) and slot(bid)
        case "slots_set":
            changed |= _each(payload.get("slots"), slot)
        case "question_asked":
            q = payload.get("question")
            if isinstance(q, dict) and r.mine(q.get("author")):
                changed |= _blank(q, ("text",), r.marker)
        case "commitment_saved":
            c = payload.get("commitment")
            if isinstance(c, dict) and r.mine(c.get("owner")):
                changed |= _blank(c, ("what", "by_when", "how_know", "support"), r.marker)
        case "note_saved":
            note = payload.get("note")
            if isinstance(note, dict) and r.mine(note.get("owner")):
                changed |= _blank(note, ("text",), r.marker)
        case "commitment_reported":
            if r.person is None or payload.get("commitment_id") in r.commitment_ids:
                changed |= _blank(payload, ("learned", "next_step"), r.marker)
    if r.names and r.person is not None:
        changed |= _replace_names(payload, r.names, r.person)
    return changed


def _replace_names(value: Any, names: frozenset[str], person: str) -> bool:
    """Any string that is exactly one of the person's names, anywhere in the payload, except
    inside another person's record (a namesake keeps their name)."""
    changed = False
    items: list[tuple[Any, Any]] = []
    if isinstance(value, dict):
        if value.get("id", person) != person and "name" in value:
            return False
        items = list(value.items())
    elif isinstance(value, list):
        items = list(enumerate(value))
    for key, item in items:
        if isinstance(item, str) and item in names:
            value[key] = ERASED_NAME
            changed = True
        elif isinstance(item, (dict, list)):
            changed |= _replace_names(item, names, person)
    return changed


def redact_log(session: Session, meeting_ids: Collection[str], r: Redaction) -> int:
    """Rewrite the events of these meetings in the session's transaction; how many changed."""
    if not meeting_ids:
        return 0
    changed = 0
    rows = session.exec(
        select(MeetingEvent.id, MeetingEvent.payload).where(
            col(MeetingEvent.meeting_id).in_(list(meeting_ids))
        )
    ).all()
    for row_id, raw in rows:
        payload = json.loads(raw)
        if redact_payload(payload, r):
            session.exec(
                update(MeetingEvent)
                .where(col(MeetingEvent.id) == row_id)
                .values(payload=json.dumps(payload, separators=(",", ":")))
            )
            changed += 1
    return changed


def redact_priors(
    session: Session, set_id: str, commitment_ids: Collection[str], marker: str
) -> int:
    """Blank these commitments where later meetings of the set copied them in to be reported
    back on (`meeting_opened.prior`): purging a meeting must not leave its commitments' text
    in the logs of the meetings that followed it."""
    if not commitment_ids:
        return 0
    wanted = set(commitment_ids)
    meetings = select(Meeting.id).where(Meeting.set_id == set_id)
    rows = session.exec(
        select(MeetingEvent.id, MeetingEvent.payload).where(
            col(MeetingEvent.meeting_id).in_(meetings), MeetingEvent.type == "meeting_opened"
        )
    ).all()
    fields = ("what", "by_when", "learned", "next_step")

    def entry(p: dict[str, Any]) -> bool:
        return p.get("id") in wanted and _blank(p, fields, marker)

    changed = 0
    for row_id, raw in rows:
        payload = json.loads(raw)
        if _each(payload.get("prior"), entry):
            session.exec(
                update(MeetingEvent)
                .where(col(MeetingEvent.id) == row_id)
                .values(payload=json.dumps(payload, separators=(",", ":")))
            )
            changed += 1
    return changed
