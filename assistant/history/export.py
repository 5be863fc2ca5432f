"""Export one conversation (the selected branch) as Markdown or JSON, written atomically."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from models.atomic import atomic_open
from models.errors import AssistantError

if TYPE_CHECKING:
    from assistant.history.store import Conversation, History, MessageRecord

FORMATS = (".md", ".json")
ROLE_TITLES = {"user": "You", "assistant": "Assistant", "system": "System"}


def _stamp(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(t))


def to_markdown(conv: Conversation, thread: list[MessageRecord]) -> str:
    lines = [f"# {conv.title or f'Conversation {conv.id}'}", ""]
    lines.append(f"*Conversation {conv.id} · model {conv.model or 'unknown'} · {_stamp(conv.created)}*")
    lines.append("")
    if conv.system:
        lines += ["## System", "", conv.system.rstrip(), ""]
    for msg in thread:
        heading = ROLE_TITLES.get(msg.role, msg.role.title())
        if msg.role == "assistant" and msg.model and msg.model != conv.model:
            heading += f" ({msg.model})"
        if msg.role == "tool":
            heading = f"Tool result: {msg.tool_name or 'tool'}" + (" (error)" if msg.finish_reason == "error" else "")
        lines += [f"## {heading}", "", msg.content.rstrip()]
        for call in msg.tool_calls or []:
            fn = call.get("function", {})
            lines += ["", f"Tool call `{fn.get('name', '?')}`:", "", "```json",
                      json.dumps(fn.get("arguments", {}), ensure_ascii=False, indent=2), "```"]
        if msg.interrupted:
            lines += ["", "*(interrupted: the program stopped during this reply)*"]
        elif msg.finish_reason == "cancelled":
            lines += ["", "*(stopped)*"]
        elif msg.finish_reason == "length":
            lines += ["", "*(cut off at the token limit)*"]
        lines.append("")
    return "\n".join(lines)


def to_json(conv: Conversation, thread: list[MessageRecord]) -> dict[str, Any]:
    return {
        "id": conv.id, "title": conv.title, "created": conv.created, "updated": conv.updated,
        "model": conv.model, "system": conv.system, "params": conv.params,
        "messages": [m.as_dict() for m in thread],
    }


def write_export(history: History, conv_id: int, path: Path, leaf_id: int | None = None) -> None:
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise AssistantError(f"Cannot export to {path.name}: name the file .md (Markdown) or .json.")
    conv = history.get_conversation(conv_id)
    thread = history.thread(conv_id, leaf_id)
    if path.is_dir():
        raise AssistantError(f"{path} is a directory; give a file name ending in .md or .json.")
    if not path.parent.is_dir():
        raise AssistantError(f"The folder {path.parent} does not exist; create it or pick another path.")
    text = to_markdown(conv, thread) if suffix == ".md" else json.dumps(to_json(conv, thread), indent=2,
                                                                        ensure_ascii=False) + "\n"
    try:
        with atomic_open(path) as fh:
            fh.write(text)
    except OSError as exc:
        raise AssistantError(f"Cannot write {path} ({exc.strerror}); pick a writable path.") from exc
