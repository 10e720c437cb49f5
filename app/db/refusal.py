"""Refusals of the data layer that carry their message as a template and parameters.

The message stays an English sentence (`str(error)`, what logs and the JSON API see), and
`template` and `params` let the web layer say it in the reader's language without app/db
importing anything of the web (as the domain's `DomainError` does). A parameter that is
itself a marked word (`Term`, such as "Meetings planned") is translated too; anything else
(an address, a name someone typed, a number) is shown as given.
"""

from __future__ import annotations


class Term(str):
    """A marked English word or phrase passed as a parameter: translated where shown."""

    __slots__ = ()


class Refusal(Exception):
    def __init__(self, template: str, **params: str | int) -> None:
        text = template.format(**params) if params else template
        super().__init__(text)
        self.template = template
        self.params = params
