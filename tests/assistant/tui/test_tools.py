"""Pilot tests of tools in the app, on the FakeEngine (Hermes calls): a card per call, the approval
dialog (once, always, deny, stop), bad calls, the picker, reopened conversations, and the app staying
responsive while the tools start and while a dialog waits for an answer."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Button, SelectionList

from assistant.session.tool_turns import ToolOptions, ToolRunner
from assistant.tui.screens.approval import ApprovalScreen
from assistant.tui.screens.tools import ToolsScreen
from assistant.tui.widgets.chat_log import ChatLog
from assistant.tui.widgets.tool_card import ToolCard
from tests.assistant.tui.conftest import Engines, idle, notes, ready, send, wait_for

pytestmark = pytest.mark.asyncio

BUILTINS = 2  # current_time and calculator (the file tools need an allowed folder)


def call(name: str, **arguments: object) -> str:
    return "<tool_call>" + json.dumps({"name": name, "arguments": arguments}) + "</tool_call>"


def cards(app: Any) -> list[ToolCard]:
    return list(app.query(ToolCard))


def shown(widget: Any) -> str:
    return str(widget.content)


async def started(pilot: Any) -> None:
    await ready(pilot)
    await wait_for(pilot, lambda: pilot.app.session.tools is not None and pilot.app.tools_ready.is_set(),
                   what="the tools to start")


async def approval(pilot: Any) -> ApprovalScreen:
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, ApprovalScreen), what="the approval dialog")
    await pilot.pause()
    screen = pilot.app.screen
    assert isinstance(screen, ApprovalScreen)
    return screen


async def test_a_call_shows_a_card_with_its_arguments_and_result(make_app) -> None:
    engines = Engines(["Let me compute. " + call("calculator", expression="2+3"), "The answer is 5."])
    app = make_app(engines, tools=ToolOptions(), tools_on=True)
    async with app.run_test(size=(100, 30)) as pilot:
        await started(pilot)
        assert app.status.tools == BUILTINS and f"tools: {BUILTINS}" in app.status.render().plain
        await send(pilot, "What is 2+3?")
        dialog = await approval(pilot)
        assert "calculator" in shown(dialog.query_one(".dialog-title")) and "built-in" in shown(dialog.query_one(".dialog-title"))
        assert json.loads(shown(dialog.query_one("#approval-json"))) == {"expression": "2+3"}
        running = cards(app)
        assert len(running) == 1 and "running" in running[0].outcome  # shown before it runs
        await pilot.press("y")
        await idle(pilot)
        (card,) = cards(app)
        assert card.tool_name == "calculator" and card.arguments == {"expression": "2+3"}
        assert json.loads(shown(card.args_view)) == {"expression": "2+3"}
        assert card.result == "5" and shown(card.result_view) == "5" and not card.is_error
        assert card.outcome.startswith("→ 5")
        views = app.query_one(ChatLog).messages()
        assert [(v.role, v.content) for v in views] == [
            ("user", "What is 2+3?"), ("assistant", "Let me compute. "), ("assistant", "The answer is 5.")]
        assert card in views[1].cards  # inside the reply that made the call
        assert [m.role for m in app.session.thread()] == ["user", "assistant", "tool", "assistant"]
        assert views[2].record is not None and views[2].record.id == app.session.thread()[-1].id


async def test_deny_tells_the_model_and_the_card_shows_the_error(make_app) -> None:
    engines = Engines([call("calculator", expression="9*9"), "I was not allowed to compute it."])
    app = make_app(engines, tools=ToolOptions(), tools_on=True)
    async with app.run_test(size=(100, 30)) as pilot:
        await started(pilot)
        await send(pilot, "9*9?")
        await approval(pilot)
        await pilot.press("n")
        await idle(pilot)
        (card,) = cards(app)
        assert card.is_error and "denied" in card.result and card.has_class("error") and not card.collapsed
        assert "denied" in engines.engine.calls[1][0][-1].content  # the model was told
        assert app.session.thread()[-1].content == "I was not allowed to compute it."


async def test_always_allows_the_tool_for_the_rest_of_the_chat(make_app) -> None:
    engines = Engines([call("calculator", expression="1+1"), "2.", call("calculator", expression="2+2"), "4."])
    app = make_app(engines, tools=ToolOptions(), tools_on=True)
    async with app.run_test(size=(100, 30)) as pilot:
        await started(pilot)
        await send(pilot, "1+1?")
        await approval(pilot)
        await pilot.press("a")
        await idle(pilot)
        await send(pilot, "2+2?")
        await idle(pilot)  # no second dialog
        assert not isinstance(app.screen, ApprovalScreen)
        assert [c.result for c in cards(app)] == ["2", "4"]


async def test_a_malformed_call_is_an_error_card_and_nothing_runs(make_app) -> None:
    bad = '<tool_call>{"name": "calculator", "arguments": {"expression": "1+</tool_call>'
    engines = Engines([bad, "Sorry, let me answer plainly.", "Hello again."])
    app = make_app(engines, tools=ToolOptions(), tools_on=True)
    async with app.run_test(size=(100, 30)) as pilot:
        await started(pilot)
        await send(pilot, "do it")
        await idle(pilot)  # no approval: nothing to run
        (card,) = cards(app)
        assert card.is_error and card.outcome.startswith("error") and not card.collapsed
        assert "1+" in shown(card.args_view)  # what the model wrote
        assert engines.engine.calls[1][0][-1].content.startswith("Error:")
        await send(pilot, "hi")  # the next turn renders
        await idle(pilot)
        assert app.session.thread()[-1].content == "Hello again."


async def test_stop_in_the_dialog_denies_and_stops_the_reply(make_app) -> None:
    engines = Engines([call("calculator", expression="1+2") + call("current_time"), "never said"])
    app = make_app(engines, tools=ToolOptions(), tools_on=True)
    async with app.run_test(size=(100, 30)) as pilot:
        await started(pilot)
        await send(pilot, "compute")
        await approval(pilot)
        await pilot.press("s")
        await idle(pilot)
        assert len(engines.engine.calls) == 1  # the model was not asked again
        assert all(c.is_error for c in cards(app))
        assert not any(m.content == "never said" for m in app.session.thread())


async def test_keys_work_while_the_approval_waits(make_app) -> None:
    engines = Engines([call("calculator", expression="6*7"), "42."])
    app = make_app(engines, tools=ToolOptions(), tools_on=True)
    async with app.run_test(size=(100, 30)) as pilot:
        await started(pilot)
        await send(pilot, "6*7?")
        await approval(pilot)
        dark = app.current_theme.dark
        await pilot.press("ctrl+t")  # the theme key works over the dialog
        await pilot.pause()
        assert app.current_theme.dark != dark
        await pilot.press("f1")  # so does help, and the dialog is still there after it
        await wait_for(pilot, lambda: type(app.screen).__name__ == "HelpScreen", what="help")
        await pilot.press("escape")
        await approval(pilot)
        await pilot.press("tab")  # focus moves between the buttons; Enter presses the focused one
        assert isinstance(app.focused, Button) and app.focused.id == "always"
        await pilot.press("enter")
        await idle(pilot)
        assert [c.result for c in cards(app)] == ["42"]
        assert "calculator" in app.session.tools.policy.always


async def test_quit_while_the_approval_waits(make_app, history) -> None:
    engines = Engines([call("calculator", expression="1+1"), "2."])
    app = make_app(engines, tools=ToolOptions(), tools_on=True)
    async with app.run_test(size=(100, 30)) as pilot:
        await started(pilot)
        await send(pilot, "1+1?")
        await approval(pilot)
        await pilot.press("ctrl+q")
        await pilot.pause()
    app.wait_idle()
    conv = history.list_conversations()[0]
    roles = [m.role for m in history.thread(conv.id)]
    assert roles[:3] == ["user", "assistant", "tool"] and "2." not in [m.content for m in history.thread(conv.id)]


async def test_the_picker_turns_tools_on_and_off_and_selects_them(make_app) -> None:
    engines = Engines(["plain reply", call("current_time"), "It is now.", "off again"])
    app = make_app(engines, tools=ToolOptions())
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot)
        await send(pilot, "hello")
        await idle(pilot)
        assert app.session.tools is None and app.status.tools == 0  # nothing started yet
        assert engines.engine.calls[0][1].tools is None
        await pilot.press("f7")
        await wait_for(pilot, lambda: isinstance(app.screen, ToolsScreen), what="the picker")
        await pilot.pause()
        picker = app.screen
        listed = picker.query_one("#tools-list", SelectionList)
        assert {listed.get_option_at_index(i).value for i in range(listed.option_count)} == {"calculator", "current_time"}
        await pilot.press("space")  # the switch has focus: tools on
        await pilot.press("tab", "space")  # untick the first tool (current_time comes first, then calculator)
        first = listed.get_option_at_index(0).value
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: not isinstance(app.screen, ToolsScreen), what="the picker to close")
        runner = app.session.tools
        assert runner is not None and runner.enabled and runner.names is not None and first not in runner.names
        assert app.status.tools == 1
        await send(pilot, "what time is it?")
        if first != "current_time":
            await approval(pilot)
            await pilot.press("y")
        await idle(pilot)
        offered = {t["function"]["name"] for t in engines.engine.calls[1][1].tools}
        assert offered == set(runner.names)
        await pilot.press("f7")
        await wait_for(pilot, lambda: isinstance(app.screen, ToolsScreen), what="the picker")
        await pilot.pause()
        await pilot.press("space", "ctrl+s")  # off
        await wait_for(pilot, lambda: not isinstance(app.screen, ToolsScreen), what="the picker to close")
        assert not runner.enabled and app.status.tools == 0 and "tools:" not in app.status.render().plain
        await send(pilot, "and now?")
        await idle(pilot)
        assert engines.engine.calls[-1][1].tools is None


async def test_the_picker_refuses_tools_on_with_none_ticked(make_app) -> None:
    app = make_app(Engines(), tools=ToolOptions(), tools_on=True)
    async with app.run_test(size=(100, 30)) as pilot:
        await started(pilot)
        await pilot.press("f7")
        await wait_for(pilot, lambda: isinstance(app.screen, ToolsScreen), what="the picker")
        app.screen.query_one("#tools-list").deselect_all()
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, ToolsScreen) and "at least one" in shown(app.screen.query_one("#tools-error"))
        await pilot.press("escape")
        await pilot.pause()
        assert app.session.tools.enabled and app.session.tools.names is None


async def test_an_unknown_tool_name_is_a_notification(make_app) -> None:
    app = make_app(Engines(), tools=ToolOptions(names=("calculator", "rm_rf")), tools_on=True)
    async with app.run_test(size=(100, 30)) as pilot:
        await started(pilot)
        assert any("rm_rf" in n for n in notes(app))
        assert app.session.tools.names == ["calculator"] and app.status.tools == 1


async def test_a_broken_mcp_config_is_a_notification(make_app, tmp_path: Path) -> None:
    config = tmp_path / "mcp.json"
    config.write_text("{not json")
    app = make_app(Engines(["plain"]), tools=ToolOptions(mcp_config=config), tools_on=True)
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot)
        await wait_for(pilot, lambda: any("mcp.json" in n for n in notes(app)), what="the error")
        assert app.session.tools is None and app.status.tools == 0
        await send(pilot, "hi")  # chatting goes on without tools
        await idle(pilot)
        assert app.session.thread()[-1].content == "plain"


async def test_a_reply_sent_while_the_tools_start_waits_for_them(make_app, monkeypatch: pytest.MonkeyPatch) -> None:
    release = threading.Event()
    real_start = ToolRunner.start

    def slow_start(options: ToolOptions, ask: Any) -> ToolRunner:
        release.wait(20)
        return real_start(options, ask)

    monkeypatch.setattr(ToolRunner, "start", staticmethod(slow_start))
    engines = Engines([call("current_time"), "Done."])
    app = make_app(engines, tools=ToolOptions(preapproved=("current_time",)), tools_on=True)
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot)
        await send(pilot, "time?")
        reply = app.query_one(ChatLog).messages()[-1]
        assert reply.mark == "starting the tools…"
        await pilot.press("ctrl+t")  # the UI answers meanwhile
        release.set()
        await idle(pilot)
        assert [c.tool_name for c in cards(app)] == ["current_time"] and not cards(app)[0].is_error
        assert engines.engine.calls[0][1].tools  # the first reply was offered the tools


async def test_reopening_a_conversation_with_calls_renders_cards(make_app, history) -> None:
    conv = history.create_conversation(model="fake-model", title="with tools")
    user = history.add_message(conv.id, "user", "2+3 and the time?", parent_id=None)
    calls = [{"id": "call_a", "type": "function", "function": {"name": "calculator", "arguments": {"expression": "2+3"}}},
             {"id": "call_b", "type": "function", "function": {"name": "current_time", "arguments": "{}"}},
             "not a call"]
    reply = history.start_reply(conv.id, parent_id=user.id, model="fake-model")
    history.finish_reply(reply.id, "Checking.", "tool_calls", {}, calls)
    a = history.add_tool_result(conv.id, "5", parent_id=reply.id, call_id="call_a", name="calculator")
    b = history.add_tool_result(conv.id, "Error: the clock broke", parent_id=a.id, call_id="call_b",
                                name="current_time", is_error=True)
    orphan = history.add_tool_result(conv.id, "stray [b]text[/b]", parent_id=b.id, call_id="call_x", name="lost")
    history.add_message(conv.id, "assistant", "5, and no time.", parent_id=orphan.id, model="fake-model")
    app = make_app(Engines(), conversation_id=conv.id)
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot)
        views = app.query_one(ChatLog).messages()
        assert [(v.role, v.content) for v in views] == [
            ("user", "2+3 and the time?"), ("assistant", "Checking."), ("assistant", "5, and no time.")]
        found = cards(app)
        assert [c.tool_name for c in found] == ["calculator", "current_time", "tool call", "lost"]
        assert found[0].result == "5" and found[0].arguments == {"expression": "2+3"} and not found[0].is_error
        assert found[1].is_error and found[1].result == "the clock broke" and found[1].arguments == {}
        assert found[2].is_error  # no result saved for it
        assert found[3].result == "stray [b]text[/b]"  # never markup
        assert set(found[:3]) == set(views[1].cards)


async def test_the_app_imports_no_tools_before_they_are_used() -> None:
    code = ("import sys, assistant.tui.app, assistant.tui.launch; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('mcp', 'jsonschema') or m.startswith('assistant.tools')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "[]"
