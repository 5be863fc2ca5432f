"""The values that flow between the parser, the tools and the front ends: a call the model made, the
events of a parsed stream, and the result of running a tool."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from models.errors import AssistantError


class ToolError(AssistantError):
    """A tool that cannot be set up or called: one sentence naming the tool (or file) and the fix."""


def new_call_id() -> str:
    """An OpenAI-style call id, unique per call (``call_`` and 24 hex digits)."""
    return "call_" + secrets.token_hex(12)


def canonical_json(value: Any) -> str:
    """The one JSON spelling of ``value`` (UTF-8 text kept, no NaN): arguments, loop detection."""
    return json.dumps(value, ensure_ascii=False, allow_nan=False)


@dataclass
class ToolCall:
    """A call the model asked for. ``arguments`` is always a JSON object (a dict)."""

    id: str
    name: str
    arguments: dict[str, Any]
    raw: str = ""  # the text the model wrote for it (markers included), for a byte-stable history

    @property
    def arguments_json(self) -> str:
        """``arguments`` as the JSON string OpenAI's ``function.arguments`` carries."""
        return canonical_json(self.arguments)

    def as_openai(self) -> dict[str, Any]:
        """``{"id", "type": "function", "function": {"name", "arguments": "<json string>"}}``."""
        return {"id": self.id, "type": "function", "function": {"name": self.name, "arguments": self.arguments_json}}

    def as_ollama(self) -> dict[str, Any]:
        """Ollama's ``/api/chat`` shape: arguments as an object."""
        return {"function": {"name": self.name, "arguments": self.arguments}}

    def key(self) -> tuple[str, str]:
        """What makes two calls "the same call" (name and arguments), for the loop check."""
        return self.name, json.dumps(self.arguments, ensure_ascii=False, sort_keys=True, default=str)


@dataclass
class TextEvent:
    """Text for the person (outside any call)."""

    text: str


@dataclass
class ToolCallEvent:
    """A complete call that parsed and names an offered tool."""

    call: ToolCall


@dataclass
class ToolCallError:
    """A call that did not parse or names a tool that was not offered. It is never executed: the
    caller sends ``message`` to the model as the tool's error (``id`` answers it), or shows ``raw``
    as plain text. ``name`` is the tool's name when it could be read."""

    message: str
    raw: str
    id: str
    name: str | None = None

    def as_result(self) -> ToolResult:
        return ToolResult(self.message, is_error=True)

    def as_call(self) -> ToolCall:
        """A stand-in call for the history (empty arguments, so every template renders it), which
        the ``tool`` message carrying ``as_result()`` answers by ``id``."""
        return ToolCall(self.id, self.name or "invalid_tool_call", {}, self.raw)


Event = TextEvent | ToolCallEvent | ToolCallError


@dataclass
class ToolResult:
    """What a call returned: text for the model. ``is_error`` marks a failure the model should see
    as one (the tool's own error, a denial, a timeout, bad arguments)."""

    content: str
    is_error: bool = False
    truncated: bool = False
    seconds: float = 0.0
    data: dict[str, Any] = field(default_factory=dict)  # structured content, when a tool gave one

    def for_model(self) -> str:
        """The text a ``tool`` message carries (errors are prefixed so every template shows them)."""
        return f"Error: {self.content}" if self.is_error else self.content


def cap_text(text: str, max_bytes: int, what: str = "result") -> tuple[str, bool]:
    """``text`` cut to ``max_bytes`` of UTF-8 (at a character boundary) with a note saying so."""
    data = text.encode("utf-8")
    if len(data) <= max_bytes:
        return text, False
    kept = data[:max_bytes].decode("utf-8", errors="ignore")
    note = f"\n[{what} truncated: {len(data):,} bytes, the first {max_bytes:,} are shown]"
    return kept + note, True


@dataclass
class Tool:
    """A tool offered to the model: its name, what it does, the JSON schema of its arguments, where
    it comes from (``"builtin"`` or an MCP server's name) and how to run it."""

    name: str
    description: str
    parameters: dict[str, Any]
    source: str = "builtin"
    read_only: bool = False  # only reads (a built-in that may be pre-approved in the config)
    run: Callable[[dict[str, Any]], ToolResult] | None = field(default=None, repr=False, compare=False)

    def schema(self) -> dict[str, Any]:
        """OpenAI's ``{"type": "function", "function": {...}}`` entry for this tool."""
        return {"type": "function", "function": {"name": self.name, "description": self.description,
                                                 "parameters": self.parameters}}
