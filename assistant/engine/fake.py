"""A scripted engine with the ChatEngine contract, for tests of everything above the engine."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assistant.engine.base import (
    Chunk,
    FinishReason,
    GenerationParams,
    LoadOptions,
    Message,
    ModelInfo,
    Stats,
)
from models.errors import AssistantError


@dataclass
class ScriptedReply:
    text: str
    finish_reason: FinishReason = "eot"
    error: str | None = None  # raise AssistantError(error) instead of replying


class FakeEngine:
    """Replies come from a queue (or echo the last user message); ``delay`` paces each word."""

    def __init__(self, replies: Sequence[str | ScriptedReply] = (), *, delay: float = 0.0, n_ctx: int = 2048,
                 name: str = "fake-model", load_error: str | None = None) -> None:
        self.replies: deque[ScriptedReply] = deque(
            r if isinstance(r, ScriptedReply) else ScriptedReply(r) for r in replies
        )
        self.delay = delay
        self.n_ctx = n_ctx
        self.name = name
        self.load_error = load_error
        self.info: ModelInfo | None = None
        self.calls: list[tuple[list[Message], GenerationParams]] = []
        self._cancel = threading.Event()
        self.tool_format_name = "hermes"

    def queue(self, *replies: str | ScriptedReply) -> None:
        self.replies.extend(r if isinstance(r, ScriptedReply) else ScriptedReply(r) for r in replies)

    def load(self, model: str | None, options: LoadOptions | None = None) -> ModelInfo:
        if self.load_error:
            raise AssistantError(self.load_error)
        options = options or LoadOptions()
        self.info = ModelInfo(
            name=model or self.name, path=Path("/dev/null"), arch="fake", n_params=0, quant="none",
            context_length=options.n_ctx or self.n_ctx, trained_context=self.n_ctx, backend="CPU",
            template_origin="gguf", eot_tokens=["<|im_end|>"],
        )
        return self.info

    def tool_format(self) -> Any:
        """Replies that call tools are scripted in the Hermes format (``<tool_call>{json}</tool_call>``)."""
        from assistant.tools.formats import format_by_name

        return format_by_name(self.tool_format_name)

    def count_tokens(self, messages: Sequence[Message]) -> int:
        return sum(len(m.content.split()) + 4 for m in messages)

    def cancel(self) -> None:
        self._cancel.set()

    def close(self) -> None:
        self.info = None

    def stream(self, messages: Sequence[Message], params: GenerationParams | None = None) -> Iterator[Chunk]:
        params = params or GenerationParams()
        self.calls.append((list(messages), params))
        self._cancel.clear()
        if self.replies:
            reply = self.replies.popleft()
        else:
            last_user = next((m.content for m in reversed(messages) if m.role == "user"), "")
            reply = ScriptedReply(f"You said: {last_user}")
        if reply.error:
            raise AssistantError(reply.error)
        start = time.perf_counter()
        words = reply.text.split(" ")
        if params.max_tokens is not None and len(words) > params.max_tokens:
            words, finish = words[: params.max_tokens], "length"
        else:
            finish = reply.finish_reason
        first = 0.0
        n = 0
        for i, word in enumerate(words):
            if self._cancel.is_set():
                finish = "cancelled"
                break
            if self.delay:
                time.sleep(self.delay)
            if i == 0:
                first = time.perf_counter() - start
            n += 1
            yield Chunk(word if i == 0 else " " + word)
        elapsed = time.perf_counter() - start
        prompt = self.count_tokens(messages)
        stats = Stats(
            prompt_tokens=prompt, prompt_evaluated=prompt, completion_tokens=n,
            tokens_per_second=n / elapsed if elapsed > 0 else 0.0, time_to_first_token=first,
            total_seconds=elapsed, n_ctx=self.n_ctx, context_used=prompt + n,
        )
        yield Chunk("", finish_reason=finish, stats=stats)  # type: ignore[arg-type]
