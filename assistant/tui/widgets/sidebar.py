"""The conversation list: titles and dates, a full-text search box, rename and delete keys."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Input, OptionList
from textual.widgets.option_list import Option

TITLE_CELLS = 26  # the list is 30 columns wide


def one_line(text: str, cells: int = TITLE_CELLS) -> str:
    line = " ".join(text.split())
    return line if len(line) <= cells else line[: cells - 1].rstrip() + "…"


def format_date(ts: float, now: float | None = None) -> str:
    """Local time: 'HH:MM' today, 'Mon DD' this year, else 'YYYY-MM-DD'."""
    now = time.time() if now is None else now
    t, n = time.localtime(ts), time.localtime(now)
    if t[:3] == n[:3]:
        return time.strftime("%H:%M", t)
    if t.tm_year == n.tm_year:
        return time.strftime("%b %d", t)
    return time.strftime("%Y-%m-%d", t)


class ConversationList(OptionList):
    BINDINGS = [
        Binding("r,f6", "app.rename", "Rename", show=False),
        Binding("delete,d", "app.delete_conversation", "Delete", show=False),
    ]


class Sidebar(Vertical):
    class Open(Message):
        def __init__(self, conversation_id: int, message_id: int | None = None) -> None:
            super().__init__()
            self.conversation_id = conversation_id
            self.message_id = message_id

    class SearchChanged(Message):
        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.now: float | None = None  # frozen in snapshot tests
        self._hits: dict[str, tuple[int, int | None]] = {}

    def compose(self) -> ComposeResult:
        yield Input(placeholder="Search all chats", id="search", compact=True)
        yield ConversationList(id="conversations")

    @property
    def options(self) -> ConversationList:
        return self.query_one(ConversationList)

    @property
    def search_box(self) -> Input:
        return self.query_one("#search", Input)

    def show_conversations(self, conversations: Sequence[Any], current: int | None) -> None:
        options = []
        self._hits = {}
        for conv in conversations:
            key = f"c{conv.id}"
            self._hits[key] = (conv.id, None)
            title = Text(one_line(conv.title or "New chat"))
            title.append("\n")
            title.append(format_date(conv.updated, self.now), style="dim")
            options.append(Option(title, id=key))
        self._replace(options, f"c{current}" if current is not None else None)

    def show_hits(self, hits: Sequence[Any]) -> None:
        options = []
        self._hits = {}
        for i, hit in enumerate(hits):
            key = f"h{i}"
            self._hits[key] = (hit.conversation_id, hit.message_id)
            text = Text(one_line(hit.title or "New chat"), style="bold")
            text.append("\n")
            text.append(one_line(hit.snippet, 3 * TITLE_CELLS), style="dim")
            options.append(Option(text, id=key))
        if not options:
            options.append(Option(Text("No matches", style="dim"), id="none", disabled=True))
        self._replace(options, None)

    def _replace(self, options: list[Option], highlight: str | None) -> None:
        olist = self.options
        olist.clear_options()
        olist.add_options(options)
        if highlight is not None and highlight in self._hits:
            olist.highlighted = olist.get_option_index(highlight)
        elif options and not options[0].disabled:
            olist.highlighted = 0

    def highlighted_conversation(self) -> int | None:
        olist = self.options
        if olist.highlighted is None:
            return None
        option = olist.get_option_at_index(olist.highlighted)
        target = self._hits.get(option.id or "")
        return target[0] if target else None

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.post_message(self.SearchChanged(event.value))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.options.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        target = self._hits.get(event.option.id or "")
        if target:
            self.post_message(self.Open(*target))
