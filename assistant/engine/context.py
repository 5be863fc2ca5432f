"""Fitting a conversation into the context window: drop the oldest turns, never the system prompt."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from assistant.engine.base import Message
from models.errors import AssistantError


def fit_to_context(
    messages: Sequence[Message], tokenize: Callable[[Sequence[Message]], list[int]], budget: int
) -> tuple[list[Message], int, list[int]]:
    """Return (kept messages, number of turns dropped, prompt tokens) with the prompt within ``budget``.

    A turn is a user message and the replies after it. System messages stay. If even the last
    user message alone does not fit, that is an error the person can act on.
    """
    if not any(m.role == "user" for m in messages):
        raise AssistantError("The conversation has no user message; type a prompt.")
    kept = list(messages)
    tokens = tokenize(kept)
    dropped = 0
    while len(tokens) > budget:
        first_user = next((i for i, m in enumerate(kept) if m.role != "system"), None)
        user_indices = [i for i, m in enumerate(kept) if m.role == "user"]
        if first_user is None or len(user_indices) <= 1:
            raise AssistantError(
                f"The message is too long for the context ({len(tokens)} tokens, {budget} available for the prompt); "
                "shorten it or use a larger --ctx-size."
            )
        end = user_indices[1]  # drop through the reply before the next user message
        kept = [m for i, m in enumerate(kept) if not (first_user <= i < end)]
        dropped += 1
        tokens = tokenize(kept)
    return kept, dropped, tokens
