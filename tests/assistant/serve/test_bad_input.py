"""Nothing a request sends gets a 5xx or stops the server: each is a 4xx in OpenAI's error shape."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.assistant.serve.conftest import MODEL, ScriptEngine, serving

USER = [{"role": "user", "content": "hi"}]


@pytest.fixture(scope="module")
def shared() -> Iterator[str]:
    """One server for the stateless cases below (a server per case would only add start-up time)."""
    with serving(ScriptEngine()) as (url, _):
        yield url


def post(url: str, body: Any = None, *, content: Any = None, path: str = "/v1/chat/completions") -> httpx.Response:
    if content is not None:
        return httpx.post(url + path, content=content, headers={"content-type": "application/json"})
    return httpx.post(url + path, json=body)


def assert_error(r: httpx.Response, status: int, *words: str, param: str | None = None, code: str | None = None) -> None:
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert set(err) == {"message", "type", "code", "param"} and isinstance(err["message"], str)
    for word in words:
        assert word in err["message"], err["message"]
    if param is not None:
        assert err["param"] == param
    if code is not None:
        assert err["code"] == code


@pytest.mark.parametrize("raw, words", [
    (b"{not json", ["not valid JSON"]),
    (b"", ["empty"]),
    (b"[1, 2]", ["JSON object"]),
    (b"\xff\xfe", ["not UTF-8"]),
])
def test_malformed_bodies(shared: str, raw: bytes, words: list[str]) -> None:
    assert_error(post(shared, content=raw), 400, *words)


@pytest.mark.parametrize("body, status, param, code", [
    ({"model": MODEL, "messages": USER, "temperature": "hot"}, 400, "temperature", None),
    ({"model": MODEL, "messages": USER, "temperature": 3}, 400, "temperature", None),
    ({"model": MODEL, "messages": USER, "max_tokens": 0}, 400, "max_tokens", None),
    ({"model": MODEL, "messages": "hi"}, 400, "messages", None),
    ({"model": MODEL, "messages": [{"role": "wizard", "content": "x"}]}, 400, "messages.0.role", None),
    ({"model": MODEL, "messages": [{"role": "user", "content": 5}]}, 400, None, None),
    ({"model": MODEL}, 400, "messages", None),
    ({"model": MODEL, "messages": []}, 400, "messages", None),
    ({"model": MODEL, "messages": [{"role": "system", "content": "only a system prompt"}]}, 400, "messages", None),
    ({"model": "no-such-model", "messages": USER}, 404, "model", "model_not_found"),
    ({"model": "/etc/passwd.gguf", "messages": USER}, 404, "model", "model_not_found"),
    ({"model": MODEL, "messages": USER, "functions": [{"name": "f"}]}, 400, "functions", "unsupported_parameter"),
    ({"model": MODEL, "messages": USER, "n": 2}, 400, "n", "unsupported_parameter"),
    ({"model": MODEL, "messages": USER, "logit_bias": {"50256": -100}}, 400, "logit_bias", "unsupported_parameter"),
    ({"model": MODEL, "messages": USER, "logprobs": True}, 400, "logprobs", "unsupported_parameter"),
    ({"model": MODEL, "messages": USER, "frobnicate": 1}, 400, "frobnicate", "unknown_parameter"),
    ({"model": MODEL, "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]},
     400, "messages.0.content.0.type=image_url", "unsupported_parameter"),
    ({"model": MODEL, "messages": [{"role": "tool", "content": "x", "tool_call_id": "1"}]}, 400, "messages.0.tool_call_id", None),
    ({"model": MODEL, "messages": [{"role": "function", "content": "x", "name": "f"}]}, 400, "messages.0.role=function", None),
    ({"model": MODEL, "messages": USER, "response_format": {"type": "json_schema"}}, 400, "response_format.json_schema", None),
    ({"model": MODEL, "messages": USER, "response_format": {"type": "xml"}}, 400, "response_format.type", None),
    ({"model": MODEL, "messages": USER, "stop": ["s"] * 17}, 400, "stop", None),
    ({"model": MODEL, "messages": USER, "ignore_eos": True, "response_format": {"type": "json_object"}}, 400, "ignore_eos", None),
])
def test_invalid_chat_requests(shared: str, body: dict, status: int, param: str | None, code: str | None) -> None:
    assert_error(post(shared, body), status, param=param, code=code)


def test_unsupported_fields_are_named_and_harmless_ones_pass(engine: ScriptEngine, server: str) -> None:
    r = post(server, {"model": MODEL, "messages": USER, "functions": [{"name": "f"}]})
    assert "'functions' is not supported" in r.json()["error"]["message"]
    ok = post(server, {"model": MODEL, "messages": USER, "n": 1, "tools": [], "tool_choice": "none", "logprobs": False,
                       "user": "u", "store": False, "metadata": {}, "parallel_tool_calls": None})
    assert ok.status_code == 200, ok.text


def test_other_routes_validate_too(server: str) -> None:
    assert_error(post(server, {"model": MODEL, "prompt": ["a", "b"]}, path="/v1/completions"), 400, param="prompt")
    assert_error(post(server, {"model": MODEL, "prompt": "x", "echo": True}, path="/v1/completions"), 400, param="echo")
    assert_error(post(server, {"model": MODEL}, path="/v1/completions"), 400, param="prompt")
    assert_error(post(server, {"model": MODEL, "input": ""}, path="/v1/embeddings"), 400, param="input")
    assert_error(post(server, {"model": MODEL, "input": [1, 2]}, path="/v1/embeddings"), 400)
    assert_error(post(server, {"model": MODEL, "input": "x", "dimensions": 8}, path="/v1/embeddings"), 400, param="dimensions")
    assert_error(httpx.get(f"{server}/v1/chat/completions"), 405)
    assert_error(httpx.get(f"{server}/v1/nothing-here"), 404)


def test_a_prompt_longer_than_the_context() -> None:
    with serving(ScriptEngine(n_ctx=64)) as (url, _):
        long = " ".join(["word"] * 100)
        r = post(url, {"model": MODEL, "messages": [{"role": "user", "content": long}]})
        assert_error(r, 400, "context", code="context_length_exceeded")
        assert post(url, {"model": MODEL, "messages": USER}).status_code == 200


def test_body_over_the_limit(engine: ScriptEngine) -> None:
    with serving(engine, max_body=64 * 1024) as (url, _):
        big = {"model": MODEL, "messages": [{"role": "user", "content": "x" * 100_000}]}
        assert_error(post(url, big), 413, "limit", code="request_too_large")

        def chunks():  # no Content-Length: counted as it arrives
            yield b'{"model": "' + MODEL.encode() + b'", "messages": [{"role": "user", "content": "'
            for _ in range(20):
                yield b"y" * 10_000
            yield b'"}]}'

        r = httpx.post(f"{url}/v1/chat/completions", content=chunks())
        assert_error(r, 413, code="request_too_large")
        assert post(url, {"model": MODEL, "messages": USER}).status_code == 200


def test_errors_from_the_engine_are_4xx_and_the_server_goes_on(engine: ScriptEngine, server: str) -> None:
    from assistant.engine.fake import ScriptedReply

    engine.queue(ScriptedReply("", error="The engine refused this one."))
    assert_error(post(server, {"model": MODEL, "messages": USER}), 400, "refused this one")
    engine.queue(ScriptedReply("", error="Broken mid-stream."))
    r = post(server, {"model": MODEL, "messages": USER, "stream": True})
    assert r.status_code == 400  # the error came before the first token: still a status
    assert post(server, {"model": MODEL, "messages": USER}).json()["choices"][0]["message"]["content"] == "You said: hi"
