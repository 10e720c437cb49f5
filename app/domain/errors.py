"""Named errors of the meeting engine: each carries a code for clients and a sentence for people."""

from __future__ import annotations

from typing import Literal

ErrorCode = Literal[
    "forbidden", "not_now", "not_found", "invalid", "moved_on", "closed", "not_a_question"
]


class DomainError(Exception):
    """A command the engine refuses. Nothing changes when one is raised."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code: ErrorCode = code
        self.message = message


class Forbidden(DomainError):
    def __init__(self, message: str) -> None:
        super().__init__("forbidden", message)


class NotNow(DomainError):
    def __init__(self, message: str) -> None:
        super().__init__("not_now", message)


class NotFound(DomainError):
    def __init__(self, message: str) -> None:
        super().__init__("not_found", message)


class Invalid(DomainError):
    def __init__(self, message: str) -> None:
        super().__init__("invalid", message)


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

    def __init__(self, message: str) -> None:
        super().__init__("not_a_question", message)
