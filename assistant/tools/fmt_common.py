"""What every format family shares: the parsed-call record, the error a bad call raises, JSON
reading with a sentence for each way model-written JSON goes wrong, and an incremental scanner
that finds where a JSON value ends in a stream."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


class BadCall(Exception):
    """A call that cannot be read. ``str(err)`` says why, for the model; ``name`` if it was read."""

    def __init__(self, message: str, name: str | None = None) -> None:
        super().__init__(message)
        self.name = name


@dataclass
class Parsed:
    name: str
    arguments: Any  # a dict, or a JSON string of one; the parser checks
    id: str | None = None  # an id the model wrote (Mistral), used when it is unique


def loads(text: str, what: str = "The call") -> Any:
    """One JSON value from ``text`` (surrounding whitespace allowed), or BadCall saying what is wrong."""
    body = text.strip()
    if not body:
        raise BadCall(f"{what} is empty")
    try:
        value, end = json.JSONDecoder().raw_decode(body)
    except json.JSONDecodeError as exc:
        raise BadCall(f"{what} is not valid JSON: {describe_json_error(body, exc)}") from None
    except RecursionError:
        raise BadCall(f"{what} nests too deeply to read") from None
    if body[end:].strip():
        rest = body[end:].strip()
        raise BadCall(f"{what} has text after its JSON ({_clip(rest)!r}); write only the JSON")
    return value


def describe_json_error(body: str, exc: json.JSONDecodeError) -> str:
    scan = JsonEnd()
    if scan.feed(body) is None and scan.started:
        return "it is cut off before its end"
    if "double quotes" in exc.msg and "'" in body:
        return "it uses single quotes, and JSON needs double quotes around names and strings"
    return f"{exc.msg} at character {exc.pos + 1}"


def _clip(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def call_from_object(obj: Any, what: str = "The call") -> list[Parsed]:
    """The shapes models write a call in: {"name", "arguments"|"parameters"}, OpenAI's
    {"type": "function", "function": {...}}, {"tool_call": {...}}, {"tool_calls": [...]}, or a list."""
    if isinstance(obj, list):
        if not obj:
            raise BadCall(f"{what} is an empty list")
        return [p for item in obj for p in call_from_object(item, what)]
    if not isinstance(obj, dict):
        raise BadCall(f"{what} must be a JSON object with \"name\" and \"arguments\"")
    if "tool_calls" in obj and isinstance(obj["tool_calls"], list):
        return call_from_object(obj["tool_calls"], what)
    if "tool_call" in obj and isinstance(obj["tool_call"], dict):
        return call_from_object(obj["tool_call"], what)
    if isinstance(obj.get("function"), dict):
        inner = dict(obj["function"])
        if "id" in obj and "id" not in inner:
            inner["id"] = obj["id"]
        return call_from_object(inner, what)
    name = obj.get("name")
    if not isinstance(name, str) or not name:
        raise BadCall(f"{what} has no \"name\" (the tool to call)")
    args = obj["arguments"] if "arguments" in obj else obj.get("parameters", {})
    call_id = obj.get("id") if isinstance(obj.get("id"), str) else None
    return [Parsed(name, {} if args is None else args, call_id)]


class JsonEnd:
    """Where the first JSON object or array in a stream ends, fed piece by piece (strings and escapes
    tracked, so braces inside strings do not count). Characters before the opening bracket are
    skipped. ``feed`` returns the index just past the value within the text fed so far, or None."""

    __slots__ = ("depth", "in_string", "escape", "started", "seen")

    def __init__(self) -> None:
        self.depth = 0
        self.in_string = False
        self.escape = False
        self.started = False
        self.seen = 0

    def feed(self, text: str) -> int | None:
        for i, ch in enumerate(text):
            if self.in_string:
                if self.escape:
                    self.escape = False
                elif ch == "\\":
                    self.escape = True
                elif ch == '"':
                    self.in_string = False
            elif ch == '"':
                self.in_string = self.started
            elif ch in "{[":
                self.started = True
                self.depth += 1
            elif ch in "}]" and self.started:
                self.depth -= 1
                if self.depth == 0:
                    end = self.seen + i + 1
                    self.seen += len(text)
                    return end
        self.seen += len(text)
        return None
