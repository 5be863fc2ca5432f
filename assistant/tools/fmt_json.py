"""The JSON families: Hermes / Qwen 2.5 (``<tool_call>{json}</tool_call>``), Llama 3.x (a JSON object
that opens the reply, ``{"name": ..., "parameters": ...}``, and ``<|python_tag|>``), Mistral
(``[TOOL_CALLS][{...}]`` and the newer ``[TOOL_CALLS]name[ARGS]{...}``) and the generic fallback (a
JSON object opening the reply with "name" and "arguments")."""

from __future__ import annotations

import re
import secrets
import string
from collections.abc import Mapping
from typing import Any

from assistant.tools.calls import ToolCall, canonical_json
from assistant.tools.fmt_common import BadCall, Parsed, call_from_object, loads
from assistant.tools.fmt_python import parse_pythonic
from assistant.tools.fmt_xml import looks_like_xml, parse_xml

_MISTRAL_NAMED = re.compile(r"\s*([A-Za-z0-9_.\-]+)\s*(?:\[CALL_ID\]\s*([A-Za-z0-9]+)\s*)?\[ARGS\]", re.DOTALL)
_PY_CALL = re.compile(r"[A-Za-z_][\w.]*\s*\(")
_ALNUM = string.ascii_letters + string.digits


def parse_hermes(body: str, schemas: Mapping[str, Any] | None) -> list[Parsed]:
    """A ``<tool_call>`` body: JSON (Hermes, Qwen 2.5) or Qwen 3.5's XML, whichever the model wrote."""
    if looks_like_xml(body):
        return parse_xml(body, schemas)
    return call_from_object(loads(body))


def parse_llama3(body: str) -> list[Parsed]:
    """A JSON object (or a list of them) that opened the reply."""
    return call_from_object(loads(body))


def parse_python_tag(body: str) -> list[Parsed]:
    """After ``<|python_tag|>``: JSON, a built-in ``name.call(arg=...)``, or code for a ``python`` tool."""
    text = body.strip()
    if text.startswith(("{", "[")):
        return call_from_object(loads(text))
    if _PY_CALL.match(text):
        try:
            return parse_pythonic(text)
        except BadCall:
            pass
    if not text:
        raise BadCall("The call after <|python_tag|> is empty")
    return [Parsed("python", {"code": text})]


def parse_mistral(body: str) -> list[Parsed]:
    text = body.strip()
    if text.startswith(("[", "{")):
        return call_from_object(loads(text))
    match = _MISTRAL_NAMED.match(text)
    if not match:
        raise BadCall("The call must be [TOOL_CALLS][{\"name\": ..., \"arguments\": {...}}] or [TOOL_CALLS]name[ARGS]{...}")
    args = loads(text[match.end() :], f"The arguments of {match.group(1)}")
    return [Parsed(match.group(1), args, match.group(2))]


def mistral_id() -> str:
    """Mistral's templates require call ids of 9 letters and digits."""
    return "".join(secrets.choice(_ALNUM) for _ in range(9))


def _openai_call(call: ToolCall) -> str:
    return '{"name": ' + canonical_json(call.name) + ', "arguments": ' + call.arguments_json + "}"


def render_hermes(calls: list[ToolCall]) -> str:
    return "\n".join(f"<tool_call>\n{_openai_call(c)}\n</tool_call>" for c in calls)


def render_llama3(calls: list[ToolCall]) -> str:
    return "; ".join('{"name": ' + canonical_json(c.name) + ', "parameters": ' + c.arguments_json + "}" for c in calls)


def render_mistral(calls: list[ToolCall]) -> str:
    items = ", ".join(
        '{"name": ' + canonical_json(c.name) + ', "arguments": ' + c.arguments_json + ', "id": ' + canonical_json(c.id) + "}"
        for c in calls
    )
    return f"[TOOL_CALLS][{items}]"


def render_generic(calls: list[ToolCall]) -> str:
    if len(calls) == 1:
        return _openai_call(calls[0])
    return '{"tool_calls": [' + ", ".join(_openai_call(c) for c in calls) + "]}"
