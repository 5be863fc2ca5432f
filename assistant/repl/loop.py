"""``assistant chat --plain``: a line-based chat on prompt-toolkit.

Replies stream as they come; every turn is saved in the history (a ChatSession does that). Enter
sends, Alt+Enter (or Esc Enter) adds a line, Up/Down recall earlier input (a history file in the
data dir), Ctrl+C stops the reply and not the program, Ctrl+D quits. Slash commands (with
completion) are in commands.py, their handlers in slash.py.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Callable, Generator, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from assistant.engine.base import ChatEngine, Chunk
from assistant.history.store import History
from assistant.repl.commands import SlashCompleter, parse, unknown_hint
from assistant.repl.slash import SlashCommands
from assistant.session.chat import PARAM_SPECS, ChatSession
from assistant.session.config import ChatOptions
from models.errors import AssistantError
from models.paths import data_dir, ensure_dir

if TYPE_CHECKING:
    from assistant.session.tool_turns import ToolOptions, ToolRunner

INPUT_HISTORY = "repl_history"
Loader = Callable[[str | None], tuple[ChatEngine, Any]]  # model name -> (engine, SessionConfig)


def input_history_path() -> Path:
    path = ensure_dir(data_dir()) / INPUT_HISTORY
    if not path.exists():
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    return path


class Repl(SlashCommands):
    def __init__(self, session: ChatSession, loader: Loader, *, out: TextIO | None = None,
                 explicit: set[str] | None = None, input: Any = None, output: Any = None,
                 tool_options: ToolOptions | None = None) -> None:
        self.session = session
        self.tool_options = tool_options
        self.loader = loader
        self.out = out or sys.stdout
        self.explicit = set(explicit or ())  # params (and "system") the person chose: kept on /model
        self._input = input
        self._output = output
        self._hinted_quit = False

    # -- output -------------------------------------------------------------------------------
    def say(self, text: str = "") -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def notice(self, text: str) -> None:
        dim = self.out.isatty() if hasattr(self.out, "isatty") else False
        self.say(f"\x1b[2m[{text}]\x1b[0m" if dim else f"[{text}]")

    # -- tools ----------------------------------------------------------------------------------
    def tools_runner(self) -> ToolRunner:
        """The chat's tools, started on first use (MCP servers start then); off until turned on."""
        if self.session.tools is None:
            from assistant.repl.tool_view import terminal_ask
            from assistant.session.tool_turns import ToolOptions, ToolRunner

            runner = ToolRunner.start(self.tool_options or ToolOptions(), terminal_ask(self.read_answer, self.say))
            runner.enabled = False
            for note in runner.notes:
                self.notice(note)
            self.session.tools = runner
        return self.session.tools

    def read_answer(self, prompt: str) -> str:
        """One answer to the approval question; with no terminal to ask on, the call is denied."""
        if self._input is None and not sys.stdin.isatty():
            self.say(prompt + "n (no terminal to ask on: denied)")
            return "n"
        from prompt_toolkit import PromptSession

        answer: str = PromptSession(input=self._input, output=self._output).prompt(prompt)
        return answer

    def show_event(self, event: Any) -> None:
        from assistant.repl.tool_view import call_line, result_lines
        from assistant.session.tool_turns import ToolCallDone, ToolCallShown

        if isinstance(event, ToolCallShown):
            self.notice(call_line(event.call.name, event.call.arguments, event.error))
        elif isinstance(event, ToolCallDone):
            r = event.result
            self.notice(result_lines(event.call.name, r.content, r.is_error, r.seconds))

    # -- the loop -----------------------------------------------------------------------------
    def _prompt_session(self) -> Any:
        from prompt_toolkit import PromptSession
        from prompt_toolkit.history import FileHistory
        from prompt_toolkit.key_binding import KeyBindings

        bindings = KeyBindings()

        @bindings.add("escape", "enter")  # Alt+Enter, or Esc then Enter
        def _newline(event: Any) -> None:
            event.current_buffer.insert_text("\n")

        from models.resolve import known_names

        def conversations() -> list[tuple[int, str]]:
            return [(c.id, c.title) for c in self.session.history.list_conversations(limit=30)]

        return PromptSession(
            history=FileHistory(str(input_history_path())), key_bindings=bindings, multiline=False,
            completer=SlashCompleter(PARAM_SPECS, known_names, conversations), complete_while_typing=True,
            prompt_continuation="... ", input=self._input, output=self._output,
        )

    def run_lines(self, lines: Iterable[str]) -> None:
        """Input that is not a terminal (``printf 'hi\\n/retry\\n' | assistant chat --plain``): one
        message or command per line, no prompt."""
        for line in lines:
            try:
                if self.handle(line.rstrip("\n")) is False:
                    break
            except AssistantError as exc:
                self.say(f"Error: {exc}")

    def run(self) -> None:
        if self._input is None and not sys.stdin.isatty():
            self.run_lines(sys.stdin)
            return
        prompt = self._prompt_session()
        while True:
            try:
                line = prompt.prompt(">>> ")
            except KeyboardInterrupt:
                if not self._hinted_quit:
                    self.notice("Ctrl+D or /quit leaves")
                    self._hinted_quit = True
                continue
            except EOFError:
                break
            try:
                if self.handle(line) is False:
                    break
            except AssistantError as exc:
                self.say(f"Error: {exc}")

    def handle(self, line: str) -> bool:
        """One line of input; False means quit."""
        if not line.strip():
            return True
        command = parse(line)
        if command is None:
            text = line[1:] if line.lstrip().startswith("//") else line
            self.stream(self.session.send(text))
            return True
        name, arg = command
        handler = getattr(self, "cmd_" + name[1:], None) if name[1:].isalpha() else None
        if handler is None:
            self.say(unknown_hint(name))
            return True
        return handler(arg) is not False

    @contextlib.contextmanager
    def _signals_stop_the_reply(self) -> Iterator[list[int]]:
        """While a reply streams, Ctrl+C stops it (a second Ctrl+C interrupts at once). SIGTERM and a
        closed terminal (SIGHUP) stop it too, and the program exits once the reply is saved."""
        exit_signals: list[int] = []
        if threading.current_thread() is not threading.main_thread():
            yield exit_signals
            return
        pressed = 0

        def on_sigint(signum: int, frame: Any) -> None:
            nonlocal pressed
            pressed += 1
            if pressed > 1:
                raise KeyboardInterrupt
            self.session.cancel()

        def on_exit(signum: int, frame: Any) -> None:
            if exit_signals:  # asked twice: go now (the stream is closed on the way out, which saves it)
                raise SystemExit(128 + signum)
            exit_signals.append(signum)
            self.session.cancel()

        handlers = {signal.SIGINT: on_sigint, signal.SIGTERM: on_exit}
        if hasattr(signal, "SIGHUP"):
            handlers[signal.SIGHUP] = on_exit
        previous = {sig: signal.signal(sig, handler) for sig, handler in handlers.items()}
        try:
            yield exit_signals
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def stream(self, chunks: Generator[Chunk, None, None]) -> None:
        wrote = False
        exit_signals: list[int] = []
        try:
            # closing(): however the loop ends, the session's stream is closed (and the reply saved) here
            with self._signals_stop_the_reply() as exit_signals, contextlib.closing(chunks):
                for chunk in chunks:
                    if chunk.text:
                        self.out.write(chunk.text)
                        self.out.flush()
                        wrote = True
                    if chunk.event is not None:
                        if wrote:
                            self.say()
                            wrote = False
                        self.show_event(chunk.event)
        except KeyboardInterrupt:
            pass  # the session saved the reply so far as stopped
        finally:
            if wrote:
                self.say()
        reason = self.session.last_finish_reason
        if reason == "cancelled":
            self.notice("stopped; the reply so far is saved")
        elif reason == "length":
            self.notice("cut off at the token limit (/set max_tokens, or the context is full)")
        dropped = self.session.last_dropped_turns
        if dropped:
            n_ctx = self.session.last_stats.get("n_ctx") or "the"
            self.notice(f"{dropped} oldest turn{'s' if dropped != 1 else ''} left out to fit the {n_ctx}-token context")
        if exit_signals:
            raise SystemExit(128 + exit_signals[0])


def real_loader(opts: ChatOptions) -> Loader:
    def load(name: str | None) -> tuple[ChatEngine, Any]:
        from assistant.session.config import session_config
        from assistant.session.start import start_engine

        cfg = session_config(opts.with_model(name))
        return start_engine(cfg), cfg

    return load


def run_repl(opts: ChatOptions, *, conversation_id: int | None = None, continue_: bool = False,
             loader: Loader | None = None, exists: Callable[[str], bool] | None = None,
             out: TextIO | None = None, input: Any = None, output: Any = None,
             tools: ToolOptions | None = None, tools_on: bool = False) -> None:
    """``exists`` says whether a model name still loads (default: it resolves in the store)."""
    from assistant.session.resume import find_conversation, model_exists, reopen, resume

    history = History()
    loader = loader or real_loader(opts)
    try:
        conv = find_conversation(history, conversation_id, continue_, start_hint="`assistant chat --plain`")
        plan = resume(opts, conv, exists or model_exists)
        engine, cfg = loader(plan.options.model)
        explicit = set(opts.explicit())
        session = ChatSession(engine, history, model=cfg.model.name, params=cfg.params, system=cfg.system)
        repl = Repl(session, loader, out=out, explicit=explicit, input=input, output=output, tool_options=tools)
        try:
            if tools_on:
                repl.cmd_tools("on")
            info = engine.info
            if info is not None:
                repl.notice(f"{info.name} · {info.backend} · {info.context_length}-token context · "
                            "/help for commands, Ctrl+D quits")
            note = plan.note(cfg.model.name)
            if note:
                repl.notice(note)
            if conv is not None:
                reopen(session, conv.id, opts)
                repl.show_thread()
            repl.run()
        finally:
            if session.tools is not None:
                session.tools.close()
            session.engine.close()
    finally:
        history.close()
