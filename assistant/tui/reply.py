"""A reply being generated: the worker thread pushes text into a ``ReplyJob``; the UI takes it at
most every ``interval`` seconds, so the engine never waits for the screen and the screen never
falls behind (pieces that arrive between two paints are written together).

The interval adapts: painting a growing Markdown reply (the write, then Textual's layout and
compositor) costs the UI thread CPU time that llama.cpp's threads would otherwise use, and they
use every core. So the UI thread's own CPU time is measured between paints and the paints are
spaced to keep its share of the time near ``UI_SHARE`` (between ``MIN_INTERVAL`` and
``MAX_INTERVAL``)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from textual.message import Message
from textual.timer import Timer

from assistant.engine.base import Chunk
from assistant.tui.widgets.message import MessageView

MIN_INTERVAL = 0.05  # seconds between two paints of a streaming reply: at most 20 a second
MAX_INTERVAL = 0.25  # and at least 4 a second
UI_SHARE = 0.04  # the share of the time the UI thread may be busy while a reply streams


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
    _ui_sample: tuple[float, float] | None = None  # (UI thread CPU time, wall time) at the last paint
    _lock: threading.Lock = field(default_factory=threading.Lock)
    rate_timer: Timer | None = None  # updates the status line's tokens/s while the reply streams

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

    def painted(self) -> None:
        """UI side, at each paint: adapt the interval to the UI thread's CPU share since the last one."""
        sample = (time.thread_time(), time.perf_counter())
        with self._lock:
            if self._ui_sample is not None:
                busy, wall = sample[0] - self._ui_sample[0], sample[1] - self._ui_sample[1]
                if wall > 0:
                    wanted = self.interval * (busy / wall) / UI_SHARE
                    # halfway (geometrically) towards the wanted interval: steady, without oscillating
                    self.interval = min(MAX_INTERVAL, max(MIN_INTERVAL, (self.interval * max(wanted, 1e-3)) ** 0.5))
            self._ui_sample = sample

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
