"""Start the chat app for ``assistant chat``: resolve the model and the conversation first (so a
mistake is one line on the terminal, not a broken screen), send llama.cpp's fd-2 log to its file,
then run the app; the model loads inside it."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from assistant.session.config import ChatOptions
    from assistant.session.tool_turns import ToolOptions


def make_factory(cfg: Any) -> Any:
    """The real engine: ``None`` loads the model resolved from the flags, a name loads that one."""

    def factory(name: str | None) -> Any:
        from assistant.engine.llama import LlamaEngine

        engine = LlamaEngine()
        engine.load(cfg.model if name is None else name, cfg.load)
        return engine

    return factory


def terminal_on_saved_stderr() -> None:
    """``quiet_native_logs`` points fd 2 at the log; Textual draws on ``sys.__stderr__``, so give it
    the saved terminal instead."""
    from assistant.engine.stderr import is_redirected

    if is_redirected():
        sys.__stderr__ = sys.stderr  # type: ignore[misc,assignment]


def run_app(opts: ChatOptions, *, conversation_id: int | None = None, continue_: bool = False,
            tools: ToolOptions | None = None, tools_on: bool = False) -> None:
    """``tools``: what the command was told about tools (None: none in this app); ``tools_on``:
    offer them from the start (``--tool``), else the picker (F7) turns them on."""
    from assistant.history.store import History
    from assistant.session.config import session_config
    from assistant.session.resume import find_conversation, resume
    from assistant.session.start import llama_log_path, quiet_native_logs
    from assistant.tui.app import ChatApp
    from models.paths import config_dir

    history = History()
    try:
        # An unknown ID or nothing to continue: one sentence, before any screen.
        conv = find_conversation(history, conversation_id, continue_, start_hint="`assistant chat`", default_last=True)
        plan = resume(opts, conv)
        cfg = session_config(plan.options)
        quiet_native_logs(False)  # llama.cpp's log would draw over the app; it goes to DATA/logs/llama.log
        terminal_on_saved_stderr()
        app = ChatApp(history=history, engine_factory=make_factory(cfg), model=cfg.model.name, params=cfg.params,
                      system=cfg.system, conversation_id=conv.id if conv else None,
                      theme_file=config_dir() / "tui.json", options=opts, tools=tools, tools_on=tools_on)
        try:
            app.run()
        finally:
            app.wait_idle()
            app.close_tools()
            app.host.close()
        if cfg.load.verbose:
            print(f"llama.cpp's log of this session: {llama_log_path()}", file=sys.stderr)
    finally:
        history.close()
