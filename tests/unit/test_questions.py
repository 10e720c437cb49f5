"""Questions, not advice: the rule that decides whether a contribution reads as a question, on
real examples of what members type in a set."""

from __future__ import annotations

import pytest

from app.domain.questions import ADVICE_MARKERS, ADVICE_OPENINGS, OPENINGS, prompt_for, read

QUESTIONS: tuple[str, ...] = (
    "What would success look like?",
    "What have you tried so far?",
    "How does your team see it?",
    "Why now?",
    "When did it start to matter to you?",
    "Where do you feel stuck?",
    "Who else has a stake in this?",
    "Whose problem is it really?",
    "Which of those options scares you most?",
    "Is there anything you haven't said yet?",
    "Are you the right person to fix this?",
    "Do you need permission?",
    "Does your manager know?",
    "Could you say more about the budget?",
    "Would it help to name the fear?",
    "Can you picture it a year from now?",
    "What would you do if you could not fail?",
    "what would happen if you did nothing",  # no "?", but opens with an interrogative
    "How  would  you  know it had worked",  # odd spacing
    "  “What is really at stake here?”  ",  # quoted, padded
    "Tell me more about the restructure",
    "Say more about what you mean by fair",
    "Talk me through the last meeting",
    "Imagine it's solved: what changed?",
    "You said 'stuck' twice. What does stuck feel like?",
    "So the deadline is fixed?",  # a statement made a question by its "?"
    "WHAT DO YOU WANT?",
    "Why?",
)

ADVICE: tuple[tuple[str, str], ...] = (
    ("You should talk to HR.", "you should"),
    ("You should talk to HR?", "you should"),
    ("Have you tried talking to HR?", "have you tried"),
    ("Have you thought about a secondment?", "have you thought about"),
    ("Have you considered just saying no?", "have you considered"),
    ("Why don't you ask your director?", "why don't you"),
    ("Why don’t you ask your director?", "why don't you"),  # a typographic apostrophe
    ("Why not just escalate it?", "why not just"),
    ("If I were you I'd leave.", "if i were you"),
    ("I would set up a meeting with them.", "i would"),
    ("I'd go to the union.", "i'd"),
    ("In my experience these things blow over", "in my experience"),
    ("My advice: write it all down.", "my advice"),
    ("I suggest you delegate it", "i suggest"),
    ("You need to set boundaries", "you need to"),
    ("You must tell them", "you must"),
    ("What I would do is talk to them first.", "i would"),
    ("Could you not just ignore it? You should, honestly.", "you should"),
    ("That's hard. Have you tried mediation?", "have you tried"),
    ("Try a one-to-one first", "try"),
    ("Just say no", "just"),
    ("Maybe you could ask for help?", "maybe you could"),
)

STATEMENTS: tuple[str, ...] = (
    "That sounds really hard",
    "I had the same thing last year",
    "Interesting",
    "the budget is the real issue",
    "Thanks for sharing that",
    "Yes",
    "Whatever happens, it will be fine",  # "whatever" is not "what"
    "Issues like this take time",  # "issues" is not "is"
    "Doing nothing is an option too",  # "doing" is not "do"
    "Howard in finance might know",  # "howard" is not "how"
)


@pytest.mark.parametrize("text", QUESTIONS)
def test_questions_read_as_questions(text: str) -> None:
    assert read(text).verdict == "question", text


@pytest.mark.parametrize(("text", "marker"), ADVICE)
def test_advice_reads_as_advice_even_with_a_question_mark(text: str, marker: str) -> None:
    reading = read(text)
    assert (reading.verdict, reading.marker) == ("advice", marker)
    assert not reading.is_question
    assert f"“{marker}…”" in prompt_for(reading)


@pytest.mark.parametrize("text", STATEMENTS)
def test_statements_are_neither(text: str) -> None:
    reading = read(text)
    assert reading.verdict == "statement", text
    assert "doesn't read as a question" in prompt_for(reading)


def test_every_listed_word_is_exercised_by_itself() -> None:
    """Each opening alone opens a question; each marker alone (or opening a sentence) is advice:
    the lists in the module are the whole rule."""
    for opening in OPENINGS:
        assert read(f"{opening.capitalize()} the rest of it").is_question, opening
    for marker in ADVICE_MARKERS:
        assert read(f"Well, {marker} do the thing?").verdict == "advice", marker
    for marker in ADVICE_OPENINGS:
        assert read(f"{marker.capitalize()} the thing?").verdict == "advice", marker
        assert read(f"Hmm. {marker} the thing?").verdict == "advice", marker
