"""`assistant chat` before the app starts (a wrong ID or nothing to continue is one line and a
non-zero exit), and what the app imports and paints before the model is loaded."""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest

from assistant.cli import main
from assistant.engine.base import ChatEngine, GenerationParams
from assistant.engine.fake import FakeEngine
from assistant.history.store import History
from assistant.session.config import ChatOptions
from assistant.tui.app import ChatApp
from tests.assistant.tui.conftest import wait_for


def test_unknown_conversation_id_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["chat", "42"])
    assert exc.value.code != 0
    err = capsys.readouterr().err.strip()
    assert err.startswith("Error: No conversation 42 in the history") and "\n" not in err


def test_continue_without_history_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["chat", "--continue"])
    assert exc.value.code != 0
    assert capsys.readouterr().err.strip() == (
        "Error: There is no saved conversation to continue; start one with `assistant chat`.")


def test_app_modules_import_no_engine_or_torch() -> None:
    code = ("import sys, assistant.tui.app, assistant.tui.launch, assistant.commands.chat_cmd; "
            "print(sorted(m for m in ('llama_cpp', 'torch', 'transformers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "[]"


@pytest.mark.asyncio
async def test_first_paint_does_not_wait_for_the_model() -> None:
    release = threading.Event()

    def slow_factory(name: str | None) -> ChatEngine:
        release.wait(20)
        engine = FakeEngine(["ready now"])
        engine.load(name)
        return engine

    app = ChatApp(history=History(), engine_factory=slow_factory, model="fake-model", params=GenerationParams())
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.status.state.startswith("loading"), what="the loading state")
        assert app.host.inner is None
        prompt = app.query_one("#prompt")
        prompt.load_text("typed while loading")
        await pilot.press("enter")  # waits for the model, visibly
        await pilot.pause()
        assert "loading the model" in app.query_one("#log").messages()[-1].header_text()
        release.set()
        await wait_for(pilot, lambda: app.job is None and app.status.state == "idle", what="the reply")
        assert [m.content for m in app.session.thread()] == ["typed while loading", "ready now"]


def test_model_choices_list_the_bundled_models() -> None:
    from assistant.tui.app_actions import available_models
    from models.bundled import BUNDLED

    names = [m.name for m in available_models()]
    assert set(BUNDLED) <= set(names)


@pytest.mark.asyncio
async def test_command_line_flags_win_over_the_saved_conversation() -> None:
    history = History()
    conv = history.create_conversation(model="fake-model", system="Old system.", params={"temperature": 1.2},
                                       title="saved")
    history.add_message(conv.id, "user", "hello", parent_id=None)
    engines = FakeEngine(["hi"])
    engines.load("fake-model")
    app = ChatApp(history=history, engine_factory=lambda name: engines, model="fake-model",
                  params=GenerationParams(temperature=0.0), options=ChatOptions(temperature=0.0, system="New."))
    async with app.run_test(size=(80, 24)):
        assert app.session.conversation is not None and app.session.conversation.id == conv.id
        assert app.session.params.temperature == 0.0 and app.session.system == "New."
    saved = history.get_conversation(conv.id)
    assert saved.params["temperature"] == 0.0 and saved.system == "New."


@pytest.mark.asyncio
async def test_stop_while_the_model_is_still_loading() -> None:
    release = threading.Event()

    def slow_factory(name: str | None) -> ChatEngine:
        release.wait(20)
        engine = FakeEngine(["a b c d e f g h i j k l m n o p"])
        engine.load(name)
        return engine

    app = ChatApp(history=History(), engine_factory=slow_factory, model="fake-model", params=GenerationParams())
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.status.state.startswith("loading"), what="the loading state")
        app.query_one("#prompt").load_text("question")
        await pilot.press("enter")
        await pilot.pause()
        await pilot.press("escape")
        release.set()
        await wait_for(pilot, lambda: app.job is None, what="the reply to stop")
        reply = app.session.thread()[-1]
        assert reply.finish_reason == "cancelled" and len(reply.content) < len("a b c d e f g h i j k l m n o p")
