"""The one error class of the finetune package: a sentence a person can act on."""

from __future__ import annotations

from models.errors import AssistantError


class FinetuneError(AssistantError):
    """An error the user caused or can fix. ``str(err)`` is one sentence naming the thing and the fix.

    ``details`` holds extra lines (for example every bad data row) that a front end may print before
    the sentence; ``exit_code`` is what a command line exits with (both from :class:`AssistantError`).
    """
