"""Untrusted input into commands."""

import pytest
from pydantic import ValidationError

from app.domain import commands as c


@pytest.mark.parametrize(
    "data",
    [
        {"type": "ask_question", "text": "Why\x00?"},
        {"type": "save_commitment", "what": "Call the board", "support": "\x00"},
        {"type": "set_order", "order": ["m1", "m\x002"]},
    ],
)
def test_nul_characters_are_refused_wherever_they_hide(data: dict[str, object]) -> None:
    # PostgreSQL's text cannot hold NUL: such a command would fail its write, not just itself.
    with pytest.raises(ValidationError, match="NUL"):
        c.parse_command(data)


def test_tabs_and_newlines_are_text_like_any_other() -> None:
    command = c.parse_command({"type": "ask_question", "text": "Why\tnot?\nReally?"})
    assert isinstance(command, c.AskQuestion) and command.text == "Why\tnot?\nReally?"


def test_deeply_nested_values_are_refused_not_crashed_on() -> None:
    # JSON parses deeper than Python recurses: the socket fuzz found the NUL check recursing.
    deep: object = "x"
    for _ in range(5_000):
        deep = [deep]
    with pytest.raises(ValidationError):
        c.parse_command({"type": "ask_question", "text": deep})
    with pytest.raises(ValidationError, match="NUL"):
        c.parse_command({"type": "ask_question", "text": "ok", "extra": [deep, "\x00"]})
