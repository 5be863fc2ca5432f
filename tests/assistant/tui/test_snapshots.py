"""Snapshot tests (pytest-textual-snapshot, Textual pinned in pyproject) of the main screen, the help,
the settings and the model picker, with the clock, the dates and the reply stats frozen.
Update after a deliberate change: ``pytest tests/assistant/tui/test_snapshots.py --snapshot-update``."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from textual.widgets import Input, TextArea

from assistant.engine.base import Chunk, GenerationParams, Message
from assistant.engine.fake import FakeEngine
from tests.assistant.tui.conftest import Engines, idle, ready, send

NOW = 1_790_000_000.0  # 2026-09-21 14:13 UTC
REPLY = ("Use `sorted` for a new list, or `list.sort()` in place:\n\n```python\nnames = sorted(names, key=str.lower)\n"
         "names.sort(reverse=True)\n```\n\n- `key` picks what to compare\n- `reverse=True` sorts descending")


class FrozenStatsEngine(FakeEngine):
    """The scripted engine with fixed stats, so the status line does not depend on timing."""

    def stream(self, messages: Sequence[Message], params: GenerationParams | None = None) -> Iterator[Chunk]:
        for chunk in super().stream(messages, params):
            if chunk.stats is not None:
                chunk.stats.tokens_per_second = 42.5
                chunk.stats.time_to_first_token = 0.1
            yield chunk


@pytest.fixture
def frozen(monkeypatch: pytest.MonkeyPatch, history: Any) -> Any:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    real = time.time
    clock = [NOW - 3 * 86400]

    def fake_time() -> float:
        clock[0] += 60
        return clock[0]

    monkeypatch.setattr(time, "time", fake_time)  # only while the history is seeded
    for title, q, a in (("Rust lifetimes", "explain lifetimes", "They say how long a reference lives."),
                        ("Trip to Lisbon", "when to visit Lisbon", "Spring or autumn.")):
        conv = history.create_conversation(model="fake-model", title=title)
        user = history.add_message(conv.id, "user", q, parent_id=None)
        history.add_message(conv.id, "assistant", a, parent_id=user.id, model="fake-model")
    monkeypatch.setattr(time, "time", lambda: NOW - 120)  # a fixed "now" for what the app saves
    yield
    monkeypatch.setattr(time, "time", real)
    monkeypatch.delenv("TZ")
    time.tzset()


def steady(app: Any) -> None:
    for widget in app.query("TextArea, Input"):
        widget.cursor_blink = False
    for screen in app.screen_stack:
        for widget in screen.query("TextArea, Input"):
            assert isinstance(widget, (TextArea, Input))
            widget.cursor_blink = False


def chat_app(make_app: Any) -> Any:
    return make_app(Engines([REPLY], engine_class=FrozenStatsEngine), frozen_time=NOW, new=True)


async def with_reply(pilot: Any) -> None:
    steady(pilot.app)
    await ready(pilot)
    await send(pilot, "How do I sort a list in Python?")
    await idle(pilot)
    steady(pilot.app)
    await pilot.pause()


def test_main_screen_80x24(snap_compare: Any, make_app: Any, frozen: Any) -> None:
    assert snap_compare(chat_app(make_app), terminal_size=(80, 24), run_before=with_reply)


def test_main_screen_with_conversations_120x32(snap_compare: Any, make_app: Any, frozen: Any) -> None:
    assert snap_compare(chat_app(make_app), terminal_size=(120, 32), run_before=with_reply)


def test_help_screen(snap_compare: Any, make_app: Any, frozen: Any) -> None:
    async def run_before(pilot: Any) -> None:
        await ready(pilot)
        await pilot.press("f1")
        await pilot.pause()

    assert snap_compare(chat_app(make_app), terminal_size=(80, 24), run_before=run_before)


def test_settings_screen(snap_compare: Any, make_app: Any, frozen: Any) -> None:
    async def run_before(pilot: Any) -> None:
        await ready(pilot)
        await pilot.press("ctrl+s")
        await pilot.pause()
        steady(pilot.app)
        await pilot.pause()

    assert snap_compare(chat_app(make_app), terminal_size=(80, 24), run_before=run_before)


def test_model_picker(snap_compare: Any, make_app: Any, frozen: Any) -> None:
    async def run_before(pilot: Any) -> None:
        await ready(pilot)
        await pilot.press("ctrl+o")
        await pilot.pause()

    assert snap_compare(chat_app(make_app), terminal_size=(80, 24), run_before=run_before)
