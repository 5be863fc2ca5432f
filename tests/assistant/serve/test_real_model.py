"""The server on the real engine and the bundled SmolLM2-135M-Instruct, through the `openai` package:
greedy replies identical streamed or not, JSON schema through a grammar, embeddings, KV-cache reuse."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import openai
import pytest

from assistant.engine.base import LoadOptions
from assistant.engine.llama import LlamaEngine
from assistant.serve.run import BackgroundServer
from assistant.serve.state import ServeConfig, ServeState
from assistant.serve.worker import EngineWorker
from tests.assistant.serve.conftest import MODEL

GREEDY = {"temperature": 0, "max_tokens": 48}


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    worker = EngineWorker(LlamaEngine(), LoadOptions(n_ctx=2048, n_threads=1))
    with BackgroundServer(ServeState(worker, ServeConfig(quiet=True))) as address:
        yield address


@pytest.fixture(scope="module")
def client(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{url}/v1", api_key="x", max_retries=0, timeout=120)


def ask(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def test_streamed_and_whole_replies_agree_and_stop_at_the_end_of_turn(client: openai.OpenAI) -> None:
    whole = client.chat.completions.create(model=MODEL, messages=ask("What is 2 + 2?"), **GREEDY)  # type: ignore[arg-type]
    text = whole.choices[0].message.content or ""
    assert "4" in text and "<|im_end|>" not in text and whole.choices[0].finish_reason == "stop"
    chunks = list(client.chat.completions.create(model=MODEL, messages=ask("What is 2 + 2?"), stream=True,  # type: ignore[call-overload]
                                                 stream_options={"include_usage": True}, **GREEDY))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == text
    usage = chunks[-1].usage
    assert usage is not None and usage.completion_tokens == whole.usage.completion_tokens  # type: ignore[union-attr]
    # the same prompt again: every prompt token came from the KV cache
    assert usage.prompt_tokens_details is not None and usage.prompt_tokens_details.cached_tokens == usage.prompt_tokens


def test_a_resent_conversation_reuses_the_kv_cache(client: openai.OpenAI) -> None:
    history = ask("Name a planet.")
    first = client.chat.completions.create(model=MODEL, messages=history, **GREEDY)  # type: ignore[arg-type]
    history += [{"role": "assistant", "content": first.choices[0].message.content or ""},
                {"role": "user", "content": "How far is it from the Sun?"}]
    second = client.chat.completions.create(model=MODEL, messages=history, **GREEDY)  # type: ignore[arg-type]
    assert first.usage is not None and second.usage is not None and second.usage.prompt_tokens_details is not None
    cached = second.usage.prompt_tokens_details.cached_tokens
    assert cached is not None and cached >= first.usage.prompt_tokens + first.usage.completion_tokens - 1
    assert cached < second.usage.prompt_tokens


def test_json_schema_output_parses_and_matches(client: openai.OpenAI) -> None:
    schema = {"type": "object", "additionalProperties": False, "required": ["name", "age"],
              "properties": {"name": {"type": "string", "maxLength": 24}, "age": {"type": "integer"}}}
    r = client.chat.completions.create(
        model=MODEL, messages=ask("Invent a person: give a name and an age."), temperature=0, max_tokens=80,
        response_format={"type": "json_schema", "json_schema": {"name": "person", "schema": schema}})
    data = json.loads(r.choices[0].message.content or "")
    assert set(data) == {"name", "age"} and isinstance(data["name"], str) and type(data["age"]) is int
    assert len(data["name"]) <= 24 and r.choices[0].finish_reason == "stop"
    r = client.chat.completions.create(model=MODEL, messages=ask("Describe a cat in JSON."), temperature=0, max_tokens=80,
                                       response_format={"type": "json_object"}, frequency_penalty=0.5)
    if r.choices[0].finish_reason == "stop":
        assert isinstance(json.loads(r.choices[0].message.content or ""), dict)
    else:
        assert (r.choices[0].message.content or "").lstrip().startswith("{")


def test_embeddings_are_the_models_own(client: openai.OpenAI) -> None:
    r = client.embeddings.create(model=MODEL, input=["The cat sat on the mat.", "The cat sat on the mat.", "Stock prices fell."])
    a, b, c = (d.embedding for d in r.data)
    assert len(a) == 576 and a == b and a != c  # SmolLM2-135M's embedding width
    assert abs(sum(x * x for x in a) - 1) < 1e-4
    assert r.usage.prompt_tokens > 10


def test_ignore_eos_gives_exactly_max_tokens(url: str) -> None:
    r = httpx.post(f"{url}/v1/chat/completions", timeout=120, json={
        "model": MODEL, "messages": ask("Say hi."), "max_tokens": 40, "ignore_eos": True, "temperature": 0}).json()
    assert r["usage"]["completion_tokens"] == 40 and r["choices"][0]["finish_reason"] == "length"


def test_text_completion_and_ollama_generate(client: openai.OpenAI, url: str) -> None:
    r = client.completions.create(model=MODEL, prompt="The capital of France is", max_tokens=5, temperature=0)
    assert r.choices[0].finish_reason == "length" and r.usage is not None and r.usage.completion_tokens == 5
    body = httpx.post(f"{url}/api/generate", timeout=120, json={
        "model": MODEL, "prompt": "Say hello.", "stream": False, "options": {"temperature": 0, "num_predict": 16}}).json()
    assert body["done"] and 0 < body["eval_count"] <= 16 and body["prompt_eval_count"] > 0 and body["response"]


def test_stop_strings_and_a_prompt_too_long(client: openai.OpenAI) -> None:
    full = client.chat.completions.create(model=MODEL, messages=ask("Write a long story about a dragon."), **GREEDY)  # type: ignore[arg-type]
    word = (full.choices[0].message.content or "").split()[4]
    cut = client.chat.completions.create(model=MODEL, messages=ask("Write a long story about a dragon."), stop=[word],
                                         **GREEDY)  # type: ignore[arg-type]
    assert cut.choices[0].finish_reason == "stop" and word not in (cut.choices[0].message.content or "")
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(model=MODEL, messages=ask("word " * 3000), max_tokens=4)
    assert err.value.code == "context_length_exceeded"
