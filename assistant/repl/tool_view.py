"""Tool calls on a terminal, for the REPL and ``ask``: a call and its result as a few lines, and the
approval question (allow once / always for this tool / deny)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from assistant.tools.approvals import Decision
    from assistant.tools.calls import Tool

RESULT_LINES = 8  # lines of a result shown; the model gets all of it
ANSWERS = "[y] allow once  [a] always for this tool  [n] deny"


def arguments_text(arguments: dict[str, Any], limit: int = 400) -> str:
    text = json.dumps(arguments, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def call_line(name: str, arguments: dict[str, Any], error: str | None = None) -> str:
    line = f"tool call: {name} {arguments_text(arguments)}"
    return f"{line}\n  not run: {error}" if error else line


def result_lines(name: str, content: str, is_error: bool, seconds: float) -> str:
    lines = content.splitlines() or [""]
    shown = lines[:RESULT_LINES]
    if len(lines) > RESULT_LINES:
        shown.append(f"… {len(lines) - RESULT_LINES} more lines (the model sees them all)")
    head = f"{name} {'failed' if is_error else 'returned'} in {seconds:.2f} s:"
    return "\n".join([head] + [f"  {line}" for line in shown])


def parse_answer(text: str) -> Decision | None:
    from assistant.tools.approvals import Decision

    answer = text.strip().lower()
    if answer in ("", "y", "yes", "once"):
        return Decision.ALLOW_ONCE
    if answer in ("a", "always"):
        return Decision.ALLOW_ALWAYS
    if answer in ("n", "no", "deny"):
        return Decision.DENY
    return None


def terminal_ask(read: Callable[[str], str], say: Callable[[str], None]) -> Callable[[Tool, dict[str, Any]], Decision]:
    """The approval question on a terminal: ``read(prompt)`` reads one answer (EOF or Ctrl+C: deny)."""
    from assistant.tools.approvals import Decision

    def ask(tool: Tool, arguments: dict[str, Any]) -> Decision:
        say(f"The model wants to run {tool.name} ({tool.source}) with {arguments_text(arguments)}")
        while True:
            try:
                decision = parse_answer(read(f"{ANSWERS}? "))
            except (EOFError, KeyboardInterrupt):
                return Decision.DENY
            if decision is not None:
                return decision
            say("Answer y, a or n.")

    return ask
