"""F1 / ?: every key, the input keys, and how to select text with the terminal's modifier key."""

from __future__ import annotations

from rich import box
from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from assistant.tui.actions import ACTIONS, INPUT_KEYS, SELECT_HELP

ON_A_MESSAGE = (
    "On a selected message (Ctrl+Up, then Up/Down): c copies it, k copies a code block, e or Enter edits "
    "a prompt, [ ] or Left/Right step between branches, Esc goes back to the input. In the conversation "
    "list: Enter opens, r renames, Delete deletes."
)


def help_table() -> Table:
    table = Table(box=box.SIMPLE_HEAD, expand=True, show_edge=False, pad_edge=False)
    table.add_column("Key", style="bold", ratio=2)
    table.add_column("Action", ratio=5)
    for key, what in INPUT_KEYS:
        table.add_row(key, what)
    for a in ACTIONS:
        table.add_row(a.shown or a.keys, Text.assemble((a.title, "bold"), ": ", a.help))
    return table


def help_body() -> Group:
    return Group(help_table(), Text(""), Text(ON_A_MESSAGE), Text(""), Text("Selecting text", style="bold"),
                 Text(SELECT_HELP))


def help_plain(width: int = 100) -> str:
    import io

    from rich.console import Console

    console = Console(width=width, file=io.StringIO())
    console.print(help_body())
    return console.file.getvalue()  # type: ignore[attr-defined]


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,f1,q,question_mark", "dismiss", "Close")]

    def compose(self) -> ComposeResult:
        with Vertical(id="help-box", classes="dialog"):
            yield Static("Keys  (Esc closes; Ctrl+P finds any action by name)", classes="dialog-title")
            with VerticalScroll(id="help-scroll"):
                yield Static(help_body(), id="help-text")

    def on_mount(self) -> None:
        self.query_one("#help-scroll").focus()

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(result)
