"""TRL's tool format in training rows: a ``tools`` column (OpenAI function schemas, or a JSON string
of a list of them), assistant messages with ``tool_calls`` (OpenAI shape, arguments an object or a
JSON string of one) and ``tool`` messages (the results).

Everything is normalised to what our chat hands the saved template (``assistant/tools/messages.py``
builds the same shapes): each tool as ``{"type": "function", "function": {name, description,
parameters}}``, each call's arguments as one JSON text (``json.dumps``, UTF-8 kept, the row's key
order), so the training text and the chat's rendering agree. Problems raise ValueError with the
sentence :func:`finetune.data.load_dataset` reports for the row.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Call:
    """One call an assistant turn makes: the function's name and its arguments as JSON object text."""

    name: str
    arguments: str  # json.dumps(object, ensure_ascii=False): what the template writes as is
    id: str = ""

    @property
    def text(self) -> str:
        """The call as the model writes it (Hermes: what our chat's ``hermes`` parser reads)."""
        return f'<tool_call>\n{{"name": "{self.name}", "arguments": {self.arguments}}}\n</tool_call>'


def parse_calls(value: Any, where: str) -> tuple[Call, ...]:
    """The ``tool_calls`` of message ``where`` ("message 3"), in OpenAI's shape."""
    if not isinstance(value, list):
        raise ValueError(f"{where}'s 'tool_calls' is not a list")
    calls = []
    for k, item in enumerate(value, 1):
        what = f"{where}'s tool call {k}"
        if not isinstance(item, dict):
            raise ValueError(f"{what} is not an object")
        inner = item.get("function")
        fn = inner if isinstance(inner, dict) else item
        name = fn.get("name")
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"{what} has no function name")
        if any(c in name for c in '"\\\n') or name != name.strip():
            raise ValueError(f"{what} names the function {name[:40]!r}, which is no function name")
        call_id = item.get("id") or ""
        calls.append(Call(name, _arguments(fn.get("arguments"), what), str(call_id)))
    return tuple(calls)


def _arguments(value: Any, what: str) -> str:
    if value is None or value == "":
        value = {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise ValueError(f"{what} has arguments that are not valid JSON") from None
    if not isinstance(value, dict):
        raise ValueError(f"{what} has arguments that are not a JSON object")
    try:
        return json.dumps(value, ensure_ascii=False, allow_nan=False)
    except ValueError:
        raise ValueError(f"{what} has arguments with NaN or Infinity, which JSON has not") from None


def parse_tools(value: Any) -> list[dict[str, Any]]:
    """The row's ``tools`` column (absent or null: none), each as our chat passes it to the template."""
    if value is None or value == "":
        return []
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise ValueError("'tools' is a string that is not valid JSON") from None
    if not isinstance(value, list):
        raise ValueError("'tools' is not a list of function schemas")
    tools = []
    for k, item in enumerate(value, 1):
        if isinstance(item, str):
            try:
                item = json.loads(item)
            except ValueError:
                raise ValueError(f"tool {k} is a string that is not valid JSON") from None
        if not isinstance(item, dict):
            raise ValueError(f"tool {k} is not an object")
        inner = item.get("function")
        fn = inner if isinstance(inner, dict) else item
        name = fn.get("name")
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"tool {k} has no function name")
        params = fn.get("parameters") or {"type": "object", "properties": {}}
        if not isinstance(params, dict):
            raise ValueError(f"tool {k} ({name}) has 'parameters' that are not an object")
        description = fn.get("description") or ""
        if not isinstance(description, str):
            raise ValueError(f"tool {k} ({name}) has a 'description' that is not a string")
        tools.append({"type": "function", "function": {"name": name, "description": description, "parameters": params}})
    return tools


def tojson(value: Any) -> str:
    """``value`` as Jinja's own ``tojson`` writes it (sorted keys, ASCII, ``<>&'`` escaped): the
    spelling the saved template gives the tools list when our chat renders it."""
    from jinja2.utils import htmlsafe_json_dumps

    return str(htmlsafe_json_dumps(value, dumps=json.dumps, sort_keys=True))


TOOLS_INTRO = ("# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
               "You are provided with function signatures within <tools></tools> XML tags:\n<tools>\n")
TOOLS_OUTRO = ("\n</tools>\n\nFor each function call, return a json object with function name and arguments within "
               '<tool_call></tool_call> XML tags:\n<tool_call>\n{"name": <function-name>, "arguments": '
               "<args-json-object>}\n</tool_call>")


def tools_section(tools: list[dict[str, Any]]) -> str:
    """The tools part of the system section (Hermes / Qwen 2.5's wording)."""
    return TOOLS_INTRO + "\n".join(tojson(t) for t in tools) + TOOLS_OUTRO


def tool_result(content: str) -> str:
    """A tool message's text inside the user turn that carries it."""
    return f"<tool_response>\n{content.strip()}\n</tool_response>"


__all__ = ["Call", "parse_calls", "parse_tools", "tool_result", "tojson", "tools_section"]
