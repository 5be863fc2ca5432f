"""Tools on the real engine: the bundled SmolLM2-135M-Instruct with its tools template (Hermes-style
<tool_call>[...]</tool_call>), greedy, through the `openai` package."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from assistant.engine.base import LoadOptions
from assistant.engine.llama import LlamaEngine
from assistant.serve.run import BackgroundServer
from assistant.serve.state import ServeConfig, ServeState
from assistant.serve.worker import EngineWorker
from assistant.tools.deltas import merge_deltas
from assistant.tools.validate import schema_problem
from tests.assistant.serve.conftest import MODEL

TOOLS: Any = [
    {"type": "function", "function": {"name": "get_weather", "description": "Get the current weather in a city.",
                                      "parameters": {"type": "object", "properties": {"city": {"type": "string", "maxLength": 40}},
                                                     "required": ["city"]}}},
    {"type": "function", "function": {"name": "calculator", "description": "Evaluate an arithmetic expression.",
                                      "parameters": {"type": "object", "properties": {"expression": {"type": "string", "maxLength": 60}},
                                                     "required": ["expression"]}}},
]
SCHEMAS = {t["function"]["name"]: t["function"]["parameters"] for t in TOOLS}
GREEDY: Any = {"temperature": 0, "max_tokens": 80}


@pytest.fixture(scope="module")
def client() -> Iterator[openai.OpenAI]:
    worker = EngineWorker(LlamaEngine(), LoadOptions(n_ctx=2048, n_threads=1))
    with BackgroundServer(ServeState(worker, ServeConfig(quiet=True))) as url:
        yield openai.OpenAI(base_url=f"{url}/v1", api_key="x", max_retries=0, timeout=300)


def ask(text: str) -> Any:
    return [{"role": "user", "content": text}]


def test_a_forced_call_is_valid_streamed_or_not(client: openai.OpenAI) -> None:
    messages = ask("What is the weather like in Paris today?")
    r = client.chat.completions.create(model=MODEL, messages=messages, tools=TOOLS, tool_choice="required", **GREEDY)
    choice = r.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    [call] = choice.message.tool_calls or []
    args = json.loads(call.function.arguments)  # type: ignore[union-attr]
    assert call.function.name in SCHEMAS and schema_problem(call.function.name, SCHEMAS[call.function.name], args) is None  # type: ignore[union-attr]
    chunks = list(client.chat.completions.create(model=MODEL, messages=messages, tools=TOOLS, tool_choice="required",
                                                 stream=True, **GREEDY))
    items = [i.model_dump(exclude_none=True) for c in chunks if c.choices for i in c.choices[0].delta.tool_calls or []]
    [merged] = merge_deltas(items)
    assert (merged["function"]["name"], merged["function"]["arguments"]) == (call.function.name, call.function.arguments)  # type: ignore[union-attr]
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_a_named_function_and_a_follow_up(client: openai.OpenAI) -> None:
    messages = ask("What is 12 times 7?")
    r = client.chat.completions.create(model=MODEL, messages=messages, tools=TOOLS, temperature=0, max_tokens=200,
                                       tool_choice={"type": "function", "function": {"name": "calculator"}})
    [call] = r.choices[0].message.tool_calls or []
    assert call.function.name == "calculator"  # type: ignore[union-attr]
    assert isinstance(json.loads(call.function.arguments)["expression"], str)  # type: ignore[union-attr]
    follow = [*messages, r.choices[0].message.model_dump(exclude_none=True),
              {"role": "tool", "tool_call_id": call.id, "content": "84"}]
    answer = client.chat.completions.create(model=MODEL, messages=follow, tools=TOOLS, tool_choice="none", **GREEDY)
    assert answer.choices[0].finish_reason in ("stop", "length") and answer.choices[0].message.content


def test_auto_with_the_lazy_grammar_answers_well_formed(client: openai.OpenAI) -> None:
    for question in ("What's the weather in Oslo?", "Write a haiku about the sea."):
        r = client.chat.completions.create(model=MODEL, messages=ask(question), tools=TOOLS, **GREEDY)
        choice = r.choices[0]
        assert choice.finish_reason in ("stop", "length", "tool_calls")
        for call in choice.message.tool_calls or []:
            assert call.function.name in SCHEMAS and isinstance(json.loads(call.function.arguments), dict)  # type: ignore[union-attr]
        assert choice.message.tool_calls or choice.message.content is not None
