"""The one error class of the finetune package: a sentence a person can act on."""

from __future__ import annotations


class FinetuneError(Exception):
    """An error the user caused or can fix. ``str(err)`` is one sentence naming the thing and the fix.

    ``details`` holds extra lines (for example every bad data row) that a front end may print before
    the sentence; ``exit_code`` is what a command line exits with.
    """

    exit_code: int = 1

    def __init__(self, message: str, *, details: list[str] | None = None, exit_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = list(details or [])
        if exit_code is not None:
            self.exit_code = exit_code

    def __str__(self) -> str:
        return self.message
