"""A tool call in the chat log: a collapsible card whose title names the tool, a short form of its
arguments and how it went (running…, the time it took, error); inside, the arguments as pretty JSON
and the result (or the error). Every text here is the model's or a tool's: never read as markup."""

from __future__ import annotations

import contextlib
import json
from typing import Any

from textual.markup import escape
from textual.widgets import Collapsible, Static

SHORT_ARGS = 48  # characters of the arguments in a card's title
SHORT_RESULT = 32  # characters of the result in a card's title
RESULT_CHARS = 4000  # characters of a result shown inside a card (the model got all of it)


def pretty(arguments: Any) -> str:
    try:
        return json.dumps(arguments, indent=2, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return repr(arguments)


def short(arguments: Any, limit: int = SHORT_ARGS) -> str:
    try:
        text = json.dumps(arguments, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        text = repr(arguments)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def clip(text: str, limit: int = RESULT_CHARS) -> str:
    return text if len(text) <= limit else text[:limit] + f"\n… ({len(text) - limit:,} more characters)"


def seconds_text(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 0.001:
        return "<1 ms"
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.1f} s"


class ToolCard(Collapsible):
    """One call: ``finish`` fills in its result when it comes back. ``error``: the call will not run
    (it did not parse, or names a tool that was not offered); the card says so at once."""

    # Here, not in chat.tcss: Textual loads a widget's DEFAULT_CSS when the widget is first used, so a
    # chat without tools restyles its streaming blocks against no tool rules (the app's paint budget).
    DEFAULT_CSS = """
    ToolCard.tool-card { background: transparent; border-top: none; padding: 0; margin: 0 0 1 0; }
    ToolCard.tool-card CollapsibleTitle { padding: 0 1 0 0; color: $text-muted; }
    ToolCard.tool-card.running CollapsibleTitle { color: $warning; }
    ToolCard.tool-card.error CollapsibleTitle { color: $error; }
    ToolCard.tool-card Contents { padding: 0 0 0 2; }
    ToolCard .tool-args { color: $text-muted; max-height: 12; }
    ToolCard .tool-result { max-height: 20; }
    ToolCard .tool-result.error { color: $error; }
    """
    SCOPED_CSS = False

    def __init__(self, name: str, arguments: Any, *, call_id: str | None = None, raw: str = "",
                 error: str | None = None, collapsed: bool = True) -> None:
        self.tool_name = name
        self.arguments = arguments
        self.call_id = call_id
        self.outcome = "running…" if error is None else "not run"
        self.result = error or ""
        self.is_error = error is not None
        shown_args = raw if error is not None and raw and not arguments else pretty(arguments)
        self.args_view = Static(shown_args, classes="tool-args", markup=False)
        self.result_view = Static(error or "running…", classes="tool-result", markup=False)
        super().__init__(self.args_view, self.result_view, title=self.title_text(), collapsed=collapsed and not error,
                         classes="tool-card")
        self.set_class(self.is_error, "error")
        self.set_class(error is None, "running")

    def title_text(self) -> str:
        return f"[b]{escape(self.tool_name)}[/b] {escape(short(self.arguments))}  ·  {escape(self.outcome)}"

    def finish(self, content: str, *, is_error: bool, seconds: float | None = None) -> None:
        """The call came back (or was refused): its result, styled as an error when it is one."""
        self.is_error = is_error
        self.result = content
        took = seconds_text(seconds)
        first = " ".join(content.split())
        first = first if len(first) <= SHORT_RESULT else first[: SHORT_RESULT - 1] + "…"
        self.outcome = "error" if is_error else f"→ {first}" if first else "done"
        self.outcome += f"  ·  {took}" if took else ""
        self.result_view.update(clip(content) if content else "(empty result)")
        self.result_view.set_class(is_error, "error")
        self.set_class(is_error, "error")
        self.remove_class("running")
        self.title = self.title_text()
        if is_error:
            self.collapsed = False


def saved_call(entry: Any) -> tuple[str | None, str, Any]:
    """(id, name, arguments) of a call as the history keeps it (OpenAI's shape); anything else is
    shown as it is, never a crash."""
    if not isinstance(entry, dict):
        return None, "tool call", entry
    function: dict[str, Any] = entry["function"] if isinstance(entry.get("function"), dict) else entry
    name = function["name"] if isinstance(function.get("name"), str) else "tool call"
    arguments = function.get("arguments", {})
    if isinstance(arguments, str):  # a JSON string, as OpenAI writes it
        with contextlib.suppress(ValueError):
            arguments = json.loads(arguments)
    call_id = entry.get("id")
    return (call_id if isinstance(call_id, str) else None), name, arguments


def saved_result(record: Any) -> tuple[str, bool]:
    """A saved ``tool`` message's text (without the "Error: " the model was given) and whether it is an error."""
    content = str(getattr(record, "content", "") or "")
    is_error = getattr(record, "finish_reason", None) == "error"
    if is_error and content.startswith("Error: "):
        content = content[len("Error: "):]
    return content, is_error


def card_from_history(entry: Any, result: Any | None) -> ToolCard:
    """A card for a call of a reopened conversation, with its saved result (None: it never ran)."""
    call_id, name, arguments = saved_call(entry)
    card = ToolCard(name, arguments, call_id=call_id)
    if result is None:
        card.finish("No result was saved for this call (the turn stopped before it ran).", is_error=True)
        card.collapsed = True
    else:
        content, is_error = saved_result(result)
        card.finish(content, is_error=is_error)
    return card


def orphan_card(record: Any) -> ToolCard:
    """A saved tool result whose call is not in the message before it."""
    card = ToolCard(str(getattr(record, "tool_name", None) or "tool"), {}, call_id=getattr(record, "tool_call_id", None))
    content, is_error = saved_result(record)
    card.finish(content, is_error=is_error)
    return card
