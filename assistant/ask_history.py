"""``assistant ask`` with the history: each exchange is saved as a conversation, and ``-c`` continues
the last conversation (from ``ask``, the REPL or the app) from the shell."""

from __future__ import annotations

import contextlib
import dataclasses
from typing import IO, Any

from assistant.ask import json_result
from assistant.engine.base import Chunk, GenerationParams
from assistant.history import Conversation, History
from assistant.session import ChatSession
from models.errors import AssistantError, ModelNotFound


def _config(flags: dict[str, Any], conv: Conversation | None) -> Any:
    """The flags' model, else the conversation's (if it still resolves), else the default."""
    from assistant.options import session_config

    if conv is not None and not flags.get("model") and conv.model:
        try:
            return session_config({**flags, "model": conv.model})
        except ModelNotFound:  # the conversation's model is gone: the default continues it
            pass
    return session_config(flags)


def run_ask_saved(text: str, flags: dict[str, Any], *, continue_: bool, stream: bool, out: IO[str]) -> dict[str, Any]:
    from assistant.runtime import start_engine

    history = History()
    try:
        conv = history.last_conversation() if continue_ else None
        if continue_ and conv is None:
            raise AssistantError('There is no saved conversation to continue; ask without -c first, e.g. assistant ask "Hi".')
        cfg = _config(flags, conv)
        engine = start_engine(cfg)
        session = ChatSession(engine, history, model=cfg.model.name, params=cfg.params, system=cfg.system)
        if conv is not None:
            session.open(conv.id)
            chosen = {k: flags[k] for k in GenerationParams.SAMPLING_KEYS if flags.get(k) is not None}
            session.set_params(dataclasses.replace(session.params, **chosen))
            if flags.get("system") is not None:
                session.set_system(flags["system"])
        parts: list[str] = []
        last = Chunk("")
        try:
            with contextlib.closing(session.send(text)) as chunks:
                for chunk in chunks:
                    parts.append(chunk.text)
                    last = chunk
                    if stream and chunk.text:
                        out.write(chunk.text)
                        out.flush()
        except KeyboardInterrupt:  # the session saved the reply so far as stopped
            if stream:
                out.write("\n")
            raise
        finally:
            engine.close()
    finally:
        history.close()
    if stream:
        out.write("\n")
        out.flush()
    return {**json_result(parts, last, cfg),
            "conversation_id": session.conversation.id if session.conversation else None}
