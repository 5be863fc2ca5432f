"""The input: a multi-line TextArea where Enter sends, Shift+Enter or Ctrl+J adds a line, and Up in
an empty input recalls the last prompt."""

from __future__ import annotations

from textual import events
from textual.message import Message
from textual.widgets import TextArea

NEWLINE_KEYS = ("shift+enter", "ctrl+j", "newline")


class PromptInput(TextArea):
    class Submitted(Message):
        def __init__(self, prompt: PromptInput, text: str) -> None:
            super().__init__()
            self.prompt = prompt
            self.text = text

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, soft_wrap=True, tab_behavior="focus", show_line_numbers=False, compact=True,
                         highlight_cursor_line=False, placeholder="Message (Enter sends, Shift+Enter or Ctrl+J: new line)")
        self.recall: list[str] = []

    def remember(self, text: str) -> None:
        if text.strip() and (not self.recall or self.recall[-1] != text):
            self.recall.append(text)

    def set_text(self, text: str) -> None:
        self.load_text(text)
        self.move_cursor(self.document.end)

    async def _on_key(self, event: events.Key) -> None:
        if self.read_only:
            return
        if event.key == "enter":
            event.stop()
            event.prevent_default()
            self.post_message(self.Submitted(self, self.text))
            return
        if event.key in NEWLINE_KEYS:
            event.stop()
            event.prevent_default()
            start, end = self.selection
            self._replace_via_keyboard("\n", start, end)
            return
        if event.key == "up" and not self.text and self.recall:
            event.stop()
            event.prevent_default()
            self.set_text(self.recall[-1])
            return
        # anything else: TextArea's own handler runs next (Textual dispatches along the MRO)
