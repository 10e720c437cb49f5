"""Questions, not advice: whether a typed contribution reads as a question.

The rule is deliberately simple and explainable (no model, hosted or local), so that a member
can see why the room asked them to rephrase, and a facilitator can predict it:

1. **Advice markers win.** A contribution holding one of `ADVICE_MARKERS` as whole words
   ("you should", "you need to", "I would", "if I were you", ...), or opening (or opening one of
   its sentences) with one of `ADVICE_OPENINGS` ("have you tried", "why don't you", ...), reads as
   advice, even when it ends with a question mark: "Have you tried talking to HR?" is a
   suggestion dressed as a question, which is what action learning asks members not to do.
2. **Otherwise a question is** what ends with "?" or opens with a word of `OPENINGS` (an
   interrogative such as what/how/why, an auxiliary that inverts such as could/would/is/do, or an
   open invitation such as "tell me"): "What would success look like" is a question even when the
   "?" was forgotten.
3. **Everything else is a statement.**

The room never blocks a contribution: an unconfirmed one that does not read as a question is
refused with the error code `not_a_question`, which the room shows as a gentle prompt with "Send
as it is" (the same command, `confirmed`) and "Edit".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from app.domain.model import GrowStage
from app.domain.text import N_

ADVICE_MARKERS: tuple[str, ...] = (
    "you should",
    "you shouldn't",
    "you should not",
    "you need to",
    "you must",
    "you ought to",
    "you could just",
    "you might want to",
    "if i were you",
    "i would",
    "i'd",
    "i suggest",
    "i recommend",
    "my advice",
    "in my experience",
    "what you need to do",
    "what i would do",
    "what i did was",
    "the answer is",
)
"""Phrases that make a contribution advice, wherever they stand (matched as whole words)."""

ADVICE_OPENINGS: tuple[str, ...] = (
    "have you tried",
    "have you thought about",
    "have you thought of",
    "have you considered",
    "why don't you",
    "why not just",
    "why not try",
    "maybe you could",
    "perhaps you could",
    "try",
    "just",
)
"""Phrases that make a contribution advice when they open it (or one of its sentences): "Have
you tried X?" suggests X, where "What have you tried?" asks."""

OPENINGS: tuple[str, ...] = (
    # Interrogatives.
    "what",
    "how",
    "why",
    "when",
    "where",
    "who",
    "whom",
    "whose",
    "which",
    # Auxiliaries that open a question by inversion.
    "is",
    "are",
    "was",
    "were",
    "am",
    "do",
    "does",
    "did",
    "can",
    "could",
    "will",
    "would",
    "shall",
    "may",
    "might",
    "has",
    "have",
    "had",
    # Open invitations, which action learning counts as questions.
    "tell me",
    "say more",
    "talk me through",
    "talk us through",
    "describe",
    "imagine",
)
"""First words (or phrases) that make a contribution a question without a "?"."""

Verdict = Literal["question", "advice", "statement"]


GROW_LABELS: dict[GrowStage, str] = {
    GrowStage.GOAL: N_("Goal"),
    GrowStage.REALITY: N_("Reality"),
    GrowStage.OPTIONS: N_("Options"),
    GrowStage.WILL: N_("Will"),
}


@dataclass(frozen=True)
class Reading:
    verdict: Verdict
    marker: str = ""
    """The advice marker found, when the verdict is advice."""

    @property
    def is_question(self) -> bool:
        return self.verdict == "question"


_QUOTES = "\"'“”‘’«»"
_SPACE = re.compile(r"\s+")


def _normalise(text: str) -> str:
    text = text.replace("’", "'").replace("‘", "'")
    return _SPACE.sub(" ", text.strip().strip(_QUOTES).strip()).lower()


def _has_phrase(text: str, phrase: str) -> bool:
    return re.search(rf"(?<![\w']){re.escape(phrase)}(?![\w'])", text) is not None


def read(text: str) -> Reading:
    """How the rule reads `text`: a question, advice (with the marker found) or a statement."""
    norm = _normalise(text)
    for marker in ADVICE_MARKERS:
        if _has_phrase(norm, marker):
            return Reading("advice", marker)
    for marker in ADVICE_OPENINGS:
        if re.search(rf"(?:^|[.!?;:]\s*){re.escape(marker)}(?![\w'])", norm):
            return Reading("advice", marker)
    if norm.rstrip(_QUOTES + " ").endswith("?"):
        return Reading("question")
    for opening in OPENINGS:
        if norm == opening or re.match(rf"{re.escape(opening)}(?![\w'])", norm):
            return Reading("question")
    return Reading("statement")


def reads_as_question(text: str) -> bool:
    return read(text).is_question


ADVICE_PROMPT = N_(
    "That sounds like advice (“{marker}…”). In a set we ask questions that help "
    "the presenter think, rather than suggest answers: could you put it as a question?"
)
STATEMENT_PROMPT = N_(
    "That doesn't read as a question yet. Could you put it as one (what, how, what if…)? "
    "You can also send it as it is."
)


def prompt_template(reading: Reading) -> str:
    """The gentle prompt the sender sees before an unconfirmed contribution goes out, as a
    template of the translation catalogs (`{marker}`: the words that read as advice)."""
    return ADVICE_PROMPT if reading.verdict == "advice" else STATEMENT_PROMPT


def prompt_for(reading: Reading) -> str:
    return prompt_template(reading).format(marker=reading.marker)
