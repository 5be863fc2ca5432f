"""The REPL's slash commands: their help, parsing and completion."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document


@dataclass(frozen=True)
class Command:
    name: str
    args: str
    help: str


COMMANDS: tuple[Command, ...] = (
    Command("/new", "", "start a new conversation"),
    Command("/system", "[TEXT|none]", "show, set or clear (none) the system prompt"),
    Command("/model", "[NAME]", "show the model, or switch to NAME"),
    Command("/set", "PARAM VALUE", "set a sampling parameter (temperature, top_p, top_k, min_p, repeat_penalty, max_tokens, seed)"),
    Command("/params", "", "show the sampling parameters and the system prompt"),
    Command("/retry", "", "generate the last reply again (a new branch; the old one is kept)"),
    Command("/history", "", "list saved conversations"),
    Command("/open", "ID", "continue a saved conversation"),
    Command("/export", "FILE", "write this conversation to FILE (.md or .json)"),
    Command("/tools", "[on|off|all|NAME...]", "list the tools; turn them on or off; offer only NAME..."),
    Command("/help", "", "this list"),
    Command("/quit", "", "leave (Ctrl+D too)"),
)
ALIASES = {"/exit": "/quit", "/bye": "/quit", "/?": "/help", "/h": "/help", "/q": "/quit"}
NAMES = tuple(c.name for c in COMMANDS)


def help_text() -> str:
    width = max(len(f"{c.name} {c.args}".strip()) for c in COMMANDS)
    lines = [f"  {f'{c.name} {c.args}'.strip().ljust(width)}  {c.help}" for c in COMMANDS]
    lines += [
        "",
        "  Enter sends; Alt+Enter (or Esc then Enter) starts a new line; Up/Down recall earlier input.",
        "  Ctrl+C stops a reply (the part so far is kept); Ctrl+D quits. Every conversation is saved:",
        "  `assistant history list`, `assistant chat --plain -c` continues the last one.",
    ]
    return "\n".join(lines)


def parse(line: str) -> tuple[str, str] | None:
    """``"/set top_k 5"`` -> ("/set", "top_k 5"); None when the line is a prompt, not a command."""
    text = line.strip()
    if not text.startswith("/") or text.startswith("//"):
        return None
    name, _, rest = text.partition(" ")
    name = name.lower()
    return ALIASES.get(name, name), rest.strip()


def unknown_hint(name: str) -> str:
    close = [n for n in NAMES if n.startswith(name[:3])] if len(name) > 1 else []
    guess = f" (did you mean {close[0]}?)" if len(close) == 1 else ""
    return f"Unknown command {name}{guess}; /help lists the commands (start a message with // to send a slash)."


class SlashCompleter(Completer):
    """Command names after ``/``; parameter names after ``/set``; model names after ``/model``;
    conversation IDs after ``/open``."""

    def __init__(self, params: Iterable[str], models: Callable[[], list[str]],
                 conversations: Callable[[], list[tuple[int, str]]]) -> None:
        self.params = list(params)
        self.models = models
        self.conversations = conversations

    def get_completions(self, document: Document, complete_event: CompleteEvent) -> Iterable[Completion]:
        text = document.text_before_cursor
        if not text.startswith("/") or "\n" in text:
            return
        if " " not in text:
            for c in COMMANDS:
                if c.name.startswith(text.lower()):
                    yield Completion(c.name, start_position=-len(text), display_meta=c.help)
            return
        command, _, arg = text.partition(" ")
        if " " in arg:
            return
        if command == "/set":
            options = [(p, "") for p in self.params]
        elif command == "/model":
            options = [(m, "") for m in self.models()]
        elif command == "/open":
            options = [(str(i), title) for i, title in self.conversations()]
        else:
            return
        for value, meta in options:
            if value.startswith(arg):
                yield Completion(value, start_position=-len(arg), display_meta=meta)
