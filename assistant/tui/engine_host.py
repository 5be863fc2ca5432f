"""The app's engine: a ChatEngine that forwards to the loaded model, so the session can exist (and
show history) while the model loads in a worker, and a model switch swaps what it forwards to."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from assistant.engine.base import ChatEngine, Chunk, GenerationParams, LoadOptions, Message, ModelInfo
from models.errors import AssistantError

# Makes a loaded engine for a model name (None: the default model). Runs in a worker thread.
EngineFactory = Callable[[str | None], ChatEngine]


class EngineHost:
    def __init__(self, factory: EngineFactory) -> None:
        self.factory = factory
        self.inner: ChatEngine | None = None
        self.error: str | None = None
        self.loading: str | None = None  # the model name being loaded
        self._ready = threading.Event()
        self._restore: str | None = None  # a conversation whose saved state goes back in before its next reply

    @property
    def info(self) -> ModelInfo | None:
        return self.inner.info if self.inner else None

    @info.setter
    def info(self, value: ModelInfo | None) -> None:
        if self.inner is not None:
            self.inner.info = value

    def load(self, model: str | None, options: LoadOptions | None = None) -> ModelInfo:
        """Blocking: call from a worker. The previous model keeps serving until the new one is in."""
        self.loading = model or "default model"
        self._ready.clear()
        try:
            engine = self.factory(model)
        except AssistantError as exc:
            self.error = str(exc)
            raise
        finally:
            self.loading = None
            self._ready.set()
        old, self.inner, self.error = self.inner, engine, None
        if old is not None and old is not engine:
            old.close()
        assert engine.info is not None
        return engine.info

    def wait_ready(self, timeout: float | None = None) -> ChatEngine:
        """Blocking: the loaded engine, once any load in progress is done."""
        self._ready.wait(timeout)
        if self.inner is None:
            raise AssistantError(self.error or "No model is loaded; pick one with Ctrl+O.")
        return self.inner

    def _engine(self) -> ChatEngine:
        if self.inner is None:
            raise AssistantError(self.error or "The model is still loading; send again in a moment.")
        return self.inner

    def stream(self, messages: Sequence[Message], params: GenerationParams | None = None) -> Iterator[Chunk]:
        engine = self.wait_ready()
        key, self._restore = self._restore, None
        restore = getattr(engine, "restore_state", None)
        if key is not None and restore is not None:  # the conversation opened before the model loaded
            restore(key)
        return engine.stream(messages, params)

    def restore_state(self, key: str) -> bool:
        """Reopening a conversation: its saved KV state is put back before its next reply (in the
        reply's worker, once the model is loaded; the UI never waits for it)."""
        self._restore = key
        return False

    def save_state(self, key: str) -> None:
        save = getattr(self.inner, "save_state", None)
        if save is not None:
            save(key)

    def tool_format(self) -> Any:
        """How the loaded model writes tool calls (a turn with tools asks, in the reply's worker)."""
        engine = self.wait_ready()
        tool_format = getattr(engine, "tool_format", None)
        if tool_format is None:
            raise AssistantError("This model cannot call tools here; turn tools off with F7.")
        return tool_format()

    def count_tokens(self, messages: Sequence[Message]) -> int:
        return self._engine().count_tokens(messages)

    def cancel(self) -> None:
        if self.inner is not None:
            self.inner.cancel()

    def close(self) -> None:
        if self.inner is not None:
            self.inner.close()
        self.inner = None
