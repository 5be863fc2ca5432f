"""Pilot tests of everything around the chat: conversations (start-up, open, search, rename,
delete), export, model switch, settings, copy, help, palette and theme."""

from __future__ import annotations

import json

import pytest

from assistant.engine.base import GenerationParams
from assistant.tui.screens.dialogs import ChoiceScreen, ConfirmScreen, TextInputScreen
from assistant.tui.screens.help import HelpScreen, help_plain
from assistant.tui.screens.settings import SettingsScreen
from assistant.tui.widgets.chat_log import ChatLog
from assistant.tui.widgets.sidebar import Sidebar
from tests.assistant.tui.conftest import Engines, idle, notes, ready, send, wait_for

pytestmark = pytest.mark.asyncio


def contents(app) -> list[str]:  # type: ignore[no-untyped-def]
    return [v.content for v in app.query_one(ChatLog).messages()]


def add_turns(history, conv_id: int, *turns: str) -> None:  # type: ignore[no-untyped-def]
    parent = None
    for i, text in enumerate(turns):
        parent = history.add_message(conv_id, "user" if i % 2 == 0 else "assistant", text,
                                     parent_id=parent.id if parent else None)


def conversation(history, title: str, *turns: str) -> int:  # type: ignore[no-untyped-def]
    conv = history.create_conversation(model="fake-model", title=title)
    add_turns(history, conv.id, *turns)
    return conv.id


async def test_start_shows_the_last_conversation_or_the_given_one_or_a_new_one(make_app, history) -> None:
    first = conversation(history, "first", "q one", "a one")
    conversation(history, "second", "q two", "a two")
    app = make_app()
    async with app.run_test(size=(80, 24)):
        assert contents(app) == ["q two", "a two"]
    app = make_app(conversation_id=first)
    async with app.run_test(size=(80, 24)):
        assert contents(app) == ["q one", "a one"]
    app = make_app(new=True)
    async with app.run_test(size=(80, 24)):
        assert contents(app) == [] and app.query_one("#welcome")


async def test_sidebar_switches_conversation_and_continues_it(make_app, history) -> None:
    first = conversation(history, "about cats", "tell me about cats", "cats purr")
    conversation(history, "about dogs", "tell me about dogs", "dogs bark")
    app = make_app(Engines(["they sleep a lot"]))
    async with app.run_test(size=(120, 30)) as pilot:
        await ready(pilot)
        sidebar = app.query_one(Sidebar)
        assert sidebar.display  # wide enough to show at start
        olist = sidebar.options
        assert [str(olist.get_option_at_index(i).prompt).split("\n")[0] for i in range(olist.option_count)] == [
            "about dogs", "about cats"]
        olist.focus()
        olist.highlighted = 1
        await pilot.press("enter")
        await pilot.pause()
        assert contents(app) == ["tell me about cats", "cats purr"]
        await send(pilot, "and more?")
        await idle(pilot)
        assert [m.content for m in history.thread(first)][-2:] == ["and more?", "they sleep a lot"]
        sent = [m.content for m in app.host.inner.calls[-1][0]]
        assert sent == ["tell me about cats", "cats purr", "and more?"]


async def test_sidebar_toggles_at_80_columns(make_app) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        sidebar = app.query_one(Sidebar)
        assert not sidebar.display
        await pilot.press("ctrl+b")
        assert sidebar.display and app.focused is sidebar.options
        await pilot.press("ctrl+b")
        assert not sidebar.display and app.focused is app.query_one("#prompt")


async def test_search_finds_a_message_and_opens_its_conversation(make_app, history) -> None:
    conversation(history, "cooking", "how to boil an egg", "put it in water")
    conversation(history, "travel", "best time for Lisbon", "spring or autumn")
    app = make_app()
    async with app.run_test(size=(120, 30)) as pilot:
        assert contents(app) == ["best time for Lisbon", "spring or autumn"]
        await pilot.press("ctrl+f")
        assert app.focused is app.query_one(Sidebar).search_box
        await pilot.press(*"boil")
        await pilot.pause()
        olist = app.query_one(Sidebar).options
        assert olist.option_count == 1 and "cooking" in str(olist.get_option_at_index(0).prompt)
        await pilot.press("enter")  # to the results
        assert app.focused is olist
        await pilot.press("enter")
        await pilot.pause()
        assert contents(app) == ["how to boil an egg", "put it in water"]
        await pilot.press("ctrl+f", *"zzzz")
        await pilot.pause()
        assert "No matches" in str(olist.get_option_at_index(0).prompt)


async def test_rename_and_delete_with_confirm(make_app, history) -> None:
    keep = conversation(history, "keep me", "a", "b")
    gone = conversation(history, "delete me", "c", "d")
    app = make_app()
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.press("f6")
        assert isinstance(app.screen, TextInputScreen)
        field = app.screen.query_one("#value")
        assert field.value == "delete me"
        field.value = "renamed chat"
        await pilot.press("enter")
        assert history.get_conversation(gone).title == "renamed chat"
        assert "renamed chat" in str(app.query_one("#title").render())
        await pilot.press("f8")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        assert len(history.list_conversations()) == 2
        await pilot.press("f8", "y")
        await pilot.pause()
        assert [c.id for c in history.list_conversations()] == [keep]
        assert contents(app) == []
        assert app.query_one(Sidebar).options.option_count == 1


async def test_export_markdown_and_json(make_app, history, tmp_path) -> None:
    conversation(history, "export me", "what is 2+2", "4")
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        for name in ("chat.md", "chat.json", "chat.txt"):
            await pilot.press("f5")
            field = app.screen.query_one("#value")
            assert field.value.endswith(".md")
            field.value = str(tmp_path / name)
            await pilot.press("enter")
            await pilot.pause()
    text = (tmp_path / "chat.md").read_text()
    assert "what is 2+2" in text and "# export me" in text
    data = json.loads((tmp_path / "chat.json").read_text())
    assert "what is 2+2" in json.dumps(data)
    assert not (tmp_path / "chat.txt").exists()
    assert any("Export to a .md or .json file" in n for n in notes(app))


async def test_switch_model_and_the_conversation_goes_on(make_app, history) -> None:
    engines = Engines(["from the first model"])
    app = make_app(engines)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        await send(pilot, "hello")
        await idle(pilot)
        engines.replies = ["from the other model"]
        await pilot.press("ctrl+o")
        assert isinstance(app.screen, ChoiceScreen)
        await pilot.press("down", "enter")
        await wait_for(pilot, lambda: app.session.model == "other-model", what="the switch")
        assert engines.names == [None, "other-model"]
        assert app.status.model == "other-model"
        await send(pilot, "still there?")
        await idle(pilot)
        assert contents(app) == ["hello", "from the first model", "still there?", "from the other model"]
        assert [m.content for m in engines.engine.calls[-1][0]] == ["hello", "from the first model", "still there?"]
        assert app.session.thread()[-1].model == "other-model"
        assert "other-model" in app.query_one(ChatLog).messages()[-1].header_text()


async def test_settings_apply_to_the_next_reply_and_bad_values_are_named(make_app) -> None:
    app = make_app(Engines(["one two three four five six seven"]), params=GenerationParams(temperature=0.8))
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        await pilot.press("ctrl+s")
        screen = app.screen
        assert isinstance(screen, SettingsScreen)
        screen.query_one("#temperature").value = "hot"
        await pilot.press("ctrl+s")
        assert app.screen is screen
        assert "temperature needs a number" in str(screen.query_one("#settings-error").render())
        assert app.session.params.temperature == 0.8  # nothing half-applied
        screen.query_one("#temperature").value = "0.2"
        screen.query_one("#max_tokens").value = "3"
        screen.query_one("#seed").value = "7"
        screen.query_one("#system").load_text("Be brief.")
        await pilot.press("ctrl+s")
        assert not isinstance(app.screen, SettingsScreen)
        await send(pilot, "count")
        await idle(pilot)
        messages, params = app.host.inner.calls[-1]
        assert (params.temperature, params.max_tokens, params.seed) == (0.2, 3, 7)
        assert messages[0].role == "system" and messages[0].content == "Be brief."
        assert contents(app)[-1] == "one two three"
        assert "cut off" in app.query_one(ChatLog).messages()[-1].header_text()
        conv = app.history.get_conversation(app.session.conversation.id)
        assert conv.system == "Be brief." and conv.params["temperature"] == 0.2


async def test_copy_message_and_code_block(make_app, history) -> None:
    reply = "Two ways:\n\n```python\nprint(1)\n```\n\nor\n\n```sh\necho 1\n```"
    conversation(history, "code", "show code", reply)
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f3")
        assert app.clipboard == reply
        await pilot.press("f4")
        assert isinstance(app.screen, ChoiceScreen)
        await pilot.press("down", "enter")
        assert app.clipboard == "echo 1\n"
        await pilot.press("ctrl+up", "up", "c")  # the selected prompt
        assert app.clipboard == "show code"


async def test_help_palette_and_theme(make_app, tmp_path) -> None:
    theme_file = tmp_path / "config" / "tui.json"
    app = make_app(theme_file=theme_file)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        text = help_plain()
        for words in ("Regenerate", "Copy code block", "Export", "Switch model", "Settings", "modifier"):
            assert words in text or words.lower() in text
        await pilot.press("escape")
        await pilot.press("ctrl+up")  # outside the input, ? opens help too
        await pilot.press("question_mark")
        assert not isinstance(app.screen, HelpScreen)  # no messages: focus stayed in the input
        app.query_one(Sidebar).display = True
        app.query_one(Sidebar).options.focus()
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        titles = {c.title for c in app.get_system_commands(app.screen)}
        assert {"New chat", "Stop reply", "Regenerate", "Edit prompt", "Copy message", "Copy code block", "Export",
                "Switch model", "Settings", "Quit"} <= titles
        app.action_focus_prompt()
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"Settings")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, SettingsScreen), what="the palette to open settings")
        await pilot.press("escape")
        dark = app.current_theme.dark
        await pilot.press("ctrl+t")
        assert app.current_theme.dark is not dark
        assert json.loads(theme_file.read_text())["theme"] == app.theme


async def test_theme_choice_is_remembered(make_app, tmp_path) -> None:
    theme_file = tmp_path / "tui.json"
    theme_file.write_text(json.dumps({"theme": "textual-light"}))
    app = make_app(theme_file=theme_file)
    async with app.run_test(size=(80, 24)):
        assert not app.current_theme.dark



async def test_new_chat_key(make_app, history) -> None:
    conversation(history, "old", "old q", "old a")
    app = make_app(Engines(["new a"]))
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        await pilot.press("ctrl+n")
        assert contents(app) == []
        await send(pilot, "new q")
        await idle(pilot)
        assert len(history.list_conversations()) == 2
        assert history.last_conversation().title == "new q"
