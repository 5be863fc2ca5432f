"""F1 / ?: every key, the input keys, and how to select text with the terminal's modifier key."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown, Static

from assistant.tui.actions import ACTIONS, INPUT_KEYS, SELECT_HELP


def help_markdown() -> str:
    rows = ["| Key | Action |", "|---|---|"]
    rows += [f"| {key} | {what} |" for key, what in INPUT_KEYS]
    rows += [f"| {a.shown or a.keys} | **{a.title}**: {a.help} |" for a in ACTIONS]
    return "\n".join(
        ["## Keys", "", *rows, "", "## Selecting and copying text", "", SELECT_HELP, "",
         "On a selected message (Ctrl+Up, then Up/Down): `c` copy, `k` copy a code block, `e`/Enter edit, "
         "`[`/`]` or Left/Right step between branches, Esc back to the input. In the conversation list: "
         "Enter opens, `r` renames, Delete deletes."]
    )


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,f1,q,question_mark", "dismiss", "Close")]

    def compose(self) -> ComposeResult:
        with Vertical(id="help-box", classes="dialog"):
            yield Static("Help  (Esc closes)", classes="dialog-title")
            with VerticalScroll():
                yield Markdown(help_markdown(), id="help-text")
