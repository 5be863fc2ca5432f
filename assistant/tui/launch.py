"""Start the chat app for ``assistant chat``: resolve the model and the conversation first (so a
mistake is one line on the terminal, not a broken screen), send llama.cpp's fd-2 log to its file,
then run the app; the model loads inside it."""

from __future__ import annotations

import sys
from typing import Any

from models.errors import AssistantError


def make_factory(cfg: Any) -> Any:
    """The real engine: ``None`` loads the model resolved from the flags, a name loads that one."""

    def factory(name: str | None) -> Any:
        from assistant.engine.llama import LlamaEngine

        engine = LlamaEngine()
        engine.load(cfg.model if name is None else name, cfg.load)
        return engine

    return factory


def explicit_flags(flags: dict[str, Any]) -> dict[str, Any]:
    """The sampling flags and system prompt given on the command line."""
    from assistant.engine.base import GenerationParams

    keys = (*GenerationParams.SAMPLING_KEYS, "system")
    return {k: flags[k] for k in keys if flags.get(k) is not None}


def conv_model(name: str) -> str | None:
    """The model a conversation was last with, if it still resolves (else the default)."""
    from models.resolve import resolve

    try:
        resolve(name)
    except AssistantError:
        return None
    return name


def terminal_on_saved_stderr() -> None:
    """``quiet_native_logs`` points fd 2 at the log; Textual draws on ``sys.__stderr__``, so give it
    the saved terminal instead."""
    from assistant.engine.stderr import is_redirected

    if is_redirected():
        sys.__stderr__ = sys.stderr  # type: ignore[misc,assignment]


def run_app(flags: dict[str, Any], *, conversation_id: int | None = None, continue_: bool = False) -> None:
    from assistant.history import Conversation, History
    from assistant.options import session_config
    from assistant.runtime import llama_log_path, quiet_native_logs
    from assistant.tui.app import ChatApp
    from models.paths import config_dir

    history = History()
    try:
        conv: Conversation | None
        if conversation_id is not None:
            conv = history.get_conversation(conversation_id)  # unknown: one sentence, before any screen
        else:
            conv = history.last_conversation()
            if continue_ and conv is None:
                raise AssistantError("There is no conversation to continue yet; run `assistant chat` to start one.")
        if not flags.get("model") and conv is not None and conv.model:
            flags = {**flags, "model": conv_model(conv.model)}  # a conversation goes on with its model
        cfg = session_config(flags)
        quiet_native_logs(False)  # llama.cpp's log would draw over the app; it goes to DATA/logs/llama.log
        terminal_on_saved_stderr()
        app = ChatApp(history=history, engine_factory=make_factory(cfg), model=cfg.model.name, params=cfg.params,
                      system=cfg.system, conversation_id=conv.id if conv else None,
                      theme_file=config_dir() / "tui.json", overrides=explicit_flags(flags))
        try:
            app.run()
        finally:
            app.wait_idle()
            app.host.close()
        if cfg.load.verbose:
            print(f"llama.cpp's log of this session: {llama_log_path()}", file=sys.stderr)
    finally:
        history.close()
