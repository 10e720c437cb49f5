"""A refusal that names phases names them in the reader's language, joined as it joins
alternatives; the English message (the JSON API's) stays as the engine wrote it."""

from __future__ import annotations

import pytest

from app.domain import engine
from app.domain.errors import NotNow
from app.domain.model import ROUND_KINDS, MeetingState, PhaseKind
from app.web.language import speaking
from app.web.refusals import refusal_text


def _refused(*kinds: PhaseKind) -> NotNow:
    with pytest.raises(NotNow) as caught:
        engine._require_kind(MeetingState(meeting_id="m"), *kinds)
    return caught.value


def test_the_round_phases_are_named_in_welsh() -> None:
    refused = _refused(*ROUND_KINDS)
    assert refused.message == (
        "This can only be done during check in or report back or process review or check out."
    )
    with speaking("cy"):
        text = refusal_text(refused.template, refused.params)
    assert text == (
        "Dim ond yn ystod cyrraedd, adrodd yn ôl, adolygu’r broses neu ymadael y gellir gwneud hyn."
    )


def test_english_names_the_phase_as_before() -> None:
    refused = _refused(PhaseKind.TURNS)
    assert refusal_text(refused.template, refused.params) == refused.message
    assert refused.message == "This can only be done during turns."
    with speaking("cy"):
        assert refusal_text(refused.template, refused.params) == (
            "Dim ond yn ystod troeon y cyflwynwyr y gellir gwneud hyn."
        )
