"""Our messages as a chat template expects them when tools are on.

    ctx = template_inputs(messages, tools, fmt)     # {"messages": [...], "tools": [...]}

``messages`` are mappings or objects with ``role`` and ``content``, and optionally ``tool_calls``
(ToolCall objects, OpenAI dicts with arguments as a JSON string or an object, or Ollama dicts),
``tool_call_id`` and ``name`` (on ``tool`` messages). ``tools`` are registry Tools or OpenAI /
plain function dicts. The output follows the shape ``fmt`` was detected with: arguments as an
object or a string, an empty content as ``""`` or null, calls written into the content as the
model's own text when the template ignores ``tool_calls``, 9-character ids for Mistral."""

from __future__ import annotations

import hashlib
import json
import re
import string
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from assistant.tools.calls import ToolCall, ToolError
from assistant.tools.formats import ToolFormat

_ALNUM9 = re.compile(r"[A-Za-z0-9]{9}")
_ALNUM = string.ascii_letters + string.digits


def _get(message: Any, key: str, default: Any = None) -> Any:
    if isinstance(message, Mapping):
        return message.get(key, default)
    return getattr(message, key, default)


def to_call(value: Any, index: int = 0) -> ToolCall:
    """A ToolCall from a ToolCall, an OpenAI ``tool_calls`` item or an Ollama one; ToolError if the
    arguments are not a JSON object (or a string of one)."""
    if isinstance(value, ToolCall):
        return value
    if not isinstance(value, Mapping):
        raise ToolError(f"Tool call {index + 1} of an assistant message is not an object; send it as "
                        "{\"id\", \"type\": \"function\", \"function\": {\"name\", \"arguments\"}}.")
    inner = value.get("function")
    fn: Mapping[str, Any] = inner if isinstance(inner, Mapping) else value
    name = fn.get("name")
    if not isinstance(name, str) or not name:
        raise ToolError(f"Tool call {index + 1} of an assistant message has no function name; add \"name\".")
    return ToolCall(str(value.get("id") or f"call_{index}"), name, arguments_object(fn.get("arguments"), name))


def arguments_object(value: Any, name: str = "the tool") -> dict[str, Any]:
    """Arguments given as an object or as a JSON string of one, as a dict (None: no arguments)."""
    if value is None or value == "":
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise ToolError(f"The arguments of the call to {name} are not valid JSON; send a JSON object.") from None
    if not isinstance(value, Mapping):
        raise ToolError(f"The arguments of the call to {name} are not a JSON object; send an object of named arguments.")
    return dict(value)


def tool_schema(tool: Any) -> dict[str, Any]:
    """One offered tool as OpenAI's ``{"type": "function", "function": {name, description, parameters}}``."""
    if isinstance(tool, Mapping):
        inner = tool.get("function")
        fn: Mapping[str, Any] = inner if isinstance(inner, Mapping) else tool
        return {"type": "function", "function": {"name": fn.get("name"), "description": fn.get("description", ""),
                                                 "parameters": fn.get("parameters") or {"type": "object", "properties": {}}}}
    return {"type": "function", "function": {"name": tool.name, "description": tool.description,
                                             "parameters": tool.parameters}}


def template_id(call_id: str, fmt: ToolFormat) -> str:
    """The id as this format's template accepts it (Mistral: 9 letters and digits, derived stably)."""
    if fmt.name != "mistral" or _ALNUM9.fullmatch(call_id):
        return call_id
    digest = hashlib.sha256(call_id.encode("utf-8")).digest()
    return "".join(_ALNUM[b % len(_ALNUM)] for b in digest[:9])


def template_inputs(messages: Iterable[Any], tools: Sequence[Any], fmt: ToolFormat) -> dict[str, Any]:
    """The ``messages`` and ``tools`` variables for the chat template (merge them into its context)."""
    out: list[dict[str, Any]] = []
    names: dict[str, str] = {}  # call id -> tool name, to name tool messages that did not
    empty: str | None = None if fmt.empty_content == "null" else ""
    for message in messages:
        role = str(_get(message, "role"))
        content = _get(message, "content")
        text = "" if content is None else str(content)
        raw_calls = _get(message, "tool_calls") or []
        if role == "assistant" and raw_calls:
            calls = [to_call(c, i) for i, c in enumerate(raw_calls)]
            for c in calls:
                names[c.id] = c.name
            if fmt.calls_in_content:
                rendered = fmt.render(calls)
                out.append({"role": role, "content": f"{text}\n{rendered}" if text else rendered})
                continue
            out.append({"role": role, "content": text or empty, "tool_calls": [
                {"id": template_id(c.id, fmt), "type": "function",
                 "function": {"name": c.name,
                              "arguments": c.arguments if fmt.arguments_as == "object" else c.arguments_json}}
                for c in calls]})
        elif role == "tool":
            call_id = str(_get(message, "tool_call_id") or "")
            item: dict[str, Any] = {"role": "tool", "content": text}
            if call_id:
                item["tool_call_id"] = template_id(call_id, fmt)
            name = _get(message, "name") or names.get(call_id)
            if name:
                item["name"] = name
            out.append(item)
        else:
            out.append({"role": role, "content": text if content is not None or role != "assistant" else empty})
    return {"messages": out, "tools": [tool_schema(t) for t in tools]}
