"""Tools through /v1/chat/completions, driven by the real `openai` package over the scripted engine,
whose replies carry Hermes calls (<tool_call>{json}</tool_call>) as a model writes them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from assistant.engine.base import GenerationParams, Message
from assistant.tools.deltas import merge_deltas
from assistant.tools.formats import ToolsUnsupported
from tests.assistant.serve.conftest import MODEL, ScriptEngine, serving

WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "The weather in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}
CALC = {"type": "function", "function": {
    "name": "calculator", "description": "Evaluate an arithmetic expression.",
    "parameters": {"type": "object", "properties": {"expression": {"type": "string"}}, "required": ["expression"]}}}
TOOLS: Any = [WEATHER, CALC]
ASK: Any = [{"role": "user", "content": "Weather in Zürich?"}]
PARIS = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Zürich"}}\n</tool_call>'


def client(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0, timeout=30)


@pytest.fixture
def tools_server(engine: ScriptEngine) -> Iterator[str]:
    with serving(engine) as (url, _):
        yield url


def last_params(engine: ScriptEngine) -> GenerationParams:
    return engine.calls[-1][1]


def test_a_call_comes_back_as_tool_calls(engine: ScriptEngine, tools_server: str) -> None:
    engine.queue(PARIS)
    r = client(tools_server).chat.completions.create(model=MODEL, messages=ASK, tools=TOOLS)
    choice = r.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    [call] = choice.message.tool_calls or []
    assert call.type == "function" and call.id.startswith("call_")
    assert call.function.name == "get_weather" and json.loads(call.function.arguments) == {"city": "Zürich"}  # type: ignore[union-attr]
    assert r.usage is not None and r.usage.completion_tokens == len(PARIS.split(" "))
    params = last_params(engine)
    assert params.tools is not None and [t["function"]["name"] for t in params.tools] == ["get_weather", "calculator"]
    # auto with the default --tool-grammar lazy: a grammar that starts at the format's marker
    assert params.grammar_triggers == ["(<tool_call>)"] and params.grammar and '"\\"get_weather\\""' in params.grammar


def test_text_before_a_call_is_the_content(engine: ScriptEngine, tools_server: str) -> None:
    engine.queue("Let me look. " + PARIS)
    r = client(tools_server).chat.completions.create(model=MODEL, messages=ASK, tools=TOOLS)
    assert r.choices[0].message.content == "Let me look. " and r.choices[0].finish_reason == "tool_calls"
    assert len(r.choices[0].message.tool_calls or []) == 1


def test_no_call_is_plain_text(engine: ScriptEngine, tools_server: str) -> None:
    engine.queue("It is sunny.")
    r = client(tools_server).chat.completions.create(model=MODEL, messages=ASK, tools=TOOLS)
    assert r.choices[0].message.content == "It is sunny." and r.choices[0].finish_reason == "stop"
    assert not r.choices[0].message.tool_calls


def stream(url: str, **kw: Any) -> list[Any]:
    return list(client(url).chat.completions.create(model=MODEL, messages=ASK, tools=TOOLS, stream=True, **kw))


def test_streamed_calls_reassemble_to_the_whole_reply(engine: ScriptEngine, tools_server: str) -> None:
    two = "Checking both. " + PARIS + '\n<tool_call>\n{"name": "calculator", "arguments": {"expression": "6 * 7"}}\n</tool_call>'
    engine.queue(two, two)
    whole = client(tools_server).chat.completions.create(model=MODEL, messages=ASK, tools=TOOLS)
    chunks = stream(tools_server, stream_options={"include_usage": True})
    deltas = [c.choices[0].delta for c in chunks if c.choices]
    assert deltas[0].role == "assistant"
    items = [item.model_dump(exclude_none=True) for d in deltas for item in (d.tool_calls or [])]
    firsts = [i for i in items if "id" in i]
    assert [(i["index"], i["function"]["name"], i["function"]["arguments"]) for i in firsts] == [
        (0, "get_weather", ""), (1, "calculator", "")]  # id and name once, then argument fragments
    assert all("id" not in i and "name" not in i["function"] for i in items if i not in firsts)
    merged = merge_deltas(items)
    expected = [c.model_dump() for c in whole.choices[0].message.tool_calls or []]
    assert [(m["function"]["name"], m["function"]["arguments"]) for m in merged] == [
        (e["function"]["name"], e["function"]["arguments"]) for e in expected]
    assert "".join(d.content or "" for d in deltas) == "Checking both. \n" == whole.choices[0].message.content
    finals = [c for c in chunks if c.choices and c.choices[0].finish_reason]
    assert [c.choices[0].finish_reason for c in finals] == ["tool_calls"] and finals[0] is chunks[-2]
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == len(two.split(" "))


def test_parallel_tool_calls_false_keeps_the_first(engine: ScriptEngine, tools_server: str) -> None:
    two = PARIS + PARIS.replace("Zürich", "Bern")
    engine.queue(two, two)
    r = client(tools_server).chat.completions.create(model=MODEL, messages=ASK, tools=TOOLS, parallel_tool_calls=False)
    assert [json.loads(c.function.arguments)["city"] for c in r.choices[0].message.tool_calls or []] == ["Zürich"]  # type: ignore[union-attr]
    chunks = stream(tools_server, parallel_tool_calls=False)
    items = [i.model_dump(exclude_none=True) for c in chunks if c.choices for i in c.choices[0].delta.tool_calls or []]
    assert len(merge_deltas(items)) == 1


def test_tool_choice_none_renders_and_parses_no_tools(engine: ScriptEngine, tools_server: str) -> None:
    engine.queue(PARIS)
    r = client(tools_server).chat.completions.create(model=MODEL, messages=ASK, tools=TOOLS, tool_choice="none")
    assert r.choices[0].message.content == PARIS and r.choices[0].finish_reason == "stop"
    params = last_params(engine)
    assert params.tools is None and params.grammar is None


def test_required_and_named_choices_force_a_call_with_a_grammar(engine: ScriptEngine, tools_server: str) -> None:
    engine.queue(PARIS, '<tool_call>{"name": "calculator", "arguments": {"expression": "1+1"}}</tool_call>')
    c = client(tools_server)
    r = c.chat.completions.create(model=MODEL, messages=ASK, tools=TOOLS, tool_choice="required")
    assert r.choices[0].finish_reason == "tool_calls"
    params = last_params(engine)
    assert params.grammar and params.grammar_triggers is None  # from the first token
    assert '"\\"get_weather\\""' in params.grammar and '"\\"calculator\\""' in params.grammar
    r = c.chat.completions.create(model=MODEL, messages=ASK, tools=TOOLS,
                                  tool_choice={"type": "function", "function": {"name": "calculator"}})
    assert (r.choices[0].message.tool_calls or [])[0].function.name == "calculator"  # type: ignore[union-attr]
    params = last_params(engine)
    assert params.grammar and '"\\"calculator\\""' in params.grammar and "get_weather" not in params.grammar


def test_the_lazy_grammar_can_be_turned_off(engine: ScriptEngine) -> None:
    with serving(engine, tool_grammar="off") as (url, _):
        engine.queue(PARIS, PARIS)
        client(url).chat.completions.create(model=MODEL, messages=ASK, tools=TOOLS)
        assert last_params(engine).grammar is None and last_params(engine).grammar_triggers is None
        client(url).chat.completions.create(model=MODEL, messages=ASK, tools=TOOLS, tool_choice="required")
        assert last_params(engine).grammar is not None  # required is honoured whatever the setting


@pytest.mark.parametrize("reply", [
    '<tool_call>{"name": "get_weather", "arguments": {"city": </tool_call>',  # cut mid-object
    "<tool_call>{'name': 'get_weather', 'arguments': {'city': 'Bern'}}</tool_call>",  # single quotes
    '<tool_call>{"name": "delete_everything", "arguments": {}}</tool_call>',  # not offered
])
def test_a_bad_call_is_text_never_a_500(engine: ScriptEngine, tools_server: str, reply: str) -> None:
    engine.queue(reply, reply)
    r = client(tools_server).chat.completions.create(model=MODEL, messages=ASK, tools=TOOLS)
    assert r.choices[0].finish_reason == "stop" and not r.choices[0].message.tool_calls
    assert r.choices[0].message.content == reply
    chunks = stream(tools_server)
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == reply
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_an_empty_list_of_calls_is_no_call(engine: ScriptEngine, tools_server: str) -> None:
    engine.queue("<tool_call>[]</tool_call>")
    r = client(tools_server).chat.completions.create(model=MODEL, messages=ASK, tools=TOOLS)
    assert r.choices[0].message.content == "" and r.choices[0].finish_reason == "stop"


def test_a_follow_up_with_calls_and_tool_results(engine: ScriptEngine, tools_server: str) -> None:
    engine.queue(PARIS, "It is 21 degrees in Zürich.")
    c = client(tools_server)
    first = c.chat.completions.create(model=MODEL, messages=ASK, tools=TOOLS)
    call = (first.choices[0].message.tool_calls or [])[0]
    history: Any = [*ASK, first.choices[0].message.model_dump(exclude_none=True),
                    {"role": "tool", "tool_call_id": call.id, "content": "21 degrees, clear"}]
    r = c.chat.completions.create(model=MODEL, messages=history, tools=TOOLS)
    assert r.choices[0].message.content == "It is 21 degrees in Zürich." and r.choices[0].finish_reason == "stop"
    messages: list[Message] = engine.calls[-1][0]
    assert [m.role for m in messages] == ["user", "assistant", "tool"]
    assert messages[1].tool_calls == [{"id": call.id, "type": "function",
                                       "function": {"name": "get_weather", "arguments": {"city": "Zürich"}}}]
    assert messages[1].content == "" and messages[2].tool_call_id == call.id and messages[2].content == "21 degrees, clear"


class NoToolsEngine(ScriptEngine):
    def tool_format(self) -> Any:
        raise ToolsUnsupported("The model's chat template has no tool support (it never renders a list of tools); "
                               "pass a tools-capable template with --chat-template FILE.")


def test_a_model_without_tool_support_is_one_sentence() -> None:
    with serving(NoToolsEngine()) as (url, _):
        with pytest.raises(openai.BadRequestError) as err:
            client(url).chat.completions.create(model=MODEL, messages=ASK, tools=TOOLS)
        assert "has no tool support" in err.value.message
        r = client(url).chat.completions.create(model=MODEL, messages=ASK)  # without tools it still answers
        assert r.choices[0].message.content == "You said: Weather in Zürich?"
