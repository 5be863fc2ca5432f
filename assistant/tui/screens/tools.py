"""F7: the tools of this chat: a switch for tools on or off, and a checkbox per tool (its name, where
it comes from, what it does). Ctrl+S (or Apply) applies the choice to the next replies; Esc cancels."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, SelectionList, Static, Switch
from textual.widgets.selection_list import Selection

DESCRIPTION_CHARS = 120


@dataclass(frozen=True)
class ToolChoice:
    on: bool
    names: list[str] | None  # the tools offered; None: all of them


def tool_label(tool: Any) -> Text:
    """One line (the list has one line per tool): the name, where it comes from, what it does."""
    label = Text(tool.name, style="bold", no_wrap=True, overflow="ellipsis")
    label.append(f"  {'built-in' if tool.source == 'builtin' else tool.source}", style="italic")
    description = " ".join(str(tool.description or "").split())
    if len(description) > DESCRIPTION_CHARS:
        description = description[: DESCRIPTION_CHARS - 1] + "…"
    if description:
        label.append(f"  {description}", style="dim")
    return label


class ToolsScreen(ModalScreen[ToolChoice | None]):
    DEFAULT_CSS = """
    #tools-switch-row { height: auto; margin: 0 0 1 0; }
    #tools-switch-row Label { padding: 1 1; width: 1fr; }
    #tools-list { height: auto; max-height: 16; }
    #tools-error { color: $error; height: auto; }
    """
    SCOPED_CSS = False

    BINDINGS = [Binding("escape", "cancel", "Cancel"), Binding("ctrl+s", "apply", "Apply", priority=True)]

    def __init__(self, tools: Sequence[Any], *, on: bool, selected: Sequence[str] | None) -> None:
        super().__init__()
        self.tools = list(tools)
        self.tools_on = on
        self.selected = None if selected is None else set(selected)

    def compose(self) -> ComposeResult:
        with Vertical(id="tools-box", classes="dialog"):
            yield Static("Tools for this chat  (Ctrl+S applies, Esc cancels)", classes="dialog-title")
            with Horizontal(id="tools-switch-row"):
                yield Switch(self.tools_on, id="tools-on")
                yield Label("Tools on: the model may ask to call the tools ticked below (each call asks you first).")
            yield SelectionList[str](
                *[Selection(tool_label(t), t.name, self.selected is None or t.name in self.selected) for t in self.tools],
                id="tools-list")
            yield Static("", id="tools-detail", markup=False)
            yield Static("Space ticks a tool; Tab moves between the switch and the list.", classes="hint")
            yield Static("", id="tools-error", markup=False)
            with Horizontal(classes="buttons"):
                yield Button("Apply (Ctrl+S)", variant="primary", id="apply")
                yield Button("Cancel (Esc)", id="cancel")

    def on_mount(self) -> None:
        self.query_one(Switch).focus()

    def on_selection_list_selection_highlighted(self, event: SelectionList.SelectionHighlighted[str]) -> None:
        """The highlighted tool's whole description (the list shows the start of it)."""
        tool = next((t for t in self.tools if t.name == event.selection.value), None)
        if tool is not None:
            self.query_one("#tools-detail", Static).update(f"{tool.name}: {tool.description or '(no description)'}")

    def choice(self) -> ToolChoice:
        ticked = set(self.query_one("#tools-list", SelectionList).selected)
        names = [t.name for t in self.tools if t.name in ticked]
        return ToolChoice(self.query_one(Switch).value, None if len(names) == len(self.tools) else names)

    def action_apply(self) -> None:
        choice = self.choice()
        if choice.on and choice.names == []:
            self.query_one("#tools-error", Static).update("Tick at least one tool, or turn tools off.")
            return
        self.dismiss(choice)

    def action_cancel(self) -> None:
        self.dismiss(None)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "apply":
            self.action_apply()
        else:
            self.dismiss(None)
