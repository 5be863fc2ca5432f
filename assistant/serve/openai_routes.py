"""OpenAI's API: /v1/models, /v1/chat/completions, /v1/completions, /v1/embeddings."""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from assistant.engine.base import Chunk
from assistant.serve.errors import bad_request, from_exception, unsupported
from assistant.serve.grammar import json_grammar
from assistant.serve.schemas import (
    ChatRequest,
    CompletionRequest,
    EmbeddingRequest,
    Sampling,
    parse,
    stop_list,
)
from assistant.serve.state import ServeState
from assistant.serve.streaming import Watch, events, note_usage, read_json, run, run_embedding, sse
from assistant.serve.tool_calls import ToolPlan, openai_messages, plan
from assistant.serve.tool_replies import CallReader, finish_reason, openai_deltas, openai_message
from assistant.serve.worker import Finished, Job
from assistant.tools.deltas import OpenAIDeltas

FINISH = {"eot": "stop", "stop": "stop", "length": "length", "cancelled": "stop"}


def usage(f: Finished) -> dict[str, Any]:
    s = f.stats
    return {"prompt_tokens": s.prompt_tokens, "completion_tokens": s.completion_tokens,
            "total_tokens": s.prompt_tokens + s.completion_tokens,
            "prompt_tokens_details": {"cached_tokens": max(0, s.prompt_tokens - s.prompt_evaluated)}}


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


def tool_plan(state: ServeState, body: ChatRequest, grammar: str | None) -> ToolPlan | None:
    tools = plan(body.tools, body.tool_choice, body.parallel_tool_calls, lazy=state.config.tool_grammar == "lazy")
    if tools is not None and grammar:
        raise bad_request("'response_format' cannot go with tools: a reply is either JSON or tool calls; send "
                          "\"tool_choice\": \"none\" or drop one of them.", param="response_format")
    if tools is not None and tools.choice != "auto" and body.ignore_eos:
        raise bad_request("'ignore_eos' cannot go with a forced tool call: its grammar ends with the end of turn.",
                          param="ignore_eos")
    return tools


async def chat_completions(state: ServeState, request: Any) -> Any:
    body: ChatRequest = parse(ChatRequest, await read_json(request, state.config.max_body))
    resolved = state.resolve(body.model)
    messages = state.with_default_system(resolved, openai_messages(body.messages))
    grammar = grammar_of(body)
    if grammar and body.ignore_eos:
        raise bad_request("'ignore_eos' cannot go with a JSON response_format: the grammar ends with the end of turn.",
                          param="ignore_eos")
    tools = tool_plan(state, body, grammar)
    params = state.params(resolved, grammar=grammar, max_tokens=body.max_completion_tokens or body.max_tokens,
                          **sampling(body))
    params.tools = tools.tools if tools else None
    job = Job("chat", resolved, messages=messages, params=params, prepare=tools.prepare if tools else None)
    cid, created = f"chatcmpl-{uuid.uuid4().hex[:24]}", int(time.time())
    include_usage = bool(body.stream_options and body.stream_options.include_usage)

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        out = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": resolved.name,
               "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}
        if include_usage:
            out["usage"] = None
        return out

    def whole(text: str, f: Finished) -> dict[str, Any]:
        reader = CallReader(tools) if tools else None
        message = openai_message(text, reader)
        return {"id": cid, "object": "chat.completion", "created": created, "model": resolved.name,
                "choices": [{"index": 0, "message": message, "logprobs": None,
                             "finish_reason": finish_reason(reader, FINISH.get(f.finish_reason, "stop"))}],
                "usage": usage(f)}

    async def lines(watch: Watch, first: Any) -> AsyncIterator[bytes]:
        reader, deltas = (CallReader(tools), OpenAIDeltas()) if tools else (None, None)
        yield sse(chunk({"role": "assistant", "content": ""}))
        async for event in events(watch, first):
            if isinstance(event, Chunk):
                if reader is None or deltas is None:
                    if event.text:
                        yield sse(chunk({"content": event.text}))
                    continue
                for delta in openai_deltas(reader.feed(event.text) if event.text else [], deltas):
                    yield sse(chunk(delta))
            elif isinstance(event, Finished):
                note_usage(request, event)
                if reader is not None and deltas is not None:
                    for delta in openai_deltas(reader.finish(), deltas):
                        yield sse(chunk(delta))
                yield sse(chunk({}, finish_reason(reader, FINISH.get(event.finish_reason, "stop"))))
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
