"""The scrolling list of messages (a reply's tool calls as cards inside it). Anchored to the bottom while a reply streams, so it follows the
reply only while the person has not scrolled up to read back (Textual's ``anchor``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from textual.containers import VerticalScroll
from textual.geometry import Size
from textual.widget import Widget
from textual.widgets import Static

from assistant.tui.widgets.message import MARKS, MessageView
from assistant.tui.widgets.message_body import OnePassLayout
from assistant.tui.widgets.tool_card import ToolCard, card_from_history, orphan_card, saved_call

WELCOME = (
    "Type a message and press Enter.  Shift+Enter or Ctrl+J: new line.  F1: keys.  "
    "Ctrl+P: command palette.  Ctrl+B: conversations."
)


def record_mark(record: Any) -> str:
    if getattr(record, "interrupted", False):
        return "interrupted"
    return MARKS.get(getattr(record, "finish_reason", None) or "", "")


def call_cards(calls: Any, results: dict[str, Any], shown: set[str]) -> list[Widget]:
    """Cards for a saved reply's calls, each with its result from the ``tool`` messages after it."""
    if not isinstance(calls, list):
        return []
    cards: list[Widget] = []
    for entry in calls:
        call_id, _, _ = saved_call(entry)
        result = results.get(call_id) if call_id is not None else None
        if call_id is not None and result is not None:
            shown.add(call_id)
        cards.append(card_from_history(entry, result))
    return cards


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
        results = {r.tool_call_id: r for r in records if getattr(r, "role", None) == "tool" and r.tool_call_id}
        shown: set[str] = set()  # call ids whose result is in a card already
        views: list[Any] = []
        for record in records:
            if record.role == "system":
                continue
            if record.role == "tool":
                if record.tool_call_id not in shown:
                    views.append(orphan_card(record))
                continue
            cards = call_cards(getattr(record, "tool_calls", None), results, shown)
            label = "You" if record.role == "user" else (record.model or model_label)
            views.append(MessageView(record.role, record.content, record=record, label=label,
                                     branch=branches.get(record.id, (1, 1)), mark=record_mark(record), cards=cards))
        if not views:
            views.append(Static(WELCOME, id="welcome", markup=False))
        await self.mount_all(views)
        self.anchor()

    async def add(self, view: MessageView) -> MessageView:
        for welcome in self.query("#welcome"):
            await welcome.remove()
        await self.mount(view)
        return view

    async def add_card(self, card: ToolCard) -> None:
        """A card outside any reply (a call of a turn whose reply view is gone)."""
        await self.mount(card)

    async def add_notice(self, text: str) -> None:
        await self.mount(Static(text, classes="notice", markup=False))

    def messages(self) -> list[MessageView]:
        return list(self.query(MessageView))
