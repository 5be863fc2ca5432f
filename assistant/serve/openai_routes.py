"""OpenAI's API: /v1/models, /v1/chat/completions, /v1/completions, /v1/embeddings."""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from assistant.engine.base import Chunk, Message
from assistant.serve.errors import bad_request, from_exception, unsupported
from assistant.serve.grammar import json_grammar
from assistant.serve.schemas import (
    ChatMessage,
    ChatRequest,
    CompletionRequest,
    EmbeddingRequest,
    Sampling,
    message_text,
    parse,
    stop_list,
)
from assistant.serve.state import ServeState
from assistant.serve.streaming import Watch, events, note_usage, read_json, run, run_embedding, sse
from assistant.serve.worker import Finished, Job

FINISH = {"eot": "stop", "stop": "stop", "length": "length", "cancelled": "stop"}
ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}


def usage(f: Finished) -> dict[str, Any]:
    s = f.stats
    return {"prompt_tokens": s.prompt_tokens, "completion_tokens": s.completion_tokens,
            "total_tokens": s.prompt_tokens + s.completion_tokens,
            "prompt_tokens_details": {"cached_tokens": max(0, s.prompt_tokens - s.prompt_evaluated)}}


def chat_messages(items: list[ChatMessage]) -> list[Message]:
    if not items:
        raise bad_request("'messages' is empty; send at least one user message.", param="messages")
    out: list[Message] = []
    for i, m in enumerate(items):
        where = f"messages.{i}"
        if m.role not in ROLES:
            raise unsupported(f"{where}.role={m.role}", "tool calls")
        for name in ("tool_calls", "function_call", "audio"):
            if (m.model_extra or {}).get(name):
                raise unsupported(f"{where}.{name}")
        out.append(Message(ROLES[m.role], message_text(m.content, where)))
    if not any(m.role == "user" for m in out):
        raise bad_request("'messages' has no user message; add one.", param="messages")
    return out


def sampling(body: Sampling) -> dict[str, Any]:
    return {"temperature": body.temperature, "top_p": body.top_p, "top_k": body.top_k, "min_p": body.min_p,
            "repeat_penalty": body.repeat_penalty, "seed": body.seed, "presence_penalty": body.presence_penalty,
            "frequency_penalty": body.frequency_penalty, "stop": stop_list(body.stop),
            "ignore_eos": body.ignore_eos or None}


def grammar_of(body: ChatRequest) -> str | None:
    fmt = body.response_format
    if fmt is None or fmt.type == "text":
        return None
    if fmt.type == "json_object":
        return json_grammar(None)
    if fmt.json_schema is None or fmt.json_schema.schema_ is None:
        raise bad_request("'response_format.json_schema.schema' is required for type json_schema.",
                          param="response_format.json_schema")
    return json_grammar(fmt.json_schema.schema_)


def error_event(exc: BaseException) -> bytes:
    return sse(from_exception(exc).openai_body())


# -- routes -------------------------------------------------------------------------------------
async def models(state: ServeState, request: Any) -> Any:
    from starlette.responses import JSONResponse

    created = int(state.started)
    return JSONResponse({"object": "list", "data": [
        {"id": name, "object": "model", "created": created, "owned_by": "local"} for name in state.model_names()]})


async def model(state: ServeState, request: Any) -> Any:
    from starlette.responses import JSONResponse

    name = request.path_params["name"]
    resolved = state.resolve(name)
    return JSONResponse({"id": resolved.name, "object": "model", "created": int(state.started), "owned_by": "local"})


async def chat_completions(state: ServeState, request: Any) -> Any:
    body: ChatRequest = parse(ChatRequest, await read_json(request, state.config.max_body))
    resolved = state.resolve(body.model)
    messages = state.with_default_system(resolved, chat_messages(body.messages))
    grammar = grammar_of(body)
    if grammar and body.ignore_eos:
        raise bad_request("'ignore_eos' cannot go with a JSON response_format: the grammar ends with the end of turn.",
                          param="ignore_eos")
    params = state.params(resolved, grammar=grammar, max_tokens=body.max_completion_tokens or body.max_tokens,
                          **sampling(body))
    job = Job("chat", resolved, messages=messages, params=params)
    cid, created = f"chatcmpl-{uuid.uuid4().hex[:24]}", int(time.time())
    include_usage = bool(body.stream_options and body.stream_options.include_usage)

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        out = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": resolved.name,
               "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}
        if include_usage:
            out["usage"] = None
        return out

    def whole(text: str, f: Finished) -> dict[str, Any]:
        return {"id": cid, "object": "chat.completion", "created": created, "model": resolved.name,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text, "refusal": None},
                             "logprobs": None, "finish_reason": FINISH.get(f.finish_reason, "stop")}],
                "usage": usage(f)}

    async def lines(watch: Watch, first: Any) -> AsyncIterator[bytes]:
        yield sse(chunk({"role": "assistant", "content": ""}))
        async for event in events(watch, first):
            if isinstance(event, Chunk):
                if event.text:
                    yield sse(chunk({"content": event.text}))
            elif isinstance(event, Finished):
                note_usage(request, event)
                yield sse(chunk({}, FINISH.get(event.finish_reason, "stop")))
                if include_usage:
                    yield sse({"id": cid, "object": "chat.completion.chunk", "created": created, "model": resolved.name,
                               "choices": [], "usage": usage(event)})
            else:
                yield error_event(event)
        yield b"data: [DONE]\n\n"

    return await run(state, request, job, body.stream, whole, lines)


async def completions(state: ServeState, request: Any) -> Any:
    body: CompletionRequest = parse(CompletionRequest, await read_json(request, state.config.max_body))
    prompts = [body.prompt] if isinstance(body.prompt, str) else body.prompt
    if len(prompts) != 1:
        raise unsupported("prompt", "one prompt per request, not a list of several")
    resolved = state.resolve(body.model)
    params = state.params(resolved, max_tokens=body.max_tokens, **sampling(body))
    job = Job("text", resolved, prompt=prompts[0], params=params)
    cid, created = f"cmpl-{uuid.uuid4().hex[:24]}", int(time.time())
    include_usage = bool(body.stream_options and body.stream_options.include_usage)

    def choice(text: str, finish: str | None) -> dict[str, Any]:
        return {"id": cid, "object": "text_completion", "created": created, "model": resolved.name,
                "choices": [{"text": text, "index": 0, "logprobs": None, "finish_reason": finish}]}

    def whole(text: str, f: Finished) -> dict[str, Any]:
        return {**choice(text, FINISH.get(f.finish_reason, "stop")), "usage": usage(f)}

    async def lines(watch: Watch, first: Any) -> AsyncIterator[bytes]:
        async for event in events(watch, first):
            if isinstance(event, Chunk):
                if event.text:
                    yield sse(choice(event.text, None))
            elif isinstance(event, Finished):
                note_usage(request, event)
                yield sse(choice("", FINISH.get(event.finish_reason, "stop")))
                if include_usage:
                    yield sse({**choice("", None), "choices": [], "usage": usage(event)})
            else:
                yield error_event(event)
        yield b"data: [DONE]\n\n"

    return await run(state, request, job, body.stream, whole, lines)


async def embeddings(state: ServeState, request: Any) -> Any:
    from starlette.responses import JSONResponse

    body: EmbeddingRequest = parse(EmbeddingRequest, await read_json(request, state.config.max_body))
    texts = [body.input] if isinstance(body.input, str) else body.input
    if not texts or any(not t for t in texts):
        raise bad_request("'input' must be a non-empty string or a list of non-empty strings.", param="input")
    resolved = state.resolve(body.model)
    job = Job("embed", resolved, texts=texts)
    event = await run_embedding(state, request, job)
    if event is None:
        return JSONResponse({}, status_code=499)
    data = [{"object": "embedding", "index": i, "embedding": encode(v, body.encoding_format)}
            for i, v in enumerate(event.vectors)]
    return JSONResponse({"object": "list", "data": data, "model": resolved.name,
                         "usage": {"prompt_tokens": event.tokens, "total_tokens": event.tokens}})


def encode(vector: list[float], encoding: str) -> Any:
    if encoding == "float":
        return vector
    import numpy as np

    return base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode("ascii")


ROUTES: list[tuple[str, Any, list[str]]] = [
    ("/v1/models", models, ["GET"]),
    ("/v1/models/{name:path}", model, ["GET"]),
    ("/v1/chat/completions", chat_completions, ["POST"]),
    ("/v1/completions", completions, ["POST"]),
    ("/v1/embeddings", embeddings, ["POST"]),
]
