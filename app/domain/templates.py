"""Phase templates: the ordered plan a meeting follows."""

from __future__ import annotations

import json
from typing import Annotated

from pydantic import Field, StringConstraints, ValidationError, field_validator

from app.domain.model import Frozen, Phase, PhaseKind
from app.domain.text import N_


class PhaseSpec(Frozen):
    kind: PhaseKind
    title: str
    minutes: int


DEFAULT_TEMPLATE: tuple[PhaseSpec, ...] = (
    PhaseSpec(kind=PhaseKind.CHECK_IN, title="Check-in", minutes=2),
    PhaseSpec(kind=PhaseKind.REPORT_BACK, title="Report-back", minutes=4),
    PhaseSpec(kind=PhaseKind.BIDDING, title=N_("Bidding for time"), minutes=5),
    PhaseSpec(kind=PhaseKind.TURNS, title=N_("Presenter turns"), minutes=0),
    PhaseSpec(kind=PhaseKind.PROCESS_REVIEW, title=N_("Process review"), minutes=1),
    PhaseSpec(kind=PhaseKind.CHECK_OUT, title="Check-out", minutes=1),
    PhaseSpec(kind=PhaseKind.CLOSE, title="Close", minutes=0),
)
"""SPEC.md's default: minutes are per person in rounds, for the phase in bidding."""


def phases_from(template: tuple[PhaseSpec, ...]) -> tuple[Phase, ...]:
    """Number the template's phases; a plan always ends with exactly one close phase."""
    specs = [s for s in template if s.kind is not PhaseKind.CLOSE]
    specs.append(PhaseSpec(kind=PhaseKind.CLOSE, title="Close", minutes=0))
    return tuple(
        Phase(id=f"p{i + 1}", kind=s.kind, title=s.title, minutes=s.minutes)
        for i, s in enumerate(specs)
    )


# A set's or programme's own template, as edited and stored (JSON text, close implied).

MAX_TEMPLATE_PHASES = 20

_Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80)]
_Minutes = Annotated[int, Field(ge=0, le=240)]


class _EditedPhase(Frozen):
    kind: PhaseKind
    title: _Title
    minutes: _Minutes

    @field_validator("kind")
    @classmethod
    def _not_close(cls, kind: PhaseKind) -> PhaseKind:
        if kind is PhaseKind.CLOSE:
            raise ValueError("the close phase is always last and added by itself")
        return kind


class _StoredTemplate(Frozen):
    phases: Annotated[tuple[_EditedPhase, ...], Field(min_length=1, max_length=MAX_TEMPLATE_PHASES)]


class TemplateInvalid(ValueError):
    """A template that breaks a rule, with a sentence a facilitator can read."""


def checked_template(phases: list[dict[str, object]]) -> tuple[PhaseSpec, ...]:
    """Validate edited phases (kind, title, minutes): 1 to 20 of them, titles of 1 to 80
    characters, 0 to 240 minutes, no close (it is always last and implicit)."""
    try:
        stored = _StoredTemplate.model_validate({"phases": phases})
    except ValidationError as error:
        raise TemplateInvalid(_explain(error)) from None
    kinds = [p.kind for p in stored.phases]
    for once in (PhaseKind.BIDDING, PhaseKind.TURNS):
        if kinds.count(once) > 1:
            raise TemplateInvalid(f"A plan holds one “{_ONCE[once]}” phase at most.")
    both = PhaseKind.BIDDING in kinds and PhaseKind.TURNS in kinds
    if both and kinds.index(PhaseKind.BIDDING) > kinds.index(PhaseKind.TURNS):
        raise TemplateInvalid(N_("Bidding for time comes before the presenter turns it plans."))
    return tuple(PhaseSpec(kind=p.kind, title=p.title, minutes=p.minutes) for p in stored.phases)


_ONCE = {PhaseKind.BIDDING: "Bidding for time", PhaseKind.TURNS: "Presenter turns"}


def template_json(template: tuple[PhaseSpec, ...]) -> str:
    """The stored form of a checked template, without its close phase."""
    phases = [p.model_dump(mode="json") for p in template if p.kind is not PhaseKind.CLOSE]
    return json.dumps({"phases": phases})


def template_from_json(text: str) -> tuple[PhaseSpec, ...] | None:
    """A stored template, or None when there is none (empty) or it no longer validates."""
    if not text.strip():
        return None
    try:
        data = json.loads(text)
        return checked_template(list(data["phases"]))
    except (ValueError, TypeError, KeyError):
        return None


def _explain(error: ValidationError) -> str:
    first = error.errors()[0]
    loc = [str(part) for part in first["loc"]]
    if loc == ["phases"]:
        return f"A template has 1 to {MAX_TEMPLATE_PHASES} phases before the close."
    where = f"Phase {int(loc[1]) + 1}" if len(loc) >= 2 and loc[1].isdigit() else "A phase"
    field = loc[2] if len(loc) >= 3 else ""
    if field == "title":
        return f"{where}: a title of 1 to 80 characters, please."
    if field == "minutes":
        return f"{where}: minutes are a whole number from 0 to 240."
    if field == "kind":
        return f"{where}: not a kind of phase a template can hold."
    return f"{where}: {first['msg']}."
