"""The status line: model, backend, context used / size as a bar, tokens/s, tools on, state."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

BAR_CELLS = 10


def context_bar(used: int, size: int, cells: int = BAR_CELLS) -> str:
    if size <= 0:
        return "░" * cells
    filled = min(cells, round(cells * used / size))
    return "█" * filled + "░" * (cells - filled)


class StatusLine(Widget):
    model: reactive[str] = reactive("")
    backend: reactive[str] = reactive("")
    context_used: reactive[int] = reactive(0)
    context_size: reactive[int] = reactive(0)
    tokens_per_second: reactive[float] = reactive(0.0)
    tools: reactive[int] = reactive(0)  # tools offered to the model (0: tools off)
    state: reactive[str] = reactive("idle")

    def render(self) -> Text:
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(f" {self.model or '…'}", style="bold")
        if self.backend:
            text.append(f" · {self.backend}")
        if self.context_size:
            text.append(" · ctx ")
            text.append(context_bar(self.context_used, self.context_size), style="bold")
            text.append(f" {self.context_used}/{self.context_size}")
        if self.tokens_per_second:
            text.append(f" · {self.tokens_per_second:.1f} tok/s")
        if self.tools:
            text.append(f" · tools: {self.tools}")
        style = "bold" if self.state != "idle" else "dim"
        text.append(f" · {self.state}", style=style)
        return text
