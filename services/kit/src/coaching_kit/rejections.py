"""The one exception a use case raises to reject a command. Standard library only, so that
pure domain modules can subclass it without depending on any framework."""

from __future__ import annotations


class CommandRejectedError(Exception):
    """A command that breaks a rule: answered with `coaching.command.rejected.v1`.

    `code` is the stable machine code of the contract (`invalid`, `conflict`, ...); the
    message is for humans. Subclasses name the rule: `EmailTakenError`, `SlotUnavailableError`.
    """

    code = "invalid"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
