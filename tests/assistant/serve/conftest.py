"""The real server (uvicorn on a free loopback port, in a thread of the test process) over a scripted
engine: replies from a queue, a word per token, a pace the test sets."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import pytest

from assistant.engine.base import Chunk, GenerationParams, LoadOptions, Message
from assistant.engine.fake import FakeEngine
from assistant.serve.run import BackgroundServer
from assistant.serve.state import ServeConfig, ServeState
from assistant.serve.worker import EngineWorker

MODEL = "smollm2-135m-instruct"


class ScriptEngine(FakeEngine):
    """FakeEngine plus what the server asks of an engine beyond chat; records how each reply ended."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.finishes: list[Chunk] = []
        self.loads: list[str] = []
        self.closes = 0

    def load(self, model: str | None, options: LoadOptions | None = None) -> Any:
        self.loads.append(str(model))
        return super().load(model, options)

    def close(self) -> None:
        self.closes += 1
        super().close()

    def stream(self, messages: Sequence[Message], params: GenerationParams | None = None) -> Iterator[Chunk]:
        for chunk in super().stream(messages, params):
            if chunk.finish_reason is not None:
                self.finishes.append(chunk)
            yield chunk

    def complete(self, prompt: str, params: GenerationParams | None = None) -> Iterator[Chunk]:
        return self.stream([Message("user", prompt)], params)

    def tool_format(self) -> Any:
        """The model's call format (Hermes: ``<tool_call>{json}</tool_call>``), as LlamaEngine's gives it."""
        from assistant.tools.formats import FORMATS

        return FORMATS["hermes"]

    def count_text(self, prompt: str) -> int:
        return len(prompt.split())  # a raw prompt: no template

    def embed(self, texts: list[str]) -> tuple[list[list[float]], int]:
        vectors = []
        for t in texts:
            v = [float(len(t)), float(sum(map(ord, t)) % 97), 1.0]
            norm = math.sqrt(sum(x * x for x in v))
            vectors.append([x / norm for x in v])
        return vectors, sum(len(t.split()) for t in texts)


@contextmanager
def serving(engine: Any, *, keep_alive: float = 300.0, max_queue: int = 16, on_reply: Any = None,
            **config: Any) -> Iterator[tuple[str, ServeState]]:
    worker = EngineWorker(engine, LoadOptions(), keep_alive=keep_alive, max_queue=max_queue,
                          loader=lambda e, m, o: e.load(m.name, o), on_reply=on_reply)
    state = ServeState(worker, ServeConfig(quiet=True, **config))
    with BackgroundServer(state) as url:
        yield url, state


@pytest.fixture
def engine() -> ScriptEngine:
    return ScriptEngine()


@pytest.fixture
def server(engine: ScriptEngine) -> Iterator[str]:
    with serving(engine) as (url, _):
        yield url


def wait_for(check: Callable[[], Any], what: str, limit: float = 30.0) -> Any:
    """Poll until ``check()`` is truthy (no timing assert: the limit only keeps a broken test from hanging)."""
    end = time.monotonic() + limit
    while time.monotonic() < end:
        value = check()
        if value:
            return value
        time.sleep(0.01)
    raise AssertionError(f"gave up waiting for {what}")
