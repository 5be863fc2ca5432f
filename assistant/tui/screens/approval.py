"""Before a tool call runs: the tool, where it comes from, what it does and the arguments the model
wrote (pretty JSON, never read as markup), and the answer: allow once (y, Enter), always for this
tool (a), deny (n, Esc), or stop the reply (s). The dismissed value is a ``Decision`` value or STOP."""

from __future__ import annotations

import json
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.markup import escape
from textual.screen import ModalScreen
from textual.widgets import Button, Static

ONCE, ALWAYS, DENY = "once", "always", "deny"  # assistant.tools.approvals.Decision's values
STOP = "stop"  # deny, and stop the reply


def source_text(source: str) -> str:
    return "a built-in tool" if source == "builtin" else f"from the MCP server {source!r}"


def arguments_text(arguments: Any) -> str:
    try:
        return json.dumps(arguments, indent=2, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return repr(arguments)


class ApprovalScreen(ModalScreen[str]):
    DEFAULT_CSS = """
    #approval-args { height: auto; max-height: 14; background: $boost; padding: 0 1; }
    #approval .buttons Button { min-width: 10; }
    """
    SCOPED_CSS = False

    BINDINGS = [
        Binding("y,enter", "answer('once')", "Allow once"),  # Enter on another button presses that one
        Binding("a", "answer('always')", "Always"),
        Binding("n,escape", "answer('deny')", "Deny"),
        Binding("s", "answer('stop')", "Stop the reply"),
    ]

    def __init__(self, tool: Any, arguments: dict[str, Any]) -> None:
        super().__init__()
        self.tool = tool
        self.arguments = arguments

    def compose(self) -> ComposeResult:
        tool = self.tool
        with Vertical(id="approval", classes="dialog"):
            yield Static(f"Run {tool.name}? ({source_text(tool.source)})", classes="dialog-title", markup=False)
            if tool.description:
                yield Static(tool.description, classes="hint", markup=False)
            yield Static("Arguments:", markup=False)
            with VerticalScroll(id="approval-args"):
                yield Static(arguments_text(self.arguments), id="approval-json", markup=False)
            with Horizontal(classes="buttons"):
                yield Button("Allow once (y)", variant="primary", id=ONCE)
                yield Button(f"Always allow {escape(tool.name)} (a)", id=ALWAYS)
                yield Button("Deny (n)", variant="error", id=DENY)
                yield Button("Stop (s)", id=STOP)

    def on_mount(self) -> None:
        self.query_one(f"#{ONCE}", Button).focus()

    def action_answer(self, value: str) -> None:
        self.dismiss(value)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id or DENY)
