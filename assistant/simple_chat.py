"""A line-by-line chat loop on the real engine (the multi-turn path of ``ask``)."""

from __future__ import annotations

import sys
from typing import Any

from assistant.engine.base import Chunk, Message


def run_simple_chat(flags: dict[str, Any]) -> None:
    from assistant.options import session_config
    from assistant.runtime import start_engine

    cfg = session_config(flags)
    engine = start_engine(cfg)
    assert engine.info is not None
    print(f"{engine.info.name} ({engine.info.backend}, {engine.info.context_length} tokens). Ctrl+D quits.")
    messages: list[Message] = [Message("system", cfg.system)] if cfg.system else []
    try:
        while True:
            try:
                line = input(">>> ")
            except EOFError:
                print()
                break
            if not line.strip():
                continue
            messages.append(Message("user", line))
            parts: list[str] = []
            last = Chunk("")
            try:
                for chunk in engine.stream(messages, cfg.params):
                    parts.append(chunk.text)
                    last = chunk
                    sys.stdout.write(chunk.text)
                    sys.stdout.flush()
            except KeyboardInterrupt:
                engine.cancel()
            print()
            messages.append(Message("assistant", "".join(parts)))
            if last.stats and last.stats.dropped_turns:
                print(f"[{last.stats.dropped_turns} older turn(s) dropped to fit the context]")
    finally:
        engine.close()
