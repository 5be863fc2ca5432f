"""A reply being generated: the worker thread pushes text into a ``ReplyJob``; the UI takes it at
most every ``pacer.interval`` seconds, so the engine never waits for the screen and the screen never
falls behind (pieces that arrive between two paints are written together).

The interval adapts (``PaintPacer``): painting a growing Markdown reply (the write, then Textual's
layout and compositor) costs the UI thread 5-20 ms, CPU time that llama.cpp's threads would
otherwise use, and they use every core: on a 2-core machine each 1% of the time the UI thread is
busy costs the engine 1-2% of its tokens/s. So the UI thread's own CPU time is measured between
paints and the paints are spaced to keep its share of the time near ``UI_SHARE``: a fast machine
paints up to 20 times a second, a slow one (or a long conversation, where each layout costs more)
down to once a second. Each reply starts at ``FIRST_INTERVAL``: a short one stays lively. Where
llama.cpp leaves a physical core free (fewer ``--threads`` than cores, or a GPU doing the work),
painting does not slow it and the share is ``SPARE_CORE_SHARE``."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from textual.message import Message
from textual.timer import Timer

from assistant.engine.base import Chunk, ModelInfo
from assistant.tui.widgets.message import MessageView

MIN_INTERVAL = 0.05  # seconds between two paints of a streaming reply: at most 20 a second
MAX_INTERVAL = 1.0  # and at least 1 a second
FIRST_INTERVAL = 0.25  # before anything is measured
UI_SHARE = 0.025  # the share of the time the UI thread may be busy while a reply streams
SPARE_CORE_SHARE = 0.15  # the same where llama.cpp leaves a physical core free (``--threads``, a GPU)


def ui_share(info: ModelInfo | None) -> float:
    """Tight where llama.cpp's threads take every core (a thread parked for the UI stalls them all),
    loose where a whole core is left free for the UI."""
    return SPARE_CORE_SHARE if info is not None and info.spare_cores >= 1 else UI_SHARE


@dataclass
class PaintPacer:
    """Spaces paints so that the UI thread's CPU time stays near ``share`` of the wall time."""

    interval: float = FIRST_INTERVAL
    share: float = UI_SHARE
    _last: tuple[float, float] | None = None  # (UI thread CPU time, wall time) at the last paint

    def painted(self, cpu: float, wall: float) -> float:
        """At each paint, with the UI thread's CPU clock and the wall clock: the next interval."""
        if self._last is not None:
            busy, elapsed = cpu - self._last[0], wall - self._last[1]
            if elapsed > 0:
                wanted = max(self.interval * (busy / elapsed) / self.share, 1e-3)
                # halfway (geometrically) towards the wanted interval: steady, without oscillating
                self.interval = min(MAX_INTERVAL, max(MIN_INTERVAL, (self.interval * wanted) ** 0.5))
        self._last = (cpu, wall)
        return self.interval


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
    _pending: list[Any] = field(default_factory=list)  # text, and a turn's tool events in their place
    _parts: list[str] = field(default_factory=list)
    _posted: bool = False
    pacer: PaintPacer = field(default_factory=PaintPacer)
    _last_post: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    rate_timer: Timer | None = None  # updates the status line's tokens/s while the reply streams
    cards: dict[str, Any] = field(default_factory=dict)  # call id -> its ToolCard, in a turn with tools
    after_calls: bool = False  # calls ran: what comes next is the model's next reply (a view of its own)

    def push(self, text: str) -> bool:
        """Worker side. True when the UI should be told to take the text now."""
        with self._lock:
            now = time.perf_counter()
            if not self.pieces:
                self.first_text_at = now
            self.pieces += 1
            self._pending.append(text)
            self._parts.append(text)
            if not self._posted and now - self._last_post >= self.pacer.interval:
                self._posted = True
                self._last_post = now
                return True
        return False

    def push_event(self, event: Any) -> None:
        """Worker side: a tool call shown or done, after the text pushed so far (the UI is told at once)."""
        with self._lock:
            self._pending.append(event)

    def take(self) -> list[Any]:
        """UI side: everything not painted yet, in order: text (adjacent pieces joined) and events."""
        with self._lock:
            items: list[Any] = []
            for item in self._pending:
                if isinstance(item, str) and items and isinstance(items[-1], str):
                    items[-1] += item
                else:
                    items.append(item)
            self._pending.clear()
            self._posted = False
            return items

    def painted(self, info: ModelInfo | None) -> None:
        """UI side, at each paint: the pacer measures the UI thread since the last one; ``info``
        is the model now generating (a switch of model changes how much the UI may take)."""
        with self._lock:
            self.pacer.share = ui_share(info)
            self.pacer.painted(time.thread_time(), time.perf_counter())

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
