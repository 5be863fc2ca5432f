"""A message's Markdown body, made cheap to stream into.

Each paint of a streaming reply costs the UI thread CPU time that llama.cpp's threads would
otherwise use, so two costs of Textual's ``Markdown`` that grow with the reply are avoided here:

- Order-dependent CSS (``:last-child`` and the like) makes Textual restyle every block of the body
  whenever one is mounted: O(blocks) per paint. The last block is tagged with the class
  ``last-block`` instead, which the app's CSS uses to drop its bottom margin; while a reply
  streams into the body (``Markdown.get_stream()``) not even that: its final full update tags it.
- When a widget's size changes in a layout pass, Textual sets its ``virtual_size`` reactive,
  which asks for a second full layout pass of the screen, though the first one already placed
  everything. ``OnePassLayout`` records the new size without that request, as Textual itself does
  when only scrolling; scrollbars still update (and re-lay out when they appear or vanish).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from textual.geometry import Size
from textual.widget import AwaitMount, Widget
from textual.widgets import Markdown
from textual.widgets._markdown import MarkdownStream
from textual.widgets.markdown import MarkdownBlock

LAST_BLOCK = "last-block"


# A mixin, not a Widget subclass: Textual takes inherited DEFAULT_CSS from the first DOMNode base only.
if TYPE_CHECKING:
    _MixinBase = Widget
else:
    _MixinBase = object


class OnePassLayout(_MixinBase):
    """Mixed into a widget (first among its bases): its size changes never ask for a second layout pass."""

    def _size_updated(self, size: Size, virtual_size: Size, container_size: Size, layout: bool = True) -> bool:
        return super()._size_updated(size, virtual_size, container_size, layout=False)


_one_pass_blocks: dict[type[MarkdownBlock], type[MarkdownBlock]] = {}


def one_pass(block_class: type[MarkdownBlock]) -> type[MarkdownBlock]:
    """``block_class`` with ``OnePassLayout``, under the same name so that its CSS still applies."""
    if block_class not in _one_pass_blocks:
        _one_pass_blocks[block_class] = type(block_class.__name__, (OnePassLayout, block_class), {})
    return _one_pass_blocks[block_class]


class MessageBody(OnePassLayout, Markdown):
    def __init__(self, markdown: str | None = None, **kwargs: Any) -> None:
        super().__init__(markdown, **kwargs)
        self._last_block: MarkdownBlock | None = None
        self._stream: MarkdownStream | None = None

    # -- streaming ------------------------------------------------------------------------------
    def begin_stream(self) -> None:
        self._stream = Markdown.get_stream(self)

    async def write(self, text: str) -> None:
        if self._stream is not None:
            await self._stream.write(text)

    async def end_stream(self, markdown: str) -> None:
        """Stop the stream, then one full update (Textual's streamed fences can be left unclosed)."""
        if self._stream is not None:
            await self._stream.stop()
            self._stream = None
        await self.update(markdown)

    @property
    def streaming(self) -> bool:
        return self._stream is not None

    def get_block_class(self, block_name: str) -> type[MarkdownBlock]:
        return one_pass(super().get_block_class(block_name))

    def mount_all(self, widgets: Iterable[Widget], *, before: int | str | Widget | None = None,
                  after: int | str | Widget | None = None) -> AwaitMount:
        mounted = super().mount_all(widgets, before=before, after=after)
        if not self.streaming:
            self._tag_last_block()
        return mounted

    def _tag_last_block(self) -> None:
        last = next((c for c in reversed(self.children) if isinstance(c, MarkdownBlock)), None)
        if last is self._last_block:
            return
        if self._last_block is not None:
            self._last_block.remove_class(LAST_BLOCK)
        if last is not None:
            last.add_class(LAST_BLOCK)
        self._last_block = last
