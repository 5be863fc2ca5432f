"""Helpers for the chat app's tests: the app on the FakeEngine, and waiting on it."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from assistant.engine.base import ChatEngine, GenerationParams
from assistant.engine.fake import FakeEngine, ScriptedReply
from assistant.history.store import History
from assistant.tui.app import ChatApp
from assistant.tui.app_actions import ModelChoice

MODELS = [ModelChoice("fake-model", "bundled · the scripted test engine"), ModelChoice("other-model", "store · another")]


class Engines:
    """The app's engine factory: one FakeEngine per load, each with the replies queued so far."""

    def __init__(self, replies: Sequence[str | ScriptedReply] = (), *, delay: float = 0.0, load_error: str | None = None,
                 engine_class: type[FakeEngine] = FakeEngine) -> None:
        self.replies = list(replies)
        self.delay = delay
        self.load_error = load_error
        self.engine_class = engine_class
        self.loaded: list[FakeEngine] = []
        self.names: list[str | None] = []

    def __call__(self, name: str | None) -> ChatEngine:
        self.names.append(name)
        engine = self.engine_class(self.replies, delay=self.delay, load_error=self.load_error,
                                   name=name or "fake-model")
        self.replies = []
        engine.load(name or "fake-model")
        self.loaded.append(engine)
        return engine

    @property
    def engine(self) -> FakeEngine:
        return self.loaded[-1]


@pytest.fixture
def history() -> Any:
    h = History()
    yield h
    h.close()


@pytest.fixture
def make_app(history: History) -> Callable[..., ChatApp]:
    def make(engines: Engines | None = None, **kw: Any) -> ChatApp:
        engines = engines or Engines()
        kw.setdefault("list_models", lambda: list(MODELS))
        return ChatApp(history=history, engine_factory=engines, model=kw.pop("model", "fake-model"),
                       params=kw.pop("params", GenerationParams()), **kw)

    return make


async def wait_for(pilot: Any, predicate: Callable[[], Any], timeout: float = 10.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or predicate}")
        await pilot.pause(0.02)


async def ready(pilot: Any) -> None:
    """The model is loaded (the app loads it after its first paint)."""
    await wait_for(pilot, lambda: pilot.app.host.inner is not None and pilot.app.status.backend, what="model load")


async def idle(pilot: Any) -> None:
    await wait_for(pilot, lambda: pilot.app.job is None, what="the reply to finish")
    await pilot.pause()


async def send(pilot: Any, text: str) -> None:
    prompt = pilot.app.query_one("#prompt")
    prompt.focus()
    prompt.load_text(text)
    await pilot.press("enter")
    await pilot.pause()


def notes(app: ChatApp) -> list[str]:
    return [n.message for n in app._notifications]
