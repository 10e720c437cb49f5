"""Named errors of the meeting engine: each carries a code for clients and a sentence for people.

The sentence is English, and also a message of the translation catalogs: the constructors below
are gettext keywords for extraction (app/web/catalogs.py), and a message with a variable part
names it `{like_this}` and passes it as a parameter, so the web layer can show the sentence in
the viewer's language (`template` translated, then filled with `params`)."""

from __future__ import annotations

from typing import Literal

ErrorCode = Literal[
    "forbidden", "not_now", "not_found", "invalid", "moved_on", "closed", "not_a_question"
]


class DomainError(Exception):
    """A command the engine refuses. Nothing changes when one is raised."""

    def __init__(self, code: ErrorCode, message: str, **params: str | int) -> None:
        text = message.format(**params) if params else message
        super().__init__(text)
        self.code: ErrorCode = code
        self.message = text
        self.template = message
        self.params = params


class Forbidden(DomainError):
    def __init__(self, message: str, **params: str | int) -> None:
        super().__init__("forbidden", message, **params)


class NotNow(DomainError):
    def __init__(self, message: str, **params: str | int) -> None:
        super().__init__("not_now", message, **params)


class NotFound(DomainError):
    def __init__(self, message: str, **params: str | int) -> None:
        super().__init__("not_found", message, **params)


class Invalid(DomainError):
    def __init__(self, message: str, **params: str | int) -> None:
        super().__init__("invalid", message, **params)


class RoomMovedOn(DomainError):
    """The command was decided against a state the room has already left."""

    def __init__(
        self, message: str = "The room moved on before your action arrived; look again."
    ) -> None:
        super().__init__("moved_on", message)


class MeetingClosed(DomainError):
    def __init__(self) -> None:
        super().__init__("closed", "The meeting has closed; nothing more can change.")


class NotAQuestion(DomainError):
    """An unconfirmed contribution that does not read as a question (app.domain.questions): the
    room shows the message as a gentle prompt, and the sender may send it as it is (`confirmed`).
    """

    def __init__(self, message: str, **params: str | int) -> None:
        super().__init__("not_a_question", message, **params)
