"""FunctionGemma's calls (Gemma 3 270M tuned for function calling):

    <start_function_call>call:get_weather{city:<escape>Paris<escape>,days:3}<end_function_call>

Keys are bare; string values sit between ``<escape>`` tokens; numbers, booleans, nested ``{...}``
objects and ``[...]`` lists are written raw."""

from __future__ import annotations

import json
import re
from typing import Any

from assistant.tools.calls import ToolCall
from assistant.tools.fmt_common import BadCall, Parsed

ESCAPE = "<escape>"
MAX_DEPTH = 32
_NAME = re.compile(r"\s*call:([A-Za-z0-9_.\-]+)\s*")
_KEY = re.compile(r"\s*([^:{}\[\],<\s]+)\s*:\s*")
_RAW = re.compile(r"[^,}\]]*")


def parse_gemma(body: str) -> list[Parsed]:
    match = _NAME.match(body)
    if not match:
        raise BadCall("The call must start with call:NAME{...}")
    name = match.group(1)
    reader = _Reader(body, match.end(), name)
    if reader.peek() != "{":
        raise BadCall(f"The call to {name} has no {{...}} of arguments after its name", name)
    args = reader.value(0)
    if body[reader.pos :].strip():
        raise BadCall(f"The call to {name} has text after its arguments ({body[reader.pos:][:40]!r})", name)
    return [Parsed(name, args)]


class _Reader:
    def __init__(self, text: str, pos: int, name: str) -> None:
        self.text, self.pos, self.name = text, pos, name

    def fail(self, why: str) -> BadCall:
        return BadCall(f"The call to {self.name} {why}", self.name)

    def peek(self) -> str:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1
        return self.text[self.pos : self.pos + 1]

    def value(self, depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise self.fail("nests too deeply to read")
        ch = self.peek()
        if not ch:
            raise self.fail("is cut off before its end")
        if self.text.startswith(ESCAPE, self.pos):
            end = self.text.find(ESCAPE, self.pos + len(ESCAPE))
            if end < 0:
                raise self.fail("has a string with no closing <escape>")
            value = self.text[self.pos + len(ESCAPE) : end]
            self.pos = end + len(ESCAPE)
            return value
        if ch == "{":
            self.pos += 1
            obj: dict[str, Any] = {}
            while self.peek() != "}":
                if obj:
                    if self.peek() != ",":
                        raise self.fail("needs a comma between its arguments")
                    self.pos += 1
                key = _KEY.match(self.text, self.pos)
                if not key:
                    raise self.fail("is cut off before its end" if not self.peek() else "has an argument without a name")
                self.pos = key.end()
                obj[key.group(1)] = self.value(depth + 1)
            self.pos += 1
            return obj
        if ch == "[":
            self.pos += 1
            items: list[Any] = []
            while self.peek() != "]":
                if not self.peek():
                    raise self.fail("is cut off before its end")
                if items:
                    if self.peek() != ",":
                        raise self.fail("needs a comma between list items")
                    self.pos += 1
                items.append(self.value(depth + 1))
            self.pos += 1
            return items
        raw = _RAW.match(self.text, self.pos)
        token = raw.group(0).strip() if raw else ""
        self.pos = raw.end() if raw else self.pos
        if not token:
            raise self.fail("has an empty value")
        try:
            return json.loads(token)
        except ValueError:
            return token  # an unquoted word: kept as text


def _gemma(value: Any) -> str:
    if isinstance(value, str):
        return f"{ESCAPE}{value}{ESCAPE}"
    if isinstance(value, dict):
        return "{" + ",".join(f"{k}:{_gemma(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_gemma(v) for v in value) + "]"
    return json.dumps(value)


def render_gemma(calls: list[ToolCall]) -> str:
    return "".join(f"<start_function_call>call:{c.name}{_gemma(c.arguments)}<end_function_call>" for c in calls)
