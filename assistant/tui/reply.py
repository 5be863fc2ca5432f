"""A reply being generated: the worker thread pushes text into a ``ReplyJob``; the UI takes it at
most every ``interval`` seconds, so the engine never waits for the screen and the screen never
falls behind (pieces that arrive between two paints are written together).

The interval adapts: painting a growing Markdown reply costs the UI thread time (and the GIL) that
the engine's thread would otherwise use, so paints are spaced to keep the UI's share of the time
near ``UI_SHARE`` (between ``MIN_INTERVAL`` and ``MAX_INTERVAL``)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from textual.message import Message

from assistant.engine.base import Chunk
from assistant.tui.widgets.message import MessageView

MIN_INTERVAL = 0.05  # seconds between two paints of a streaming reply: at most 20 a second
MAX_INTERVAL = 0.5  # and at least 2 a second
UI_SHARE = 0.05  # the share of the time the UI may spend painting the reply


@dataclass
class ReplyJob:
    view: MessageView
    kind: str  # "send", "retry" or "edit"
    prompt: str = ""  # what goes back into the input if the reply fails
    user_id: int | None = None  # a prompt saved for this reply (undone if nothing came back)
    started: float = field(default_factory=time.perf_counter)
    first_text_at: float = 0.0
    last_paint_at: float = 0.0
    pieces: int = 0
    final: Chunk | None = None
    error: str | None = None
    cancelled: bool = False
    done: threading.Event = field(default_factory=threading.Event)
    _pending: list[str] = field(default_factory=list)
    _parts: list[str] = field(default_factory=list)
    _posted: bool = False
    interval: float = MIN_INTERVAL
    _last_post: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def push(self, text: str) -> bool:
        """Worker side. True when the UI should be told to take the text now."""
        with self._lock:
            now = time.perf_counter()
            if not self.pieces:
                self.first_text_at = now
            self.pieces += 1
            self._pending.append(text)
            self._parts.append(text)
            if not self._posted and now - self._last_post >= self.interval:
                self._posted = True
                self._last_post = now
                return True
        return False

    def take(self) -> str:
        """UI side: everything not painted yet."""
        with self._lock:
            text = "".join(self._pending)
            self._pending.clear()
            self._posted = False
            return text

    def painted(self, cost: float) -> None:
        """UI side: one paint of the reply took ``cost`` seconds (write + refresh)."""
        with self._lock:
            self.interval = min(MAX_INTERVAL, max(MIN_INTERVAL, cost / UI_SHARE))

    @property
    def text(self) -> str:
        with self._lock:
            return "".join(self._parts)


class ReplyText(Message):
    def __init__(self, job: ReplyJob) -> None:
        super().__init__()
        self.job = job


class ReplyDone(Message):
    def __init__(self, job: ReplyJob) -> None:
        super().__init__()
        self.job = job
