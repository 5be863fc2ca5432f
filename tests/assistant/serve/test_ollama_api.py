"""Ollama's routes over httpx: NDJSON streams (the default), done, counts and durations."""

from __future__ import annotations

import datetime as dt
import json

import httpx

from assistant.engine.fake import ScriptedReply
from tests.assistant.serve.conftest import MODEL, ScriptEngine, serving, wait_for


def lines(response: httpx.Response) -> list[dict]:
    return [json.loads(line) for line in response.text.splitlines() if line.strip()]


def test_version_tags_show_ps(server: str) -> None:
    assert httpx.get(f"{server}/api/version").json()["version"]
    tags = httpx.get(f"{server}/api/tags").json()["models"]
    smol = next(m for m in tags if m["name"] == MODEL)
    assert smol["size"] > 50_000_000 and smol["details"]["format"] == "gguf"
    assert smol["details"]["family"] == "llama" and smol["details"]["quantization_level"] == "Q4_1"
    shown = httpx.post(f"{server}/api/show", json={"model": MODEL}).json()
    assert "<|im_start|>" in shown["template"] and shown["details"]["parameter_size"] == "135M"
    assert shown["model_info"]["general.architecture"] == "llama"
    assert httpx.get(f"{server}/api/ps").json() == {"models": []}
    assert httpx.post(f"{server}/api/show", json={"model": "nope"}).status_code == 404


def test_chat_streams_ndjson_by_default(engine: ScriptEngine, server: str) -> None:
    engine.queue("three little words")
    r = httpx.post(f"{server}/api/chat", json={"model": MODEL, "messages": [{"role": "user", "content": "hi"}],
                                               "options": {"temperature": 0, "top_k": 3, "seed": 1, "num_predict": 10}})
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/x-ndjson")
    events = lines(r)
    assert [e["done"] for e in events] == [False, False, False, True]
    assert "".join(e["message"]["content"] for e in events) == "three little words"
    last = events[-1]
    assert last["done_reason"] == "stop" and last["eval_count"] == 3 and last["prompt_eval_count"] > 0
    for key in ("total_duration", "load_duration", "prompt_eval_duration", "eval_duration"):
        assert isinstance(last[key], int) and last[key] >= 0
    assert last["total_duration"] >= last["eval_duration"]
    params = engine.calls[-1][1]
    assert (params.temperature, params.top_k, params.seed, params.max_tokens) == (0, 3, 1, 10)
    ps = httpx.get(f"{server}/api/ps").json()["models"]
    assert [m["name"] for m in ps] == [MODEL]
    assert dt.datetime.fromisoformat(ps[0]["expires_at"]) > dt.datetime.now(dt.timezone.utc)  # ollama-python parses it


def test_chat_and_generate_without_streaming(engine: ScriptEngine, server: str) -> None:
    engine.queue("one two three", "generated text", ScriptedReply("raw text", finish_reason="eot"))
    r = httpx.post(f"{server}/api/chat", json={"model": f"{MODEL}:latest", "stream": False,
                                               "messages": [{"role": "user", "content": "hi"}], "options": {"num_predict": 2}})
    body = r.json()
    assert body["message"] == {"role": "assistant", "content": "one two"} and body["done_reason"] == "length"
    r = httpx.post(f"{server}/api/generate", json={"model": MODEL, "prompt": "Why?", "system": "Be terse.", "stream": False})
    body = r.json()
    assert body["response"] == "generated text" and body["done"] is True and body["eval_count"] == 2
    assert [(m.role, m.content) for m in engine.calls[-1][0]] == [("system", "Be terse."), ("user", "Why?")]
    r = httpx.post(f"{server}/api/generate", json={"model": MODEL, "prompt": "<raw>", "raw": True, "stream": False})
    assert r.json()["response"] == "raw text" and engine.calls[-1][0][-1].content == "<raw>"


def test_generate_streams_and_stop_option(engine: ScriptEngine, server: str) -> None:
    engine.queue("alpha beta")
    events = lines(httpx.post(f"{server}/api/generate", json={"model": MODEL, "prompt": "go", "options": {"stop": ["END"]}}))
    assert "".join(e["response"] for e in events) == "alpha beta" and events[-1]["done"]
    assert engine.calls[-1][1].stop == ["END"]


def test_empty_prompt_loads_and_keep_alive_zero_unloads(engine: ScriptEngine, server: str) -> None:
    r = httpx.post(f"{server}/api/generate", json={"model": MODEL})
    assert r.json()["done_reason"] == "load" and r.json()["done"] is True
    assert engine.info is not None
    r = httpx.post(f"{server}/api/generate", json={"model": MODEL, "keep_alive": 0})
    assert r.json()["done_reason"] == "unload"
    wait_for(lambda: engine.info is None, "the model to unload")


def test_embed_routes(server: str) -> None:
    r = httpx.post(f"{server}/api/embed", json={"model": MODEL, "input": ["a", "bb"]}).json()
    assert len(r["embeddings"]) == 2 and r["model"] == MODEL
    old = httpx.post(f"{server}/api/embeddings", json={"model": MODEL, "prompt": "a"}).json()
    assert old["embedding"] == r["embeddings"][0]


def test_ollama_errors_have_ollamas_shape(engine: ScriptEngine) -> None:
    with serving(engine) as (url, _):
        r = httpx.post(f"{url}/api/chat", json={"model": "missing", "messages": [{"role": "user", "content": "x"}]})
        assert r.status_code == 404 and "Unknown model 'missing'" in r.json()["error"]
        r = httpx.post(f"{url}/api/chat", json={"model": MODEL, "messages": [{"role": "user", "content": "x"}],
                                                "options": {"temperature": "hot"}})
        assert r.status_code == 400 and "options.temperature" in r.json()["error"]
        r = httpx.post(f"{url}/api/chat", json={"model": MODEL, "tools": [{"type": "function"}],
                                                "messages": [{"role": "user", "content": "x"}]})
        assert r.status_code == 400 and "'tools.0.function' is missing" in r.json()["error"]
        r = httpx.post(f"{url}/api/generate", json={"model": MODEL, "prompt": "x", "keep_alive": "soon"})
        assert r.status_code == 400 and "keep_alive" in r.json()["error"]
        r = httpx.post(f"{url}/api/generate", json={"model": MODEL, "prompt": "x", "format": "yaml"})
        assert r.status_code == 400 and "format" in r.json()["error"]
