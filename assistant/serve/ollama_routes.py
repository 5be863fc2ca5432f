"""Ollama's API, for the clients that speak it: /api/tags, /api/ps, /api/show, /api/chat, /api/generate
(NDJSON streams by default, as Ollama does), /api/embed and /api/embeddings."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

from assistant.engine.base import Chunk, Message
from assistant.serve.errors import bad_request, from_exception
from assistant.serve.grammar import json_grammar
from assistant.serve.schemas import (
    OllamaBase,
    OllamaChat,
    OllamaEmbed,
    OllamaGenerate,
    OllamaShow,
    parse,
    stop_list,
)
from assistant.serve.state import ServeState, parse_duration
from assistant.serve.streaming import Watch, events, ndjson, note_usage, read_json, run, run_embedding
from assistant.serve.tool_calls import ToolPlan, ollama_messages, plan
from assistant.serve.tool_replies import CallReader, ollama_message, ollama_pieces
from assistant.serve.worker import Finished, Job

NDJSON = "application/x-ndjson"
OPTION_KEYS = {"temperature": "temperature", "top_p": "top_p", "top_k": "top_k", "min_p": "min_p",
               "repeat_penalty": "repeat_penalty", "seed": "seed", "presence_penalty": "presence_penalty",
               "frequency_penalty": "frequency_penalty"}
FINISH = {"eot": "stop", "stop": "stop", "length": "length", "cancelled": "stop", "load": "load", "unload": "unload"}


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat().replace("+00:00", "Z")


def _details(info: Any) -> dict[str, Any]:
    from models.views import human_params

    return {"parent_model": "", "format": "gguf", "family": info.arch, "families": [info.arch],
            "parameter_size": human_params(info.n_params), "quantization_level": info.quant}


def options(state: ServeState, body: OllamaBase, resolved: Any) -> Any:
    opts = dict(body.options or {})
    sampling = {ours: opts[theirs] for theirs, ours in OPTION_KEYS.items() if opts.get(theirs) is not None}
    for key, value in sampling.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise bad_request(f"Invalid 'options.{key}': a number is needed.", param=f"options.{key}")
        if key in ("top_k", "seed"):
            if value != int(value):
                raise bad_request(f"Invalid 'options.{key}': a whole number is needed.", param=f"options.{key}")
            sampling[key] = int(value)
    predict = opts.get("num_predict")
    if predict is not None and (isinstance(predict, bool) or not isinstance(predict, int)):
        raise bad_request("Invalid 'options.num_predict': a whole number is needed.", param="options.num_predict")
    stop = opts.get("stop")
    if stop is not None and not (isinstance(stop, str) or (isinstance(stop, list) and all(isinstance(s, str) for s in stop))):
        raise bad_request("Invalid 'options.stop': a string or a list of strings is needed.", param="options.stop")
    grammar = None
    if body.format == "json":
        grammar = json_grammar(None)
    elif isinstance(body.format, dict):
        grammar = json_grammar(body.format)
    elif body.format not in (None, ""):
        raise bad_request("'format' is \"json\" or a JSON schema object.", param="format")
    return state.params(resolved, grammar=grammar, stop=stop_list(stop),
                        max_tokens=predict if predict is not None and predict > 0 else None, **sampling)


def keep_alive(body: Any) -> float | None:
    if body.keep_alive is None:
        return None
    try:
        return parse_duration(body.keep_alive)
    except ValueError as exc:
        raise bad_request(f"Invalid 'keep_alive': {exc}.", param="keep_alive") from None


def final(resolved: Any, f: Finished) -> dict[str, Any]:
    s = f.stats
    prompt_ns = int(s.time_to_first_token * 1e9)
    return {"done": True, "done_reason": FINISH.get(f.finish_reason, "stop"),
            "total_duration": int(f.total_seconds * 1e9), "load_duration": int(f.load_seconds * 1e9),
            "prompt_eval_count": s.prompt_tokens, "prompt_eval_duration": prompt_ns,
            "eval_count": s.completion_tokens, "eval_duration": max(0, int(s.total_seconds * 1e9) - prompt_ns)}


async def generation(state: ServeState, request: Any, job: Job, stream: bool, key: str,
                     tools: ToolPlan | None = None) -> Any:
    """/api/chat (``key`` "message") and /api/generate ("response"); with tools, calls come in a line's
    ``message.tool_calls`` once complete."""
    name = job.model.name

    def piece(text: str) -> Any:
        return {"role": "assistant", "content": text} if key == "message" else text

    def whole(text: str, f: Finished) -> dict[str, Any]:
        body = ollama_message(text, CallReader(tools) if tools else None) if key == "message" else text
        return {"model": name, "created_at": now(), key: body, **final(job.model, f)}

    async def lines(watch: Watch, first: Any) -> AsyncIterator[bytes]:
        reader = CallReader(tools) if tools else None
        async for event in events(watch, first):
            if isinstance(event, Chunk):
                if reader is not None:
                    for message in ollama_pieces(reader.feed(event.text) if event.text else []):
                        yield ndjson({"model": name, "created_at": now(), key: message, "done": False})
                elif event.text:
                    yield ndjson({"model": name, "created_at": now(), key: piece(event.text), "done": False})
            elif isinstance(event, Finished):
                note_usage(request, event)
                for message in ollama_pieces(reader.finish() if reader is not None else []):
                    yield ndjson({"model": name, "created_at": now(), key: message, "done": False})
                yield ndjson({"model": name, "created_at": now(), key: piece(""), **final(job.model, event)})
            else:
                yield ndjson(from_exception(event).ollama_body())

    return await run(state, request, job, stream, whole, lines, NDJSON)


async def chat(state: ServeState, request: Any) -> Any:
    body: OllamaChat = parse(OllamaChat, await read_json(request, state.config.max_body))
    resolved = state.resolve(body.model)
    params = options(state, body, resolved)
    ttl = keep_alive(body)
    if not body.messages:  # Ollama's way to load (or, with keep_alive 0, unload) a model
        job = Job("load", resolved, keep_alive=ttl, unload=ttl == 0)
        return await generation(state, request, job, False, "message")
    messages = ollama_messages(body.messages)
    tools = plan(body.tools, lazy=state.config.tool_grammar == "lazy")
    if tools is not None and params.grammar:
        raise bad_request("'format' cannot go with tools: a reply is either JSON or tool calls; drop one of them.",
                          param="format")
    params.tools = tools.tools if tools else None
    job = Job("chat", resolved, messages=state.with_default_system(resolved, messages), params=params, keep_alive=ttl,
              prepare=tools.prepare if tools else None)
    return await generation(state, request, job, body.stream, "message", tools)


async def generate(state: ServeState, request: Any) -> Any:
    body: OllamaGenerate = parse(OllamaGenerate, await read_json(request, state.config.max_body))
    resolved = state.resolve(body.model)
    params = options(state, body, resolved)
    ttl = keep_alive(body)
    if not body.prompt:
        job = Job("load", resolved, keep_alive=ttl, unload=ttl == 0)
        return await generation(state, request, job, False, "response")
    if body.raw:
        job = Job("text", resolved, prompt=body.prompt, params=params, keep_alive=ttl)
    else:
        messages = ([Message("system", body.system)] if body.system else []) + [Message("user", body.prompt)]
        job = Job("chat", resolved, messages=state.with_default_system(resolved, messages), params=params, keep_alive=ttl)
    return await generation(state, request, job, body.stream, "response")


async def embed(state: ServeState, request: Any) -> Any:
    from starlette.responses import JSONResponse

    body: OllamaEmbed = parse(OllamaEmbed, await read_json(request, state.config.max_body))
    legacy = request.url.path == "/api/embeddings"
    source = body.prompt if legacy else body.input
    texts = [source] if isinstance(source, str) else list(source or [])
    if not texts or any(not t for t in texts):
        raise bad_request("'input' must be a non-empty string or a list of them.", param="prompt" if legacy else "input")
    resolved = state.resolve(body.model)
    job = Job("embed", resolved, texts=texts, keep_alive=keep_alive(body))
    event = await run_embedding(state, request, job)
    if event is None:
        return JSONResponse({}, status_code=499)
    if legacy:
        return JSONResponse({"embedding": event.vectors[0]})
    return JSONResponse({"model": resolved.name, "embeddings": event.vectors,
                         "load_duration": int(event.load_seconds * 1e9), "prompt_eval_count": event.tokens})


async def tags(state: ServeState, request: Any) -> Any:
    from starlette.responses import JSONResponse

    models = []
    for name in state.model_names():
        try:
            info, resolved = _header(state, name)
        except Exception:  # a model whose file is gone or broken is left out of the list, not an error
            continue
        stat = resolved.path.stat()
        digest = resolved.manifest.sha256 if resolved.manifest and resolved.manifest.sha256 else ""
        models.append({"name": name, "model": name, "size": stat.st_size, "digest": digest,
                       "modified_at": dt.datetime.fromtimestamp(stat.st_mtime, dt.timezone.utc).isoformat(),
                       "details": _details(info)})
    return JSONResponse({"models": models})


def _header(state: ServeState, name: str) -> Any:
    from models.gguf_file import read_gguf

    resolved = state.resolve(name)
    return _cached_header(resolved.path, resolved.path.stat().st_mtime, lambda p: read_gguf(p, vocab=False)), resolved


_HEADERS: dict[tuple[Any, float], Any] = {}


def _cached_header(path: Any, mtime: float, read: Any) -> Any:
    key = (path, mtime)
    if key not in _HEADERS:
        _HEADERS[key] = read(path)
    return _HEADERS[key]


async def ps(state: ServeState, request: Any) -> Any:
    from starlette.responses import JSONResponse

    loaded = state.worker.loaded
    if loaded is None:
        return JSONResponse({"models": []})
    info, _ = _header(state, loaded.name)
    until = state.worker.unload_at()
    expires = dt.datetime.fromtimestamp(until, dt.timezone.utc) if until else dt.datetime(2318, 1, 1, tzinfo=dt.timezone.utc)
    return JSONResponse({"models": [{"name": loaded.name, "model": loaded.name, "size": info.file_size,
                                     "digest": "", "details": _details(info), "expires_at": expires.isoformat(),
                                     "size_vram": 0, "context_length": state.worker.engine.info.context_length
                                     if state.worker.engine.info else 0}]})


async def show(state: ServeState, request: Any) -> Any:
    from starlette.responses import JSONResponse

    from models.views import describe

    body: OllamaShow = parse(OllamaShow, await read_json(request, state.config.max_body))
    name = body.model or body.name
    if not name:
        raise bad_request("'model' is required.", param="model")
    resolved = state.resolve(name)
    info, _ = _header(state, resolved.name)
    d = describe(str(resolved.path) if resolved.source == "path" else resolved.name)
    params = "\n".join(f"{k} {v}" for k, v in d["defaults"].items() if k != "system")
    model_info = {"general.architecture": info.arch, "general.parameter_count": info.n_params,
                  f"{info.arch}.context_length": info.context_length}
    return JSONResponse({"license": d["license"] or "", "modelfile": f"FROM {d['path']}\n", "parameters": params,
                         "template": d["template"] or "", "system": d["defaults"].get("system", ""),
                         "details": _details(info), "model_info": model_info, "capabilities": ["completion", "embedding"],
                         "modified_at": dt.datetime.fromtimestamp(resolved.path.stat().st_mtime, dt.timezone.utc).isoformat()})


ROUTES: list[tuple[str, Any, list[str]]] = [
    ("/api/tags", tags, ["GET"]),
    ("/api/ps", ps, ["GET"]),
    ("/api/show", show, ["POST"]),
    ("/api/chat", chat, ["POST"]),
    ("/api/generate", generate, ["POST"]),
    ("/api/embed", embed, ["POST"]),
    ("/api/embeddings", embed, ["POST"]),
]
