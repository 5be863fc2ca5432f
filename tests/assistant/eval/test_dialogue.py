from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Input

from assistant.engine.base import ChatEngine
from assistant.engine.fake import FakeEngine, ScriptedReply
from assistant.eval.dialogue import DialogueRun
from assistant.eval.dialogue_app import DialogueApp
from assistant.eval.dialogue_report import write_dialogue_report
from assistant.eval.generate import lima_params
from models.errors import AssistantError


class Factory:
    def __init__(self, replies: dict[str, list[Any]]) -> None:
        self.replies = replies
        self.engines: dict[str, FakeEngine] = {}

    def __call__(self, name: str) -> ChatEngine:
        engine = FakeEngine(self.replies.get(name, []), name=name)
        engine.load(name)
        self.engines[name] = engine
        return engine


async def wait_for(pilot: Any, predicate: Callable[[], Any], what: str) -> None:
    deadline = time.monotonic() + 10
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.02)


async def say(pilot: Any, text: str) -> None:
    app = pilot.app
    box = app.query_one("#prompt", Input)
    box.value = text
    box.focus()
    await pilot.press("enter")
    await wait_for(pilot, lambda: app.awaiting is not None, "the reply")


def saved(folder: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted((folder / "dialogues").glob("*.json"))]


@pytest.mark.asyncio
async def test_rate_each_turn_with_one_key(tmp_path: Path) -> None:
    run = DialogueRun.create(tmp_path / "d", ["m1"])
    factory = Factory({"m1": ["Paris.", "About 2.1 million.", ScriptedReply("Cut", "length")]})
    app = DialogueApp(run, factory, lima_params(max_tokens=64), system="Be brief.")
    async with app.run_test(size=(100, 30)) as pilot:
        await say(pilot, "Capital of France?")
        assert app.query_one("#prompt").disabled  # typing waits for the rating
        await pilot.press("x")  # not a rating key: nothing happens
        assert app.awaiting is not None
        await pilot.press("e")
        assert app.awaiting is None and not app.query_one("#prompt").disabled
        await say(pilot, "Its population?")
        await pilot.press("p")
        await say(pilot, "And its area?")
        await pilot.press("f")
        messages, params = factory.engines["m1"].calls[-1]
        assert [m.role for m in messages] == ["system", "user", "assistant", "user", "assistant", "user"]
        assert params.repeat_penalty == 1.2
        await pilot.press("ctrl+q")
    [d] = saved(tmp_path / "d")
    assert [t["rating"] for t in d["turns"]] == ["Excellent", "Pass", "Fail"]
    assert [t["assistant"] for t in d["turns"]] == ["Paris.", "About 2.1 million.", "Cut"]
    assert d["turns"][2]["finish_reason"] == "length"
    shares = run.shares()["m1"]
    assert shares["rated"] == 3 and shares["shares"]["Excellent"] == pytest.approx(1 / 3)


@pytest.mark.asyncio
async def test_two_models_alternate_hidden_and_report(tmp_path: Path) -> None:
    run = DialogueRun.create(tmp_path / "d", ["m1", "m2"])
    factory = Factory({"m1": ["one-a", "one-b"], "m2": ["two-a"]})
    app = DialogueApp(run, factory, lima_params())
    async with app.run_test(size=(100, 30)) as pilot:
        status = str(app.query_one("#status").render())
        assert "model hidden" in status and "m1" not in status and "m2" not in status
        await say(pilot, "hello")
        await pilot.press("e")
        await say(pilot, "more")
        await pilot.press("p")
        await pilot.press("ctrl+n")
        await say(pilot, "hello")
        await pilot.press("f")
        await pilot.press("ctrl+q")
    models = [d["model"] for d in saved(tmp_path / "d")]
    assert models == ["m1", "m2"]
    report = write_dialogue_report(DialogueRun.open_existing(tmp_path / "d")).read_text()
    assert "| m1 | 1 | 2 | 0% (0) | 50% (1) | 50% (1) |" in report
    assert "| m2 | 1 | 1 | 100% (1) | 0% (0) | 0% (0) |" in report
    assert (tmp_path / "d" / "dialogue.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.asyncio
async def test_resume_asks_for_the_missing_rating(tmp_path: Path) -> None:
    run = DialogueRun.create(tmp_path / "d", ["m1"])
    app = DialogueApp(run, Factory({"m1": ["first"]}), lima_params())
    async with app.run_test(size=(100, 30)) as pilot:
        await say(pilot, "hi")
        await pilot.press("ctrl+q")  # quit before rating
    assert saved(tmp_path / "d")[0]["turns"][0]["rating"] is None
    again = DialogueRun.create(tmp_path / "d", ["m1"])
    app = DialogueApp(again, Factory({"m1": ["second"]}), lima_params())
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        assert app.awaiting is not None and app.dialogue is not None and app.dialogue.id == 1
        await pilot.press("p")
        await say(pilot, "next")
        await pilot.press("e")
        await pilot.press("ctrl+q")
    turns = saved(tmp_path / "d")[0]["turns"]
    assert [(t["assistant"], t["rating"]) for t in turns] == [("first", "Pass"), ("second", "Excellent")]


@pytest.mark.asyncio
async def test_engine_error_keeps_the_message(tmp_path: Path) -> None:
    run = DialogueRun.create(tmp_path / "d", ["m1"])
    app = DialogueApp(run, Factory({"m1": [ScriptedReply("", error="The model crashed; try again.")]}), lima_params())
    async with app.run_test(size=(100, 30)) as pilot:
        box = app.query_one("#prompt", Input)
        box.value = "hello"
        box.focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: not app.generating, "the error")
        assert box.value == "hello" and app.awaiting is None
        assert any("crashed" in n.message for n in app._notifications)
        await pilot.press("ctrl+q")
    assert saved(tmp_path / "d") == []


def test_dialogue_run_errors(tmp_path: Path) -> None:
    DialogueRun.create(tmp_path / "d", ["m1", "m2"])
    with pytest.raises(AssistantError, match="rates m1, m2"):
        DialogueRun.create(tmp_path / "d", ["m3"])
    with pytest.raises(AssistantError, match="one or two different models"):
        DialogueRun.create(tmp_path / "e", ["m1", "m1"])
