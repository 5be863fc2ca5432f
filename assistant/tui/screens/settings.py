"""Conversation settings: the system prompt and sampling. The app checks the values (through the
session's own parser) before the dialog closes, so a bad value is named and nothing is half-set."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static, TextArea

FIELDS: tuple[tuple[str, str, str], ...] = (
    ("temperature", "Temperature", "0 is greedy"),
    ("top_p", "Top p", "0-1"),
    ("top_k", "Top k", "0 disables"),
    ("min_p", "Min p", "0-1"),
    ("repeat_penalty", "Repeat penalty", "1 is off"),
    ("max_tokens", "Max tokens", "empty: until end of turn"),
    ("seed", "Seed", "empty: random"),
)

# values: {"system": str, name: str, ...}; returns an error sentence or None when applied
Apply = Callable[[dict[str, str]], "str | None"]


def field_text(value: Any) -> str:
    return "" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


class SettingsScreen(ModalScreen[bool]):
    BINDINGS = [Binding("escape", "cancel", "Cancel"), Binding("ctrl+s", "save", "Save", priority=True)]

    def __init__(self, system: str | None, params: Any, apply: Apply) -> None:
        super().__init__()
        self.system = system or ""
        self.params = params
        self.apply = apply

    def compose(self) -> ComposeResult:
        with Vertical(id="settings-box", classes="dialog"):
            yield Static("Conversation settings  (Ctrl+S saves, Esc cancels)", classes="dialog-title")
            yield Label("System prompt")
            yield TextArea(self.system, id="system", soft_wrap=True, compact=True)
            with Grid(id="settings-grid"):
                for name, label, hint in FIELDS:
                    yield Label(label)
                    yield Input(field_text(getattr(self.params, name, None)), id=name, placeholder=hint, compact=True)
            yield Static("", id="settings-error", markup=False)
            with Horizontal(classes="buttons"):
                yield Button("Save (Ctrl+S)", variant="primary", id="save")
                yield Button("Cancel (Esc)", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#temperature", Input).focus()

    def values(self) -> dict[str, str]:
        out = {"system": self.query_one("#system", TextArea).text}
        for name, _, _ in FIELDS:
            out[name] = self.query_one(f"#{name}", Input).value.strip()
        return out

    def action_save(self) -> None:
        error = self.apply(self.values())
        if error:
            self.query_one("#settings-error", Static).update(error)
        else:
            self.dismiss(True)

    def action_cancel(self) -> None:
        self.dismiss(False)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "save":
            self.action_save()
        else:
            self.dismiss(False)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.action_save()
