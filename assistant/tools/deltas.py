"""A reply's calls as OpenAI's streamed ``choices[0].delta.tool_calls`` items.

    deltas = OpenAIDeltas()
    for event in parser.feed(piece):
        if isinstance(event, ToolCallEvent):
            for item in deltas.items(event.call):      # send each as {"tool_calls": [item]}
                ...

Each call gets the next ``index``; its first item carries ``id``, ``type`` and the function's
``name`` with empty arguments, the following ones fragments of ``arguments`` (the call's
``arguments_json``). A call is streamed once it has parsed, so a client never receives half of a
call that then turns out malformed. ``merge_deltas`` is what a client does with the items; joined,
the fragments equal the non-streamed ``tool_calls`` exactly."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from assistant.tools.calls import ToolCall

FRAGMENT_CHARS = 24


class OpenAIDeltas:
    def __init__(self, fragment_chars: int = FRAGMENT_CHARS) -> None:
        self.fragment_chars = max(1, fragment_chars)
        self.count = 0  # calls streamed so far (the next index)

    def items(self, call: ToolCall) -> list[dict[str, Any]]:
        index = self.count
        self.count += 1
        out: list[dict[str, Any]] = [{"index": index, "id": call.id, "type": "function",
                                      "function": {"name": call.name, "arguments": ""}}]
        text = call.arguments_json
        for start in range(0, len(text), self.fragment_chars):
            out.append({"index": index, "function": {"arguments": text[start : start + self.fragment_chars]}})
        return out


def merge_deltas(items: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """``tool_calls`` as a client rebuilds them from streamed items (by index, fragments joined)."""
    calls: dict[int, dict[str, Any]] = {}
    for item in items:
        slot = calls.setdefault(item["index"], {"id": "", "type": "function", "function": {"name": "", "arguments": ""}})
        if item.get("id"):
            slot["id"] = item["id"]
        fn = item.get("function") or {}
        if fn.get("name"):
            slot["function"]["name"] += fn["name"]
        slot["function"]["arguments"] += fn.get("arguments") or ""
    return [calls[i] for i in sorted(calls)]
