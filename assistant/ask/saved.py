"""``assistant ask`` with the history: each exchange is saved as a conversation, and ``-c`` continues
the last conversation (from ``ask``, the REPL or the app) from the shell."""

from __future__ import annotations

import contextlib
import sys
from typing import IO, Any

from assistant.ask.answer import json_result
from assistant.engine.base import Chunk
from assistant.history.store import History
from assistant.session.chat import ChatSession
from assistant.session.config import ChatOptions


def run_ask_saved(text: str, opts: ChatOptions, *, continue_: bool, stream: bool, out: IO[str]) -> dict[str, Any]:
    from assistant.session.config import session_config
    from assistant.session.resume import find_conversation, reopen, resume
    from assistant.session.start import start_engine

    history = History()
    try:
        conv = find_conversation(history, None, continue_, start_hint='`assistant ask "Hi"` (without -c)')
        plan = resume(opts, conv)
        cfg = session_config(plan.options)
        note = plan.note(cfg.model.name)
        if note:
            print(f"Note: {note}", file=sys.stderr)
        engine = start_engine(cfg)
        session = ChatSession(engine, history, model=cfg.model.name, params=cfg.params, system=cfg.system)
        if conv is not None:
            reopen(session, conv.id, opts)
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
