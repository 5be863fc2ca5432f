"""The scrolling list of messages. Anchored to the bottom while a reply streams, so it follows the
reply only while the person has not scrolled up to read back (Textual's ``anchor``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from textual.containers import VerticalScroll
from textual.geometry import Size
from textual.widgets import Static

from assistant.tui.widgets.message import MARKS, MessageView
from assistant.tui.widgets.message_body import OnePassLayout

WELCOME = (
    "Type a message and press Enter.  Shift+Enter or Ctrl+J: new line.  F1: keys.  "
    "Ctrl+P: command palette.  Ctrl+B: conversations."
)


def record_mark(record: Any) -> str:
    if getattr(record, "interrupted", False):
        return "interrupted"
    return MARKS.get(getattr(record, "finish_reason", None) or "", "")


class ChatLog(OnePassLayout, VerticalScroll):
    can_focus = False

    def _size_updated(self, size: Size, virtual_size: Size, container_size: Size, layout: bool = True) -> bool:
        changed = super()._size_updated(size, virtual_size, container_size, layout)
        # Anchored, the compositor scrolls to "bottom minus height", which is negative while the
        # messages are shorter than the view; Textual's second layout pass used to clamp it.
        valid = self.validate_scroll_y(self.scroll_y)
        if valid != self.scroll_y:
            self.scroll_y = valid
        return changed

    def on_mount(self) -> None:
        self.anchor()

    async def show(self, records: Sequence[Any], branches: dict[int, tuple[int, int]], model_label: str) -> None:
        """Replace everything with this thread; ``branches`` maps a message id to (index, total)."""
        await self.remove_children()
        views: list[Any] = []
        for record in records:
            if record.role == "system":
                continue
            label = "You" if record.role == "user" else (record.model or model_label)
            views.append(MessageView(record.role, record.content, record=record, label=label,
                                     branch=branches.get(record.id, (1, 1)), mark=record_mark(record)))
        if not views:
            views.append(Static(WELCOME, id="welcome", markup=False))
        await self.mount_all(views)
        self.anchor()

    async def add(self, view: MessageView) -> MessageView:
        for welcome in self.query("#welcome"):
            await welcome.remove()
        await self.mount(view)
        return view

    async def add_notice(self, text: str) -> None:
        await self.mount(Static(text, classes="notice", markup=False))

    def messages(self) -> list[MessageView]:
        return list(self.query(MessageView))
