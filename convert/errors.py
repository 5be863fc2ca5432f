"""Errors of the convert tool: each one sentence naming the thing and the fix."""

from __future__ import annotations

from models.errors import AssistantError


class ConvertError(AssistantError):
    """The source cannot be converted as asked (missing files, unsupported model, bad option)."""


class VerifyFailed(AssistantError):
    """The converted model does not behave like the checkpoint; nothing was stored."""
