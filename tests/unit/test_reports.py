"""The report's pure figures: effective status, rates, rounding and the feedback minimum."""

from __future__ import annotations

from fractions import Fraction

from app.db.reports import (
    average,
    count_commitments,
    effective_status,
    percent,
    tally,
    two_places,
)


def test_a_correction_wins_over_presence() -> None:
    assert effective_status(joined=False, late=False, correction=None) == "absent"
    assert effective_status(joined=True, late=False, correction=None) == "present"
    assert effective_status(joined=True, late=True, correction=None) == "late"
    assert effective_status(joined=True, late=True, correction="present") == "present"
    assert effective_status(joined=False, late=False, correction="apologies") == "apologies"
    assert effective_status(joined=True, late=False, correction="absent") == "absent"
    assert effective_status(joined=True, late=False, correction="bogus") == "present"


def test_apologies_are_not_attended_but_counted_apart() -> None:
    t = tally(["present", "late", "apologies", "absent", "absent"])
    assert (t.attended, t.apologies, t.absent, t.possible) == (2, 1, 2, 5)
    assert t.rate == Fraction(2, 5) and t.percent == "40.0"
    assert tally([]).rate is None and tally([]).percent == ""


def test_rounding_is_half_up_and_exact() -> None:
    assert percent(Fraction(2, 3)) == "66.7"
    assert percent(Fraction(1, 8)) == "12.5"
    assert percent(Fraction(1, 16)) == "6.3"  # 6.25 up, not to even
    assert percent(Fraction(1)) == "100.0"
    assert two_places(Fraction(8, 3)) == "2.67"
    assert two_places(Fraction(1, 8)) == "0.13"


def test_feedback_needs_three_answers() -> None:
    assert average([5, 4]) is None
    assert average([5, 4, 3]) == Fraction(4)


def test_commitments_counted_by_report() -> None:
    c = count_commitments(["done", "partly", None, "changed", "not_done", "done"])
    assert (c.made, c.done, c.partly, c.not_done, c.changed, c.open) == (6, 2, 1, 1, 1, 1)


def test_the_report_gives_meeting_dates_in_the_readers_language() -> None:
    from datetime import UTC, datetime

    from app.web.language import speaking
    from app.web.reports import _day

    at = int(datetime(2026, 3, 5, 12, tzinfo=UTC).timestamp() * 1000)
    assert _day(at) == "5 Mar 2026"
    with speaking("cy"):
        assert _day(at) == "5 Maw 2026"
    assert _day(None) == ""
