"""One message of the conversation: a header (who, branch, marks) and its Markdown body, which a
reply streams into with ``Markdown.get_stream()`` and gets one full update at the end; below it, a
reply's tool calls as cards (widgets/tool_card.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widget import Widget
from textual.widgets import Static

from assistant.tui.widgets.message_body import MessageBody, OnePassLayout

MARKS = {
    "cancelled": "stopped",
    "length": "cut off (max tokens or context)",
    "stop": "",
    "eot": "",
}


def code_blocks(markdown: str) -> list[tuple[str, str]]:
    """(language, code) of every fenced or indented code block."""
    from markdown_it import MarkdownIt

    tokens = MarkdownIt("commonmark").parse(markdown)
    return [(t.info.strip().split(" ")[0] if t.info else "", t.content) for t in tokens if t.type in ("fence", "code_block")]


class MessageView(OnePassLayout, Vertical, can_focus=True):
    """``record`` is the saved message (None while a prompt is pending)."""

    BINDINGS = [
        Binding("c", "app.copy_message", "Copy", show=False),
        Binding("k", "app.copy_code", "Copy code", show=False),
        Binding("e,enter", "app.edit", "Edit", show=False),
        Binding("left_square_bracket,left", "app.branch(-1)", "Previous branch", show=False),
        Binding("right_square_bracket,right", "app.branch(1)", "Next branch", show=False),
        Binding("up", "move(-1)", "Previous message", show=False),
        Binding("down", "move(1)", "Next message", show=False),
        Binding("escape,tab", "app.focus_prompt", "Back to the input", show=False),
    ]

    def __init__(self, role: str, content: str, *, record: Any = None, label: str = "", branch: tuple[int, int] = (1, 1),
                 mark: str = "", cards: Sequence[Widget] = ()) -> None:
        super().__init__(classes=f"message {role}")
        self.cards = list(cards)
        self.role = role
        self.content = content
        self.record = record
        self.label = label or ("You" if role == "user" else role.capitalize())
        self.branch = branch
        self.mark = mark

    def compose(self) -> ComposeResult:
        yield Static(self.header_text(), classes="message-header", markup=False)
        yield MessageBody(self.content, classes="message-body")
        yield from self.cards

    async def add_card(self, card: Widget) -> None:
        """A tool call of this reply, below its text."""
        self.cards.append(card)
        await self.mount(card)

    def header_text(self) -> str:
        parts = [self.label]
        index, total = self.branch
        if total > 1:
            parts.append(f"‹ {index}/{total} ›")
        if self.mark:
            parts.append(f"[{self.mark}]")
        return "  ".join(parts)

    def set_header(self, *, label: str | None = None, branch: tuple[int, int] | None = None, mark: str | None = None) -> None:
        if label is not None:
            self.label = label
        if branch is not None:
            self.branch = branch
        if mark is not None:
            self.mark = mark
        self.query_one(".message-header", Static).update(self.header_text())

    @property
    def body(self) -> MessageBody:
        return self.query_one(".message-body", MessageBody)

    # -- streaming ------------------------------------------------------------------------------
    def begin_stream(self) -> None:
        self.body.begin_stream()

    async def write(self, text: str) -> None:
        self.content += text
        await self.body.write(text)

    async def finish(self, content: str | None = None) -> None:
        """The stream is over: the body gets one full update."""
        if content is not None:
            self.content = content
        await self.body.end_stream(self.content)

    @property
    def streaming(self) -> bool:
        return self.body.streaming

    def action_move(self, step: int) -> None:
        views = list(self.parent.query(MessageView)) if self.parent else []
        if self in views:
            index = views.index(self) + step
            if 0 <= index < len(views):
                views[index].focus()
                views[index].scroll_visible()
            elif step > 0:
                self.app.action_focus_prompt()  # type: ignore[attr-defined]
