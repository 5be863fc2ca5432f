"""``assistant chat --plain``: a line-based chat on prompt-toolkit.

Replies stream as they come; every turn is saved in the history (a ChatSession does that). Enter
sends, Alt+Enter (or Esc Enter) adds a line, Up/Down recall earlier input (a history file in the
data dir), Ctrl+C stops the reply and not the program, Ctrl+D quits. Slash commands (with
completion) are in repl_commands.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TextIO

from assistant.engine.base import ChatEngine, Chunk, GenerationParams
from assistant.history import History, MessageRecord
from assistant.repl_commands import SlashCompleter, help_text, parse, unknown_hint
from assistant.session import PARAM_SPECS, ChatSession, parse_param
from models.errors import AssistantError
from models.paths import data_dir, ensure_dir

INPUT_HISTORY = "repl_history"
Loader = Callable[[str | None], tuple[ChatEngine, Any]]  # model name -> (engine, SessionConfig)


def input_history_path() -> Path:
    path = ensure_dir(data_dir()) / INPUT_HISTORY
    if not path.exists():
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    return path


class Repl:
    def __init__(self, session: ChatSession, loader: Loader, *, out: TextIO | None = None,
                 explicit: set[str] | None = None, input: Any = None, output: Any = None) -> None:
        self.session = session
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
    def _sigint_cancels(self) -> Iterator[None]:
        """While a reply streams, Ctrl+C stops it (a second Ctrl+C interrupts at once), and SIGTERM
        or a closed terminal (SIGHUP) exit through the session, which saves the reply so far."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        pressed = 0

        def on_sigint(signum: int, frame: Any) -> None:
            nonlocal pressed
            pressed += 1
            if pressed > 1:
                raise KeyboardInterrupt
            self.session.cancel()

        def on_exit(signum: int, frame: Any) -> None:
            raise SystemExit(128 + signum)

        handlers = {signal.SIGINT: on_sigint, signal.SIGTERM: on_exit}
        if hasattr(signal, "SIGHUP"):
            handlers[signal.SIGHUP] = on_exit
        previous = {sig: signal.signal(sig, handler) for sig, handler in handlers.items()}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def stream(self, chunks: Iterator[Chunk]) -> None:
        wrote = False
        try:
            with self._sigint_cancels():
                for chunk in chunks:
                    if chunk.text:
                        self.out.write(chunk.text)
                        self.out.flush()
                        wrote = True
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

    # -- commands -----------------------------------------------------------------------------
    def cmd_help(self, arg: str) -> None:
        self.say(help_text())

    def cmd_quit(self, arg: str) -> bool:
        return False

    def cmd_new(self, arg: str) -> None:
        self.session.new_conversation()
        self.notice("new conversation")

    def cmd_system(self, arg: str) -> None:
        if not arg:
            self.say(self.session.system or "(no system prompt)")
            return
        self.session.set_system(None if arg.lower() == "none" else arg)
        self.explicit.add("system")
        self.notice("system prompt cleared" if self.session.system is None else "system prompt set")

    def cmd_set(self, arg: str) -> None:
        name, _, value = arg.partition(" ")
        if not name or not value.strip():
            raise AssistantError("Usage: /set PARAM VALUE, e.g. /set temperature 0.2 (/params shows them).")
        self.session.set_param(name, value)
        key, parsed = parse_param(name, value)
        self.explicit.add(key)
        self.notice(f"{key} = {parsed}")

    def cmd_params(self, arg: str) -> None:
        p = self.session.params
        for key in GenerationParams.SAMPLING_KEYS:
            value = getattr(p, key)
            self.say(f"  {key:<15} {value if value is not None else 'default'}")
        self.say(f"  {'system':<15} {self.session.system or '(none)'}")

    def cmd_model(self, arg: str) -> None:
        from models.resolve import known_names

        if not arg:
            self.say(f"{self.session.model} (others: {', '.join(n for n in known_names() if n != self.session.model)})")
            return
        engine, cfg = self.loader(arg)  # an error leaves the current model in place
        old = self.session.engine
        keep = {k: getattr(self.session.params, k) for k in self.explicit if k != "system"}
        self.session.switch_model(engine, cfg.model.name)
        self.session.set_params(dataclasses.replace(cfg.params, **keep))
        if "system" not in self.explicit and cfg.system != self.session.system:
            self.session.set_system(cfg.system)
        if old is not engine:
            old.close()
        self.notice(f"now chatting with {cfg.model.name}")

    def cmd_retry(self, arg: str) -> None:
        self.stream(self.session.retry())
        if self.session.leaf_id is not None:
            n = len(self.session.history.siblings(self.session.leaf_id))
            if n > 1:
                self.notice(f"reply {n} of {n}; the earlier ones are kept as branches")

    def cmd_history(self, arg: str) -> None:
        convs = self.session.history.list_conversations(limit=20)
        if not convs:
            self.say("(no saved conversations yet)")
        current = self.session.conversation.id if self.session.conversation else None
        for c in convs:
            mark = "*" if c.id == current else " "
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(c.updated))
            self.say(f" {mark}{c.id:>5}  {when}  {c.title or '(untitled)'}")

    def cmd_open(self, arg: str) -> None:
        if not arg.strip().isdigit():
            raise AssistantError("Usage: /open ID, with an ID from /history.")
        self.session.open(int(arg))
        self.show_thread()

    def cmd_export(self, arg: str) -> None:
        if not arg:
            raise AssistantError("Usage: /export FILE.md or /export FILE.json.")
        if self.session.conversation is None:
            raise AssistantError("There is nothing to export yet; send a message first.")
        path = Path(arg).expanduser()
        self.session.history.export(self.session.conversation.id, path, self.session.leaf_id)
        self.notice(f"wrote {path}")

    def show_thread(self, last: int = 4) -> None:
        conv = self.session.conversation
        assert conv is not None
        thread: list[MessageRecord] = self.session.thread()
        self.notice(f"conversation {conv.id}: {conv.title or '(untitled)'}, {len(thread)} messages")
        if len(thread) > last:
            self.notice(f"{len(thread) - last} earlier messages: `assistant history show {conv.id}` prints them")
        for msg in thread[-last:]:
            who = ">>> " if msg.role == "user" else ""
            self.say(f"{who}{msg.content}")
        if conv.model and conv.model != self.session.model:
            self.notice(f"this conversation used {conv.model}; /model {conv.model} switches to it")


def real_loader(flags: dict[str, Any]) -> Loader:
    def load(name: str | None) -> tuple[ChatEngine, Any]:
        from assistant.options import session_config
        from assistant.runtime import start_engine

        cfg = session_config({**flags, "model": name})
        return start_engine(cfg), cfg

    return load


def run_repl(flags: dict[str, Any], *, conversation_id: int | None = None, continue_: bool = False,
             loader: Loader | None = None, out: TextIO | None = None, input: Any = None, output: Any = None) -> None:
    history = History()
    conv = None
    if conversation_id is not None:
        conv = history.get_conversation(conversation_id)
    elif continue_:
        conv = history.last_conversation()
        if conv is None:
            raise AssistantError("There is no saved conversation to continue; start one with `assistant chat --plain`.")
    model = flags.get("model") or (conv.model if conv else None)
    loader = loader or real_loader(flags)
    try:
        engine, cfg = loader(model)
    except AssistantError:
        if flags.get("model") or model is None:
            raise
        engine, cfg = loader(None)  # the conversation's model is gone: the default one continues it
    explicit = {k for k in GenerationParams.SAMPLING_KEYS if flags.get(k) is not None}
    if flags.get("system") is not None:
        explicit.add("system")
    session = ChatSession(engine, history, model=cfg.model.name, params=cfg.params, system=cfg.system)
    repl = Repl(session, loader, out=out, explicit=explicit, input=input, output=output)
    info = engine.info
    if info is not None:
        repl.notice(f"{info.name} · {info.backend} · {info.context_length}-token context · /help for commands, Ctrl+D quits")
    try:
        if conv is not None:
            session.open(conv.id)
            session.set_params(dataclasses.replace(session.params, **{k: flags[k] for k in explicit if k != "system"}))
            if "system" in explicit:
                session.set_system(flags["system"])
            repl.show_thread()
        repl.run()
    finally:
        session.engine.close()
        history.close()
