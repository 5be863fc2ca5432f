"""Tools in the plain REPL: /tools turns them on, each call is shown and asked about at the prompt,
its result is shown, and a denial reaches the model."""

from __future__ import annotations

import json

from assistant.session.tool_turns import ToolOptions
from tests.assistant.repl.test_loop import CTRL_D, ENTER, Loader, drive, only_conversation


def call(name: str, **arguments: object) -> str:
    return "<tool_call>" + json.dumps({"name": name, "arguments": arguments}) + "</tool_call>"


def test_tools_on_a_call_is_asked_run_and_answered() -> None:
    loader = Loader({"fake-a": [call("calculator", expression="6*7"), "It is 42."]})
    out = drive("/tools on" + ENTER + "What is 6*7?" + ENTER + "y" + ENTER + CTRL_D, loader, tools=ToolOptions())
    assert "calculator" in out and "tools on" in out
    assert 'tool call: calculator {"expression": "6*7"}' in out
    assert "The model wants to run calculator (builtin)" in out
    assert "calculator returned in" in out and "  42" in out
    assert "It is 42." in out
    _, thread = only_conversation()
    assert [role for role, _ in thread] == ["user", "assistant", "tool", "assistant"]
    assert thread[2][1] == "42"


def test_a_denied_call_is_not_run_and_the_model_is_told() -> None:
    loader = Loader({"fake-a": [call("calculator", expression="1/0"), "Understood."]})
    out = drive("/tools calculator" + ENTER + "divide" + ENTER + "n" + ENTER + CTRL_D, loader, tools=ToolOptions())
    assert "calculator failed" in out and "denied" in out
    engine = loader.engines[0]
    assert engine.calls[1][0][-1].role == "tool" and "denied" in engine.calls[1][0][-1].content


def test_tools_are_off_until_turned_on_and_unknown_names_are_one_sentence() -> None:
    loader = Loader({"fake-a": ["plain reply"]})
    out = drive("/tools nosuch" + ENTER + "hello" + ENTER + CTRL_D, loader, tools=ToolOptions())
    assert "Error: There is no tool named 'nosuch'" in out
    assert loader.engines[0].calls[0][1].tools is None  # off: nothing offered


def test_tool_on_the_command_line_turns_them_on() -> None:
    loader = Loader({"fake-a": [call("current_time"), "Done."]})
    out = drive("time?" + ENTER + "a" + ENTER + CTRL_D, loader,
                tools=ToolOptions(names=("current_time",)), tools_on=True)
    assert "current_time returned in" in out and "Done." in out
    assert [t["function"]["name"] for t in loader.engines[0].calls[0][1].tools or []] == ["current_time"]
