"""The REPL's slash-command handlers (``/name ARG`` -> ``cmd_name(arg)``), mixed into ``Repl``."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

from assistant.engine.base import ChatEngine, Chunk, GenerationParams
from assistant.history.store import MessageRecord
from assistant.repl.commands import help_text
from assistant.session.chat import ChatSession, parse_param
from models.errors import AssistantError


class SlashCommands:
    session: ChatSession
    loader: Callable[[str | None], tuple[ChatEngine, Any]]
    explicit: set[str]

    def say(self, text: str = "") -> None:
        raise NotImplementedError

    def notice(self, text: str) -> None:
        raise NotImplementedError

    def stream(self, chunks: Generator[Chunk, None, None]) -> None:
        raise NotImplementedError

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

    def tools_runner(self) -> Any:
        raise NotImplementedError

    def cmd_tools(self, arg: str) -> None:
        """``/tools`` lists; ``/tools on|off``; ``/tools NAME...`` offers only those (and turns tools on)."""
        runner = self.tools_runner()
        words = arg.split()
        if words == ["on"] or words == ["off"]:
            runner.enabled = words[0] == "on"
        elif words == ["all"]:
            runner.names, runner.enabled = None, True
        elif words:
            runner.toolset.select(words)  # an unknown name: one sentence, nothing changed
            runner.names, runner.enabled = words, True
        offered = {t.name for t in runner.toolset.select(runner.names)}
        for tool in runner.toolset.list():
            mark = "*" if tool.name in offered and runner.enabled else " "
            self.say(f" {mark} {tool.name:<16} {tool.source:<10} {' '.join(tool.description.split())[:70]}")
        state = f"on ({len(offered)} offered)" if runner.enabled else "off"
        self.notice(f"tools {state}; /tools on|off, /tools NAME... to choose, /tools all")

    def cmd_export(self, arg: str) -> None:
        if not arg:
            raise AssistantError("Usage: /export FILE.md or /export FILE.json.")
        if self.session.conversation is None:
            raise AssistantError("There is nothing to export yet; send a message first.")
        from assistant.history.export import write_export

        path = Path(arg).expanduser()
        write_export(self.session.history, self.session.conversation.id, path, self.session.leaf_id)
        self.notice(f"wrote {path}")

    def show_thread(self, last: int = 4) -> None:
        conv = self.session.conversation
        assert conv is not None
        thread: list[MessageRecord] = self.session.thread()
        self.notice(f"conversation {conv.id}: {conv.title or '(untitled)'}, {len(thread)} messages")
        if len(thread) > last:
            self.notice(f"{len(thread) - last} earlier messages: `assistant history show {conv.id}` prints them")
        from assistant.repl.tool_view import call_line, result_lines

        for msg in thread[-last:]:
            if msg.role == "tool":
                self.notice(result_lines(msg.tool_name or "tool", msg.content, msg.finish_reason == "error", 0.0))
                continue
            who = ">>> " if msg.role == "user" else ""
            if msg.content or msg.role == "user":
                self.say(f"{who}{msg.content}")
            for call in msg.tool_calls or []:
                fn = call.get("function", {})
                self.notice(call_line(str(fn.get("name", "?")), dict(fn.get("arguments") or {})))
        if conv.model and conv.model != self.session.model:
            self.notice(f"this conversation used {conv.model}; /model {conv.model} switches to it")
