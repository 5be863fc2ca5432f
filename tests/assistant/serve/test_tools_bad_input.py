"""Malformed tool requests: each a 400 in OpenAI's shape with one sentence naming the problem, and
the server goes on."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.assistant.serve.conftest import MODEL, ScriptEngine, serving
from tests.assistant.serve.test_tools_openai import CALC, TOOLS, WEATHER

USER = {"role": "user", "content": "Weather in Bern?"}
CALL = {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Bern"}'}}
ASSISTANT = {"role": "assistant", "content": None, "tool_calls": [CALL]}
ANSWER = {"role": "tool", "tool_call_id": "call_1", "content": "12 degrees"}


@pytest.fixture(scope="module")
def shared() -> Iterator[str]:
    with serving(ScriptEngine()) as (url, _):
        yield url


def with_tools(tools: Any = TOOLS, messages: Any = None, **kw: Any) -> dict[str, Any]:
    return {"model": MODEL, "messages": messages or [USER], "tools": tools, **kw}


def bad_schema(parameters: Any) -> list[dict[str, Any]]:
    return [{"type": "function", "function": {"name": "f", "parameters": parameters}}]


CASES = [
    ("tools not a list", with_tools({"type": "function"}), "tools", "must be a list of tools"),
    ("a tool not an object", with_tools(["get_weather"]), "tools.0", "must be an object"),
    ("no function", with_tools([{"type": "function"}]), "tools.0.function", "is missing"),
    ("missing name", with_tools([{"type": "function", "function": {"description": "x"}}]), "tools.0.function.name",
     "1 to 64 letters"),
    ("a name with spaces", with_tools([{"type": "function", "function": {"name": "get weather"}}]),
     "tools.0.function.name", "1 to 64 letters"),
    ("two tools of one name", with_tools([WEATHER, WEATHER]), "tools.1.function.name", "Two tools are named"),
    ("another kind of tool", with_tools([{"type": "web_search"}]), "tools.0.type=web_search", "function tools only"),
    ("an unknown key", with_tools([{"type": "function", "function": {"name": "f", "returns": "int"}}]),
     "tools.0.function.returns", "Unrecognized"),
    ("schema not an object", with_tools(bad_schema("city: string")), "tools.0.function.parameters", "JSON schema object"),
    ("schema of a string", with_tools(bad_schema({"type": "string"})), "tools.0.function.parameters", "must be an object"),
    ("invalid schema", with_tools(bad_schema({"type": "object", "properties": {"x": {"type": "nonsense"}}})),
     "tools.0.function.parameters", "not a valid JSON schema"),
    ("tool_choice names a tool not offered",
     with_tools(tool_choice={"type": "function", "function": {"name": "launch"}}), "tool_choice", "not among the tools"),
    ("tool_choice of no known kind", with_tools(tool_choice="always"), "tool_choice", "use \"none\", \"auto\""),
    ("required with no tools", with_tools(None, tool_choice="required"), "tool_choice", "no tools were offered"),
    ("an unanswered call", with_tools(messages=[USER, ASSISTANT]), "messages.1.tool_calls", "'call_1' of messages.1 has no"),
    ("an answer after another turn", with_tools(messages=[USER, ASSISTANT, USER, ANSWER]), "messages.1.tool_calls",
     "has no tool message"),
    ("a tool message with no call", with_tools(messages=[USER, ANSWER]), "messages.1.tool_call_id",
     "did not make"),
    ("a tool message answering another id",
     with_tools(messages=[USER, ASSISTANT, {**ANSWER, "tool_call_id": "call_9"}]), "messages.2.tool_call_id", "did not make"),
    ("a tool message without an id", with_tools(messages=[USER, ASSISTANT, {"role": "tool", "content": "x"}]),
     "messages.2.tool_call_id", "without 'tool_call_id'"),
    ("arguments that are not JSON",
     with_tools(messages=[USER, {**ASSISTANT, "tool_calls": [{**CALL, "function": {"name": "get_weather",
                                                                                   "arguments": "{city: Bern"}}]}, ANSWER]),
     "messages.1.tool_calls.0.function.arguments", "not valid JSON"),
    ("arguments that are a list",
     with_tools(messages=[USER, {**ASSISTANT, "tool_calls": [{**CALL, "function": {"name": "get_weather",
                                                                                   "arguments": "[1]"}}]}, ANSWER]),
     "messages.1.tool_calls.0.function.arguments", "must be a JSON object"),
    ("a call without an id", with_tools(messages=[USER, {**ASSISTANT, "tool_calls": [{"type": "function",
                                                                                       "function": CALL["function"]}]}]),
     "messages.1.tool_calls.0.id", "is missing"),
    ("the same id twice", with_tools(messages=[USER, {**ASSISTANT, "tool_calls": [CALL, CALL]}, ANSWER, ANSWER]),
     "messages.1.tool_calls", "same id twice"),
    ("tool_calls on a user message", with_tools(messages=[{**USER, "tool_calls": [CALL]}]), "messages.0.tool_calls",
     "only for assistant"),
    ("tools with a JSON response_format", with_tools(response_format={"type": "json_object"}), "response_format",
     "either JSON or tool calls"),
    ("a forced call with ignore_eos", with_tools(tool_choice="required", ignore_eos=True), "ignore_eos",
     "forced tool call"),
    ("the old functions field", {"model": MODEL, "messages": [USER], "functions": [CALC["function"]]}, "functions",
     "not supported"),
]


@pytest.mark.parametrize("body, param, words", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_malformed_tool_requests(shared: str, body: dict[str, Any], param: str, words: str) -> None:
    r = httpx.post(f"{shared}/v1/chat/completions", json=body, timeout=30)
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert err["param"] == param and words in err["message"], err
    message = err["message"]
    assert "\n" not in message and message.endswith(".") and "Traceback" not in message


def test_a_complete_exchange_passes_and_the_server_goes_on(shared: str) -> None:
    body = with_tools(messages=[USER, ASSISTANT, ANSWER, {"role": "assistant", "content": "12 degrees."}, USER])
    r = httpx.post(f"{shared}/v1/chat/completions", json=body, timeout=30)
    assert r.status_code == 200, r.text
    args_as_object = [USER, {**ASSISTANT, "tool_calls": [{**CALL, "function": {"name": "get_weather",
                                                                               "arguments": {"city": "Bern"}}}]}, ANSWER]
    r = httpx.post(f"{shared}/v1/chat/completions", json=with_tools(messages=args_as_object), timeout=30)
    assert r.status_code == 200, r.text  # arguments as an object (as Ollama sends them) are taken too


def test_an_unconvertible_schema_is_a_400_naming_the_tool(shared: str) -> None:
    schema = {"type": "object", "properties": {"x": {"$ref": "#/$defs/missing"}}}
    r = httpx.post(f"{shared}/v1/chat/completions", json=with_tools(bad_schema(schema)), timeout=30)
    assert r.status_code == 400 and "tool 'f'" in r.json()["error"]["message"], r.text
