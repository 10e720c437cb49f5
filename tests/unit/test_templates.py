"""Templates as a set stores them, and the rota's member holding the controls from the start."""

from __future__ import annotations

import pytest

from app.domain import events as e
from app.domain.engine import replay
from app.domain.model import PhaseKind, Role
from app.domain.templates import (
    DEFAULT_TEMPLATE,
    TemplateInvalid,
    checked_template,
    phases_from,
    template_from_json,
    template_json,
)
from tests.factories import opened


def row(kind: str = "custom", title: str = "Theme", minutes: object = 10) -> dict[str, object]:
    return {"kind": kind, "title": title, "minutes": minutes}


def test_a_checked_template_round_trips_through_its_json_without_the_close() -> None:
    template = checked_template([row("check_in", "  Arrivals ", "3"), row()])
    assert [(p.kind, p.title, p.minutes) for p in template] == [
        (PhaseKind.CHECK_IN, "Arrivals", 3),
        (PhaseKind.CUSTOM, "Theme", 10),
    ]
    assert "close" not in template_json(template)
    assert template_from_json(template_json(template)) == template
    assert phases_from(template)[-1].kind is PhaseKind.CLOSE
    assert template_from_json(template_json(DEFAULT_TEMPLATE)) == DEFAULT_TEMPLATE[:-1]


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([], "1 to 20 phases"),
        ([row()] * 21, "1 to 20 phases"),
        ([row(title="")], "Phase 1: a title"),
        ([row(), row(title="x" * 81)], "Phase 2: a title"),
        ([row(minutes=241)], "0 to 240"),
        ([row(minutes=-1)], "0 to 240"),
        ([row(minutes="ten")], "0 to 240"),
        ([row(kind="close")], "Phase 1"),
        ([row(kind="lunch")], "Phase 1"),
        ([row("turns"), row("turns")], "one “Presenter turns”"),
        ([row("turns"), row("bidding")], "Bidding for time comes before"),
    ],
)
def test_a_template_that_breaks_a_rule_is_named(
    rows: list[dict[str, object]], message: str
) -> None:
    with pytest.raises(TemplateInvalid) as refused:
        checked_template(rows)
    assert message in str(refused.value)


@pytest.mark.parametrize("stored", ["", "  ", "not json", '{"phases": []}', '{"x": 1}', "[1]"])
def test_a_missing_or_broken_stored_template_means_none(stored: str) -> None:
    assert template_from_json(stored) is None


def test_the_rota_member_holds_the_controls_from_the_first_event() -> None:
    first = opened().model_copy(update={"delegate": "m2"})
    state = replay("m", [e.Stamped(seq=1, at=0, actor=None, actor_role=Role.SYSTEM, event=first)])
    assert state.delegate == "m2"
    assert state.is_controller("m2") and not state.is_controller("m3")
    plain = replay(
        "m", [e.Stamped(seq=1, at=0, actor=None, actor_role=Role.SYSTEM, event=opened())]
    )
    assert plain.delegate is None
