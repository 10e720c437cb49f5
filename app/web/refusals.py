"""The engine's refusals in the reader's language.

`DomainError` keeps an English `message` (the JSON API's) and its `template` and `params`;
the web layer translates the template. A refusal that names phases ("This can only be done
during {phases}.") also carries the phase kinds (`kinds`, their values separated by spaces):
their names are translated here and joined as the language joins alternatives ("a, b or c").
"""

from __future__ import annotations

from collections.abc import Mapping

from babel.lists import format_list

from app.domain.model import PhaseKind
from app.web.language import NP_, current, pgettext, translate

KIND_NAMES: dict[PhaseKind, str] = {
    PhaseKind.CHECK_IN: NP_("phase kind", "check in"),
    PhaseKind.REPORT_BACK: NP_("phase kind", "report back"),
    PhaseKind.BIDDING: NP_("phase kind", "bidding"),
    PhaseKind.TURNS: NP_("phase kind", "turns"),
    PhaseKind.PROCESS_REVIEW: NP_("phase kind", "process review"),
    PhaseKind.CHECK_OUT: NP_("phase kind", "check out"),
    PhaseKind.CUSTOM: NP_("phase kind", "custom"),
    PhaseKind.CLOSE: NP_("phase kind", "close"),
}
"""A phase kind as a refusal names it, lower case, in the middle of a sentence."""


def phase_names(kinds: str) -> str:
    """`kinds` (values separated by spaces) named in the current language, joined with "or"."""
    named = set(kinds.split())
    names = [pgettext("phase kind", KIND_NAMES[k]) for k in PhaseKind if k.value in named]
    return format_list(names, style="or", locale=current()) if names else ""


def refusal_text(template: str, params: Mapping[str, str | int] | None = None) -> str:
    """A refusal's template in the current language, its parameters filled."""
    filled = dict(params or {})
    kinds = filled.get("kinds")
    if isinstance(kinds, str) and "phases" in filled:
        filled["phases"] = phase_names(kinds) or filled["phases"]
    return translate(template, **filled)
