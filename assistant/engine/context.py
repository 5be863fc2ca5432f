"""Fitting a conversation into the context window: drop the oldest turns, never the system prompt."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from assistant.engine.base import Message
from models.errors import AssistantError


def too_long(chars: int, budget: int) -> AssistantError:
    return AssistantError(
        f"The message is too long for the context ({chars:,} characters; at most {budget} tokens fit the prompt, "
        "and no token of this model is long enough to hold that); shorten it or use a larger --ctx-size."
    )


def trim_by_size(messages: Sequence[Message], max_chars: int, budget: int) -> tuple[list[Message], int]:
    """Drop the oldest turns whose text alone cannot fit (more characters than ``max_chars``: the
    prompt budget times the longest token of the vocabulary), before anything is tokenized.

    Raises the one-sentence "too long" error when the system prompt and the last user message
    alone are over that bound: a 20 MB paste is refused without tokenizing it.
    """
    kept = list(messages)
    users = [i for i, m in enumerate(kept) if m.role == "user"]
    if not users:
        return kept, 0
    last = users[-1]
    fixed = sum(len(m.content) for i, m in enumerate(kept) if m.role == "system" or i >= last)
    if fixed > max_chars:
        raise too_long(fixed, budget)
    total = sum(len(m.content) for m in kept)
    dropped = 0
    while total > max_chars:
        first = next(i for i, m in enumerate(kept) if m.role != "system")
        user_indices = [i for i, m in enumerate(kept) if m.role == "user"]
        end = user_indices[1] if kept[first].role == "user" else user_indices[0]
        total -= sum(len(m.content) for m in kept[first:end])
        kept = kept[:first] + kept[end:]
        dropped += 1
    return kept, dropped


def fit_to_context(
    messages: Sequence[Message], tokenize: Callable[[Sequence[Message]], list[int]], budget: int,
    max_token_chars: int | None = None,
) -> tuple[list[Message], int, list[int]]:
    """Return (kept messages, number of turns dropped, prompt tokens) with the prompt within ``budget``.

    A turn is a user message and the replies after it. System messages stay. If even the last
    user message alone does not fit, that is an error the person can act on. With
    ``max_token_chars`` (the longest token of the vocabulary, in characters) turns that cannot fit
    by their length alone are dropped, or refused, before tokenizing.
    """
    if not any(m.role == "user" for m in messages):
        raise AssistantError("The conversation has no user message; type a prompt.")
    kept = list(messages)
    dropped = 0
    if max_token_chars:
        kept, dropped = trim_by_size(kept, budget * max_token_chars, budget)
    tokens = tokenize(kept)
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
