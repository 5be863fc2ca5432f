"""The server's shared state: its configuration, the worker, which models a request may name, and how
a request's sampling is merged with the model's defaults (the routes of both APIs read it)."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any

from assistant.engine.base import GenerationParams, Message
from assistant.serve.worker import EngineWorker, Job
from models.errors import ModelNotFound
from models.resolve import ResolvedModel, known_names, resolve

DEFAULT_MAX_BODY = 8 << 20


@dataclass
class ServeConfig:
    host: str = "127.0.0.1"
    port: int = 8080
    api_key: str | None = None
    cors_origins: list[str] = field(default_factory=list)
    allowed_hosts: list[str] = field(default_factory=list)
    max_body: int = DEFAULT_MAX_BODY
    quiet: bool = False
    tool_grammar: str = "lazy"  # "lazy": a grammar from the call format's marker on when tools are offered; "off"


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")


def parse_duration(value: Any) -> float:
    """Ollama's keep-alive: seconds as a number, or "5m", "1h30m", "300ms"; negative is forever."""
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, int | float):
        return float(value)
    text = str(value).strip().lower()
    sign = -1.0 if text.startswith("-") else 1.0
    text = text.lstrip("-+")
    try:
        return sign * float(text)
    except ValueError:
        pass
    scale = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
    pos, total = 0, 0.0
    for m in _DURATION.finditer(text):
        if m.start() != pos:
            break
        total += float(m.group(1)) * scale[m.group(2)]
        pos = m.end()
    if pos != len(text) or not text:
        raise ValueError(f"{value!r} is not a duration such as 30s, 5m or 1h")
    return sign * total


class ServeState:
    def __init__(self, worker: EngineWorker, config: ServeConfig, pinned: ResolvedModel | None = None) -> None:
        self.worker = worker
        self.config = config
        self.pinned = pinned  # --model: the model a request that names none gets (may be a path)
        self.started = time.time()

    def model_names(self) -> list[str]:
        names = known_names()
        if self.pinned is not None and self.pinned.name not in names:
            names.insert(0, self.pinned.name)
        return names

    def resolve(self, name: str | None) -> ResolvedModel:
        """A store or bundled name (``NAME:latest`` too), or --model's; never a path from a request."""
        if not name:
            return self.pinned or resolve(None)
        if self.pinned is not None and name in (self.pinned.name, f"{self.pinned.name}:latest"):
            return self.pinned
        names = known_names()
        for candidate in (name, name.removesuffix(":latest")):
            if candidate in names:
                return resolve(candidate)
        raise ModelNotFound(f"Unknown model {name!r}; this server has: {', '.join(self.model_names())}.")

    def params(self, model: ResolvedModel, *, grammar: str | None = None, presence_penalty: float | None = None,
               frequency_penalty: float | None = None, stop: list[str] | None = None, **sampling: Any) -> GenerationParams:
        """The request's values, then the model's manifest defaults, then ours (as the CLI does)."""
        defaults = model.manifest.defaults.as_dict() if model.manifest else {}
        defaults.pop("system", None)
        base = GenerationParams().with_overrides(**defaults).with_overrides(**sampling)
        base.stop = list(stop or [])
        base.grammar = grammar
        base.presence_penalty = presence_penalty or 0.0
        base.frequency_penalty = frequency_penalty or 0.0
        return base

    @staticmethod
    def with_default_system(model: ResolvedModel, messages: list[Message]) -> list[Message]:
        system = model.manifest.defaults.system if model.manifest else None
        if system and not any(m.role == "system" for m in messages):
            return [Message("system", system), *messages]
        return messages

    def submit(self, request: Any, job: Job) -> None:
        request.state.model = job.model.name
        self.worker.submit(job)
