"""The engine contracts (DESIGN.md). ChatEngine: load a model, stream a reply, count tokens, cancel;
every front end uses it. ServingEngine: what the server needs beyond chat (a raw-text completion,
counting a raw prompt, embeddings; grammars and presence/frequency penalties ride in GenerationParams).
LlamaEngine implements both; the test engines implement what their tests drive."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

from models.errors import AssistantError

FinishReason = Literal["eot", "stop", "length", "cancelled"]
FINISH_REASONS: tuple[str, ...] = ("eot", "stop", "length", "cancelled")
Role = Literal["system", "user", "assistant"]


@dataclass
class Message:
    role: str  # system, user, assistant or tool
    content: str
    tool_calls: list[dict[str, Any]] | None = None  # an assistant's calls, OpenAI's shape (arguments as an object)
    tool_call_id: str | None = None  # a tool message: the call it answers
    name: str | None = None  # a tool message: the tool's name

    def as_dict(self) -> dict[str, Any]:
        """The message as chat templates take it (OpenAI's shape; the keys of tool calls only when set)."""
        out: dict[str, Any] = {"role": self.role, "content": self.content}
        if self.tool_calls:
            out["tool_calls"] = self.tool_calls
        if self.tool_call_id is not None:
            out["tool_call_id"] = self.tool_call_id
        if self.name is not None:
            out["name"] = self.name
        return out


@dataclass
class GenerationParams:
    """Sampling and limits for one reply. ``None`` means: the model's manifest default, then ours."""

    temperature: float = 0.8
    top_p: float = 0.95
    top_k: int = 40
    min_p: float = 0.05
    repeat_penalty: float = 1.0
    max_tokens: int | None = None  # None: until end of turn or the context is full
    seed: int | None = None
    stop: list[str] = field(default_factory=list)
    ignore_eos: bool = False
    grammar: str | None = None  # GBNF (root rule "root"); the reply must match it
    presence_penalty: float = 0.0  # OpenAI's penalties, over the reply's tokens
    frequency_penalty: float = 0.0
    tools: list[dict[str, Any]] | None = None  # the tools offered, OpenAI's shape; the template renders them
    # Lazy grammar: llama.cpp trigger patterns (regexes searched in the reply so far); ``grammar``
    # applies from the first match on (its first group marks where), the text before it is free.
    grammar_triggers: list[str] | None = None

    SAMPLING_KEYS = ("temperature", "top_p", "top_k", "min_p", "repeat_penalty", "max_tokens", "seed")

    def with_overrides(self, **changes: Any) -> GenerationParams:
        data = asdict(self)
        data.update({k: v for k, v in changes.items() if v is not None})
        return GenerationParams(**data)


@dataclass
class LoadOptions:
    n_ctx: int | None = None  # None: min(trained context, 8192)
    n_threads: int | None = None  # None: physical cores
    n_gpu_layers: int | None = None  # None: all when the build offloads (Metal/CUDA), else 0
    chat_template: str | None = None  # template text overriding the GGUF's
    force: bool = False  # load even when the memory estimate says it will not fit
    verbose: bool = False  # show llama.cpp's own log on the terminal
    lora: Path | None = None  # a GGUF LoRA adapter applied over the model
    lora_scale: float = 1.0


@dataclass
class ModelInfo:
    name: str
    path: Path
    arch: str
    n_params: int
    quant: str
    context_length: int  # n_ctx in use
    trained_context: int
    backend: str  # "CPU", "Metal", "CUDA", ...
    template_origin: str  # gguf / fallback / override
    eot_tokens: list[str]
    size_bytes: int = 0
    warnings: list[str] = field(default_factory=list)
    spare_cores: int = 0  # physical cores llama.cpp's CPU threads leave free (a GPU backend: all of them)


@dataclass
class Stats:
    prompt_tokens: int = 0  # tokens in the whole rendered prompt
    prompt_evaluated: int = 0  # of those, evaluated now (the rest came from the KV cache)
    completion_tokens: int = 0
    tokens_per_second: float = 0.0  # decode speed, after the first token
    time_to_first_token: float = 0.0  # seconds from the call to the first token
    total_seconds: float = 0.0
    dropped_turns: int = 0  # oldest turns left out to fit the context
    n_ctx: int = 0
    context_used: int = 0
    threads: int = 0  # CPU threads this reply ran on (0: not reported)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Chunk:
    text: str
    finish_reason: FinishReason | None = None  # set on the last chunk only
    stats: Stats | None = None  # set on the last chunk only
    event: Any = None  # a tool call shown or done (assistant.session.tool_turns), with empty text


@runtime_checkable
class ChatEngine(Protocol):
    info: ModelInfo | None

    def load(self, model: str | None, options: LoadOptions | None = None) -> ModelInfo: ...

    def stream(self, messages: Sequence[Message], params: GenerationParams | None = None) -> Iterator[Chunk]: ...

    def count_tokens(self, messages: Sequence[Message]) -> int: ...

    def cancel(self) -> None: ...

    def close(self) -> None: ...


@runtime_checkable
class ServingEngine(ChatEngine, Protocol):
    """What ``serve`` needs beyond chat."""

    def complete(self, prompt: str, params: GenerationParams | None = None) -> Iterator[Chunk]:
        """Continue ``prompt`` as it is, no chat template (/v1/completions, Ollama's raw mode)."""
        ...

    def count_text(self, prompt: str) -> int: ...

    def embed(self, texts: list[str]) -> tuple[list[list[float]], int]:
        """L2-normalised embeddings, one per text, and the number of tokens read."""
        ...


class ContextTooLong(AssistantError):
    """A prompt (or an input to embed) longer than the model's context."""


class BadGrammar(AssistantError):
    """A grammar llama.cpp cannot parse."""


def collect(chunks: Iterator[Chunk]) -> tuple[str, Chunk]:
    """Drain a stream: the whole text and the final chunk (finish_reason, stats)."""
    parts: list[str] = []
    last = Chunk("")
    for chunk in chunks:
        parts.append(chunk.text)
        last = chunk
    return "".join(parts), last
