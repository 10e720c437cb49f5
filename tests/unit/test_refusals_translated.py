"""The data layer's refusals with a value inside are shown in the reader's language: their
template is translated, a marked word in them too, and the value (an address, a number) is kept."""

from __future__ import annotations

import pytest

from app.db.feedback import FeedbackError, rating
from app.db.programmes import AdminError, check_name, check_number
from app.web.forms import said
from app.web.language import speaking


def _refusal(call: object) -> Exception:
    assert callable(call)
    with pytest.raises(Exception) as caught:
        call()
    return caught.value


def test_a_number_out_of_bounds_is_refused_in_welsh_with_its_bounds() -> None:
    error = _refusal(lambda: check_number(99, what="Meetings planned", bounds=(1, 30)))
    assert isinstance(error, AdminError)
    assert str(error) == "Meetings planned must be a whole number from 1 to 30."
    with speaking("cy"):
        welsh = said(error)
    assert welsh == "Rhaid i Cyfarfodydd wedi’u cynllunio fod yn rhif cyfan o 1 i 30."


def test_english_stays_the_default() -> None:
    error = AdminError("{address} is already a lead of this programme.", address="ana@example.org")
    assert said(error) == "ana@example.org is already a lead of this programme."
    with speaking("en"):
        assert said(error) == str(error)


def test_a_typed_value_is_shown_as_given_and_a_marked_word_is_translated() -> None:
    missing = _refusal(lambda: check_name("   ", what="The set's name"))
    named = AdminError(
        "{organisation} already takes part in this programme.", organisation="safety"
    )
    with speaking("cy"):
        assert said(missing) == "Mae angen enw’r set."
        # "safety" is also a message of the catalog: a name someone typed is never translated.
        assert said(named) == "Mae safety eisoes yn cymryd rhan yn y rhaglen hon."


def test_a_feedback_rating_names_the_rating_in_welsh() -> None:
    error = _refusal(lambda: rating("9", what="challenge"))
    assert isinstance(error, FeedbackError)
    with speaking("cy"):
        assert said(error) == "Dewiswch sgôr o 1 i 5 ar gyfer her."


def test_any_other_error_says_itself() -> None:
    assert said(ValueError("plain")) == "plain"
