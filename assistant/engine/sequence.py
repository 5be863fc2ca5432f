"""One request of the scheduler (scheduler.py): what it asked for, what it has produced, and the
iterator its caller reads.

A ``Request`` outlives the sequence it runs on: it owns its sampler chain (grammar, penalties, seed
state), its UTF-8 decoder and stop matcher, and the tokens sampled so far, so the scheduler can take
its sequence away (KV cache full) and later evaluate ``prompt + sampled`` again on any free one.
Only the scheduler's thread touches the llama.cpp side of a request; the caller's thread reads
``RequestStream`` and may set ``cancelled``.
"""

from __future__ import annotations

import codecs
import itertools
import queue
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from assistant.engine.base import Chunk, FinishReason, GenerationParams, Stats
from assistant.engine.stops import StopMatcher

_ids = itertools.count(1)
OnFinish = Callable[[list[int], FinishReason], None]  # the sampled ids and why the reply ended


@dataclass(eq=False)
class Request:
    prompt: list[int]
    params: GenerationParams
    stops: list[str]
    limit: int  # at most this many tokens (max_tokens, or what the sequence's share leaves)
    n_ctx: int  # the sequence's share, reported in Stats
    start: float = field(default_factory=time.perf_counter)
    dropped: int = 0  # turns fit_to_context left out
    on_finish: OnFinish | None = None
    id: int = field(default_factory=lambda: next(_ids))
    cancelled: bool = False  # set from any thread; read by the scheduler at its next step
    # -- the scheduler thread's state --
    sampler: Any = None  # the llama.cpp chain, made at first admission, freed at the end
    sampled: list[int] = field(default_factory=list)  # every token sampled (the last is not in the KV yet)
    evaluated: int = 0  # prompt tokens evaluated (the rest came from a sequence's cache)
    first_at: float = 0.0
    threads: int = 0
    done: bool = False

    def __post_init__(self) -> None:
        self.out: queue.SimpleQueue[Chunk | BaseException] = queue.SimpleQueue()
        self.stop = StopMatcher(self.stops)
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def context(self) -> list[int]:
        """The tokens the sequence must hold before the next sample: the prompt and every sampled token."""
        return self.prompt + self.sampled if self.sampled else self.prompt

    def todo(self, cached: int) -> list[int]:
        """What a sequence holding the first ``cached`` tokens of ``context()`` must still evaluate."""
        n = len(self.prompt)
        return self.sampled[cached - n:] if cached >= n else self.prompt[cached:] + self.sampled

    def accept(self, token: int, piece: bytes, eog: set[int]) -> FinishReason | None:
        """A sampled token: emit its text; the finish reason when the reply ends with it."""
        if not self.sampled and not self.first_at:
            self.first_at = time.perf_counter()
        if token in eog and not self.params.ignore_eos:
            return "eot"
        self.sampled.append(token)
        emit, hit = self.stop.feed(self.decoder.decode(piece))
        if emit:
            self.out.put(Chunk(emit))
        if hit:
            return "stop"
        if len(self.sampled) >= self.limit:
            return "length"
        return None

    def finish(self, reason: FinishReason, context_used: int) -> None:
        """The last chunk (held text, finish_reason, Stats); the caller's iterator ends after it."""
        if self.done:
            return
        self.done = True
        if reason != "stop":
            tail = self.stop.flush() + self.decoder.decode(b"", final=True)
            if tail:
                self.out.put(Chunk(tail))
        end = time.perf_counter()
        n = len(self.sampled)
        decode_time = end - self.first_at if self.first_at else 0.0
        stats = Stats(
            prompt_tokens=len(self.prompt),
            prompt_evaluated=self.evaluated,
            completion_tokens=n,
            tokens_per_second=(n - 1) / decode_time if n > 1 and decode_time > 0 else 0.0,
            time_to_first_token=(self.first_at - self.start) if self.first_at else 0.0,
            total_seconds=end - self.start,
            dropped_turns=self.dropped,
            n_ctx=self.n_ctx,
            context_used=context_used,
            threads=self.threads,
        )
        self.out.put(Chunk("", finish_reason=reason, stats=stats))
        if self.on_finish is not None and self.sampled and reason != "stop":  # a stopped reply was cut: other ids
            self.on_finish(list(self.sampled), reason)

    def fail(self, exc: BaseException) -> None:
        """End the request with an error its caller's iterator raises."""
        if not self.done:
            self.done = True
            self.out.put(exc)


class RequestStream(Iterator[Chunk]):
    """The caller's side of a request: text chunks, then one with ``finish_reason`` and ``Stats``
    (ChatEngine.stream's contract); an error that ended the request is raised from ``next``.

    ``cancel()`` (from any thread) ends this request alone: its stream finishes with "cancelled" at
    the scheduler's next step, or at once while it still waits for a sequence. ``close()`` cancels too.
    """

    def __init__(self, request: Request, cancel: Callable[[Request], None]) -> None:
        self._request = request
        self._cancel = cancel
        self._ended = False

    @property
    def request_id(self) -> int:
        return self._request.id

    def __iter__(self) -> RequestStream:
        return self

    def __next__(self) -> Chunk:
        if self._ended:
            raise StopIteration
        item = self._request.out.get()
        if isinstance(item, BaseException):
            self._ended = True
            raise item
        if item.finish_reason is not None:
            self._ended = True
        return item

    def cancel(self) -> None:
        if not self._request.done:
            self._cancel(self._request)

    def close(self) -> None:
        """Stop reading: a request still running is cancelled, so its sequence frees at the next step."""
        if not self._ended:
            self.cancel()
        self._ended = True

    def __del__(self) -> None:  # an abandoned stream frees its sequence (a flag: no lock in a finalizer)
        if not self._ended:
            self._request.cancelled = True
