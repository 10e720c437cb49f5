"""The meeting log's rewrite (erasure, retention): every text field of every event is either
rewritten or named here as not being anyone's words, so a new event field that carries what
someone said fails here until app/db/scrub.py handles it."""

from __future__ import annotations

import enum
import typing
from typing import Any

from pydantic import BaseModel

from app.db.scrub import ERASED, ERASED_NAME, REMOVED, Redaction, redact_payload
from app.domain import events as e
from app.domain.model import Bid, Commitment, Participant, Question, Role, Slot
from tests.factories import opened, prior_commitment

SAID = {
    ("meeting_opened", "prior.what"),
    ("meeting_opened", "prior.by_when"),
    ("meeting_opened", "prior.learned"),
    ("meeting_opened", "prior.next_step"),
    ("slots_set", "slots.title"),
    ("bid_placed", "bid.title"),
    ("question_asked", "question.text"),
    ("note_saved", "note.text"),
    ("commitment_saved", "commitment.what"),
    ("commitment_saved", "commitment.by_when"),
    ("commitment_saved", "commitment.how_know"),
    ("commitment_saved", "commitment.support"),
    ("commitment_reported", "learned"),
    ("commitment_reported", "next_step"),
}
"""What people said: rewritten by erasure (their own) and by the retention purge (everyone's)."""

WHO = {
    ("meeting_opened", "roster.name"),
    ("meeting_opened", "roster.org"),
    ("roster_set", "roster.name"),
    ("roster_set", "roster.org"),
}
"""Who someone is: rewritten by erasure; kept by the purge (attendance needs names)."""

NOT_SAID = {
    # The set's own plan and settings, written by its facilitators and leads.
    ("meeting_opened", "info.title"),
    ("meeting_opened", "info.set_name"),
    ("meeting_opened", "info.video_link"),
    ("meeting_rescheduled", "info.title"),
    ("meeting_rescheduled", "info.set_name"),
    ("meeting_rescheduled", "info.video_link"),
    ("meeting_opened", "phases.title"),
    ("phase_entered", "phases.title"),
    ("phases_changed", "phases.title"),
}
"""Text that is not what a member said."""

IDS = {
    "id",
    "owner",
    "member",
    "presenter",
    "author",
    "speaker",
    "order",
    "hands",
    "participant",
    "connection",
    "delegate",
    "presented_before",
    "admitted",
    "waiting",
    "question_id",
    "commitment_id",
    "carried_from",
}
"""Fields (by their last name) holding ids: an id names nobody once its person is erased."""


def _paths(annotation: Any, path: str = "") -> list[str]:
    """The dotted paths of every str in a model (through tuples, unions and nested models)."""
    if annotation is str:
        return [path]
    if typing.get_origin(annotation) is typing.Literal:
        return []
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return []
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [
            found
            for name, field in annotation.model_fields.items()
            for found in _paths(field.annotation, f"{path}.{name}" if path else name)
        ]
    return [
        found
        for arg in typing.get_args(annotation)
        if arg is not Ellipsis
        for found in _paths(arg, path)
    ]


def test_every_text_field_of_every_event_is_classified() -> None:
    found = set()
    for cls in typing.get_args(typing.get_args(e.AnyEvent)[0]):
        kind = cls.model_fields["type"].default
        found |= {(kind, path) for path in _paths(cls) if path.split(".")[-1] not in IDS}
    assert found == SAID | WHO | NOT_SAID


def _log() -> list[e.AnyEvent]:
    """One event of each kind that holds words, by m1 ("zebra") and by m2 ("okapi")."""
    people = (
        Participant(id="m1", name="Member One", org="Northshire"),
        Participant(id="m2", name="Member Two", org="Westgate"),
    )
    prior = [
        prior_commitment(owner="m1", id="k1", what="zebra prior", by_when="zebra soon"),
        prior_commitment(owner="m2", id="k2", what="okapi prior"),
    ]
    return [
        opened(people=people, prior=prior),
        e.RosterSet(roster=people),
        e.BidPlaced(bid=Bid(member="m1", minutes=10, title="zebra issue")),
        e.BidPlaced(bid=Bid(member="m2", minutes=10, title="okapi issue")),
        e.SlotsSet(
            slots=(
                Slot(member="m1", minutes=10, title="zebra issue"),
                Slot(member="m2", minutes=10, title="okapi issue"),
            )
        ),
        e.QuestionAsked(
            question=Question(
                id="q1", presenter="m2", author="m1", anonymous=True, text="zebra question", at=1
            )
        ),
        e.QuestionAsked(
            question=Question(
                id="q2", presenter="m1", author="m2", anonymous=False, text="okapi question", at=1
            )
        ),
        e.CommitmentSaved(
            commitment=Commitment(
                id="c1", owner="m1", what="zebra will", how_know="zebra know", support="zebra", at=1
            )
        ),
        e.CommitmentSaved(commitment=Commitment(id="c2", owner="m2", what="okapi will", at=1)),
        e.CommitmentReported(
            commitment_id="k1", status="partly", learned="zebra learned", next_step="zebra next"
        ),
        e.CommitmentReported(
            commitment_id="k2", status="done", learned="okapi learned", next_step=""
        ),
    ]


def _redacted(redaction: Redaction) -> str:
    payloads = [event.model_dump(mode="json") for event in _log()]
    for payload in payloads:
        redact_payload(payload, redaction)
        e.parse_event(payload)  # still a valid event: the meeting still replays
    return repr(payloads)


def test_erasure_rewrites_the_person_s_words_and_name_and_nobody_else_s() -> None:
    text = _redacted(
        Redaction(
            marker=ERASED,
            person="m1",
            commitment_ids=frozenset({"k1"}),
            names=frozenset({"Member One"}),
        )
    )
    assert "zebra" not in text and "Member One" not in text and "Northshire" not in text
    assert ERASED in text and ERASED_NAME in text
    for kept in (
        "okapi prior",
        "okapi issue",
        "okapi question",
        "okapi will",
        "okapi learned",
        "Member Two",
    ):
        assert kept in text


def test_the_purge_rewrites_everyone_s_words_and_keeps_names() -> None:
    text = _redacted(Redaction(marker=REMOVED))
    assert "zebra" not in text and "okapi" not in text
    assert "Member One" in text and "Member Two" in text and REMOVED in text


def test_erasure_leaves_a_namesake_their_name() -> None:
    roster = [
        Participant(id="a", name="Alex Smith", org="Northshire", role=Role.MEMBER),
        Participant(id="b", name="Alex Smith", org="Southfield", role=Role.MEMBER),
    ]
    payload = e.RosterSet(roster=tuple(roster)).model_dump(mode="json")
    assert redact_payload(
        payload, Redaction(marker=ERASED, person="a", names=frozenset({"Alex Smith"}))
    )
    after = {p["id"]: (p["name"], p["org"]) for p in payload["roster"]}
    assert after == {"a": (ERASED_NAME, ""), "b": ("Alex Smith", "Southfield")}
