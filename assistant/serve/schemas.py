"""Request bodies, validated by pydantic. Unknown fields are kept (``extra="allow"``) so that the routes
can answer 400 naming them: an unsupported field is never silently ignored."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from assistant.serve.errors import ApiError, bad_request, unsupported


class Body(BaseModel):
    model_config = ConfigDict(extra="allow")


# -- OpenAI -------------------------------------------------------------------------------------
class StreamOptions(Body):
    include_usage: bool = False


class JsonSchemaFormat(Body):
    name: str = "response"
    schema_: dict[str, Any] | None = Field(None, alias="schema")
    strict: bool | None = None
    description: str | None = None


class ResponseFormat(Body):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: JsonSchemaFormat | None = None


class ChatMessage(Body):
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[dict[str, Any]] | None = None
    name: str | None = None
    tool_calls: list[Any] | None = None  # an assistant's calls (checked in tool_calls.py)
    tool_call_id: str | None = None  # a tool message: the call it answers


class Sampling(Body):
    """Fields shared by chat and text completions (llama-server's top_k, min_p, repeat_penalty too)."""

    model: str | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, ge=0, le=1)
    top_k: int | None = Field(None, ge=0)
    min_p: float | None = Field(None, ge=0, le=1)
    repeat_penalty: float | None = Field(None, ge=0)
    max_tokens: int | None = Field(None, ge=1)
    stop: str | list[str] | None = None
    seed: int | None = None
    presence_penalty: float | None = Field(None, ge=-2, le=2)
    frequency_penalty: float | None = Field(None, ge=-2, le=2)
    n: int | None = Field(None, ge=1)
    user: str | None = None
    ignore_eos: bool | None = None  # llama-server's: generate max_tokens whatever the model says (benchmarks)


class ChatRequest(Sampling):
    messages: list[ChatMessage]
    tools: Any = None  # checked in tool_calls.py, for sentences that say what a tool looks like
    tool_choice: Any = None
    parallel_tool_calls: bool | None = None
    max_completion_tokens: int | None = Field(None, ge=1)
    response_format: ResponseFormat | None = None
    store: bool | None = None
    metadata: dict[str, Any] | None = None
    service_tier: str | None = None


class CompletionRequest(Sampling):
    prompt: str | list[str]
    max_tokens: int | None = Field(16, ge=1)  # OpenAI's default for /v1/completions


class EmbeddingRequest(Body):
    model: str | None = None
    input: str | list[str]
    encoding_format: Literal["float", "base64"] = "float"
    user: str | None = None


# -- Ollama -------------------------------------------------------------------------------------
KeepAlive = str | int | float | None


class OllamaMessage(Body):
    role: Literal["system", "user", "assistant", "tool"]
    content: str = ""
    images: list[str] | None = None
    tool_calls: list[Any] | None = None  # arguments as an object
    tool_name: str | None = None  # a tool message: the tool that answered


class OllamaBase(Body):
    model: str = Field(min_length=1)
    stream: bool = True
    format: str | dict[str, Any] | None = None
    options: dict[str, Any] | None = None
    keep_alive: KeepAlive = None
    think: bool | str | None = None


class OllamaChat(OllamaBase):
    messages: list[OllamaMessage] = Field(default_factory=list)
    tools: Any = None


class OllamaGenerate(OllamaBase):
    prompt: str = ""
    system: str | None = None
    raw: bool = False
    images: list[str] | None = None
    context: list[int] | None = None  # deprecated by Ollama; accepted, not used


class OllamaShow(Body):
    model: str | None = None
    name: str | None = None
    verbose: bool | None = None


class OllamaEmbed(Body):
    model: str = Field(min_length=1)
    input: str | list[str] | None = None
    prompt: str | None = None  # /api/embeddings (the older route)
    truncate: bool | None = None
    options: dict[str, Any] | None = None
    keep_alive: KeepAlive = None


# -- checks -------------------------------------------------------------------------------------
# Fields we know and do not implement: a truthy value is a 400 naming the field.
UNSUPPORTED = {
    "functions": "use 'tools'", "function_call": "use 'tool_choice'", "logit_bias": "", "logprobs": "",
    "top_logprobs": "", "audio": "text only", "modalities": "text only", "prediction": "",
    "suffix": "", "echo": "", "best_of": "", "web_search_options": "", "reasoning_effort": "",
    "images": "text only", "dimensions": "the model's own size only",
}


def parse(cls: type[Body], data: Any) -> Any:
    """Validate ``data`` as ``cls``; the first problem becomes a 400 naming the field."""
    if not isinstance(data, dict):
        raise bad_request("The request body must be a JSON object.")
    try:
        body = cls.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "body"
        raise bad_request(f"Invalid '{where}': {err['msg']}.", param=where) from None
    reject_extras(body)
    return body


def reject_extras(body: Body, prefix: str = "") -> None:
    for name, value in (body.model_extra or {}).items():
        if name in UNSUPPORTED:
            if value in (None, False, [], {}, "none", "auto") or (name == "best_of" and value == 1):
                continue
            raise unsupported(prefix + name, UNSUPPORTED[name])
        raise ApiError(400, f"Unrecognized request argument supplied: {prefix + name}.", param=prefix + name,
                       code="unknown_parameter")
    if getattr(body, "n", None) not in (None, 1):
        raise unsupported("n", "one choice per request")
    if isinstance(body, OllamaBase) and body.think not in (None, False):
        raise unsupported("think", "no thinking models")
    if isinstance(body, OllamaGenerate) and body.images:
        raise unsupported("images", "text only")


def stop_list(stop: str | list[str] | None) -> list[str]:
    if stop is None:
        return []
    items = [stop] if isinstance(stop, str) else list(stop)
    if len(items) > 16:
        raise bad_request("'stop' takes at most 16 strings.", param="stop")
    return [s for s in items if s]


def message_text(content: str | list[dict[str, Any]] | None, where: str) -> str:
    """A message's content: a string, or text parts joined (any other part is a 400 naming it)."""
    if content is None or isinstance(content, str):
        return content or ""
    parts: list[str] = []
    for j, part in enumerate(content):
        kind = part.get("type")
        if kind != "text":
            raise unsupported(f"{where}.content.{j}.type={kind}", "text content only")
        text = part.get("text")
        if not isinstance(text, str):
            raise bad_request(f"Invalid '{where}.content.{j}.text': a text part needs a string.",
                              param=f"{where}.content.{j}.text")
        parts.append(text)
    return "".join(parts)
