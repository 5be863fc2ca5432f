"""The one rule for continuing a saved conversation, used by ``ask -c``, the REPL and the app.

- Which conversation: the ID given, else the last one when asked to continue (none saved: one
  sentence naming the command that starts one).
- Which model: the ``--model`` flag, else the model the conversation was last with if it still
  resolves, else the default model (with a note saying the conversation's model is gone).
- Which settings: the conversation's own system prompt and sampling, then any sampling flag or
  ``--system`` given on the command line on top (saved with the conversation).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from assistant.session.config import ChatOptions
from models.errors import AssistantError, ModelNotFound

if TYPE_CHECKING:
    from assistant.history.store import Conversation, History
    from assistant.session.chat import ChatSession


@dataclass(frozen=True)
class Resume:
    conversation: Conversation | None
    options: ChatOptions  # the flags, with the model that continues the conversation
    gone: str | None = None  # the conversation's model, when it no longer resolves

    def note(self, loaded: str) -> str | None:
        """What to tell the person once the model that continues it (``loaded``) is known."""
        return f"{self.gone} is no longer installed; continuing with {loaded}" if self.gone else None


def find_conversation(history: History, conversation_id: int | None, continue_: bool, *,
                      start_hint: str, default_last: bool = False) -> Conversation | None:
    """The conversation to open: by ID (unknown: one sentence), the last one with ``continue_``
    (none: a sentence with ``start_hint``, the command that starts one), or the last one anyway
    when ``default_last`` (the app reopens where the person left off)."""
    if conversation_id is not None:
        return history.get_conversation(conversation_id)
    conv = history.last_conversation() if (continue_ or default_last) else None
    if continue_ and conv is None:
        raise AssistantError(f"There is no saved conversation to continue; start one with {start_hint}.")
    return conv


def model_exists(name: str) -> bool:
    from models.resolve import resolve

    try:
        resolve(name)
    except ModelNotFound:
        return False
    return True


def resume(opts: ChatOptions, conv: Conversation | None,
           exists: Callable[[str], bool] = model_exists) -> Resume:
    """The options that continue ``conv``: the flag's model, else the conversation's (if ``exists``
    says it still resolves), else the default."""
    if opts.model or conv is None or not conv.model:
        return Resume(conv, opts)
    if exists(conv.model):
        return Resume(conv, opts.with_model(conv.model))
    return Resume(conv, opts, gone=conv.model)


def reopen(session: ChatSession, conv_id: int, opts: ChatOptions) -> None:
    """Open a saved conversation in the session, then apply the sampling and system prompt given as flags."""
    session.open(conv_id)
    chosen = opts.chosen_sampling()
    if chosen:
        session.set_params(dataclasses.replace(session.params, **chosen))
    if opts.system is not None:
        session.set_system(opts.system)
