"""Tools through Ollama's /api/chat, driven by the real `ollama` package over the scripted engine:
calls with arguments as an object, streamed in a line's message once complete."""

from __future__ import annotations

from typing import Any

import ollama
import pytest

from assistant.engine.base import Message
from tests.assistant.serve.conftest import MODEL, ScriptEngine
from tests.assistant.serve.test_tools_openai import PARIS, TOOLS

ASK = [{"role": "user", "content": "Weather in Zürich?"}]


def client(url: str) -> ollama.Client:
    return ollama.Client(host=url, timeout=30)


def test_a_call_comes_back_with_arguments_as_an_object(engine: ScriptEngine, server: str) -> None:
    engine.queue("Sure. " + PARIS)
    r = client(server).chat(model=MODEL, messages=ASK, tools=TOOLS)
    assert r.message.role == "assistant" and r.message.content == "Sure. "
    [call] = r.message.tool_calls or []
    assert call.function.name == "get_weather" and dict(call.function.arguments) == {"city": "Zürich"}
    assert r.done and r.done_reason == "stop" and r.eval_count == len(("Sure. " + PARIS).split(" "))
    params = engine.calls[-1][1]
    assert params.tools is not None and params.grammar_triggers == ["(<tool_call>)"]


def test_streamed_calls_come_whole_in_a_line(engine: ScriptEngine, server: str) -> None:
    engine.queue("Two: " + PARIS + PARIS.replace("Zürich", "Bern"))
    parts = list(client(server).chat(model=MODEL, messages=ASK, tools=TOOLS, stream=True))
    calls = [c for p in parts for c in (p.message.tool_calls or [])]
    assert [(c.function.name, dict(c.function.arguments)) for c in calls] == [
        ("get_weather", {"city": "Zürich"}), ("get_weather", {"city": "Bern"})]
    assert all(len(p.message.tool_calls or []) <= 1 for p in parts)
    assert "".join(p.message.content or "" for p in parts) == "Two: "
    assert parts[-1].done and not any(p.done for p in parts[:-1])


def test_a_python_function_as_a_tool_and_a_follow_up(engine: ScriptEngine, server: str) -> None:
    def add(a: int, b: int) -> int:
        """Add two numbers.

        Args:
            a: The first number.
            b: The second number.
        """
        return a + b

    engine.queue('<tool_call>{"name": "add", "arguments": {"a": 2, "b": 3}}</tool_call>', "The sum is 5.")
    c = client(server)
    first = c.chat(model=MODEL, messages=[{"role": "user", "content": "2 + 3?"}], tools=[add])
    [call] = first.message.tool_calls or []
    assert call.function.name == "add" and dict(call.function.arguments) == {"a": 2, "b": 3}
    history: list[Any] = [{"role": "user", "content": "2 + 3?"}, first.message,
                          {"role": "tool", "content": str(add(**call.function.arguments)), "tool_name": "add"}]
    r = c.chat(model=MODEL, messages=history, tools=[add])
    assert r.message.content == "The sum is 5." and not r.message.tool_calls
    messages: list[Message] = engine.calls[-1][0]
    assert [m.role for m in messages] == ["user", "assistant", "tool"]
    assert messages[1].tool_calls == [{"id": "call_1_0", "type": "function",
                                       "function": {"name": "add", "arguments": {"a": 2, "b": 3}}}]
    assert (messages[2].tool_call_id, messages[2].name, messages[2].content) == ("call_1_0", "add", "5")


def test_bad_calls_are_text_and_bad_input_is_400(engine: ScriptEngine, server: str) -> None:
    bad = '<tool_call>{"name": "launch", "arguments": {}}</tool_call>'
    engine.queue(bad)
    r = client(server).chat(model=MODEL, messages=ASK, tools=TOOLS)
    assert r.message.content == bad and not r.message.tool_calls
    with pytest.raises(ollama.ResponseError) as err:
        client(server).chat(model=MODEL, tools=TOOLS, messages=[*ASK, {"role": "tool", "content": "21 degrees"}])
    assert err.value.status_code == 400 and "answers no call" in err.value.error
    with pytest.raises(ollama.ResponseError) as err:
        client(server).chat(model=MODEL, messages=ASK, tools=[{"type": "function", "function": {"name": "bad name!"}}])
    assert err.value.status_code == 400 and "tools.0.function.name" in err.value.error
