"""The one base exception: it carries a sentence meant for the person at the terminal (and, when
there is more to show, the lines to print before it)."""

from __future__ import annotations


class AssistantError(Exception):
    """An error the user can act on. ``str(err)`` is one sentence naming the thing and the fix.

    ``details`` holds extra lines (for example every bad data row) that a front end prints before
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


class ModelNotFound(AssistantError):
    """A model name or path that resolves to nothing."""


class BadModelFile(AssistantError):
    """A file that is not a usable GGUF (bad magic, truncated, corrupt)."""


class NotEnoughMemory(AssistantError):
    """The model and its KV cache would not fit in available RAM."""
