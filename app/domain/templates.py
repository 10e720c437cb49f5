"""Phase templates: the ordered plan a meeting follows."""

from __future__ import annotations

from app.domain.model import Frozen, Phase, PhaseKind


class PhaseSpec(Frozen):
    kind: PhaseKind
    title: str
    minutes: int


DEFAULT_TEMPLATE: tuple[PhaseSpec, ...] = (
    PhaseSpec(kind=PhaseKind.CHECK_IN, title="Check-in", minutes=2),
    PhaseSpec(kind=PhaseKind.REPORT_BACK, title="Report-back", minutes=4),
    PhaseSpec(kind=PhaseKind.BIDDING, title="Bidding for time", minutes=5),
    PhaseSpec(kind=PhaseKind.TURNS, title="Presenter turns", minutes=0),
    PhaseSpec(kind=PhaseKind.PROCESS_REVIEW, title="Process review", minutes=1),
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
