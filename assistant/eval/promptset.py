"""Prompt sets: what ``eval generate`` answers and what ``finetune --dev`` generates on.

One format for both (a superset of finetune's dev prompts): a JSON array or JSONL file whose rows
are a string, or an object with ``prompt`` (one user turn), ``conversations`` (LIMA's alternating
user/assistant strings, ending with a user turn) or ``messages`` (OpenAI roles, ending with a user
turn); optional ``id`` (default: the 1-based row number) and ``system``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from models.errors import AssistantError

_ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}


@dataclass
class Prompt:
    id: str
    messages: list[dict[str, str]]  # role/content, ending with a user turn
    meta: dict[str, Any] = field(default_factory=dict)  # other fields of the row (category, ...)

    @property
    def text(self) -> str:
        """The last user turn: what a person reading a report sees first."""
        return self.messages[-1]["content"]

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "messages": self.messages, **({"meta": self.meta} if self.meta else {})}


@dataclass
class PromptSet:
    prompts: list[Prompt]
    source: str
    sha256: str


def _messages(row: dict[str, Any]) -> list[dict[str, str]]:
    system = row.get("system")
    if system is not None and not isinstance(system, str):
        raise ValueError("'system' is not a string")
    out = [{"role": "system", "content": system}] if system else []
    if "prompt" in row:
        if not isinstance(row["prompt"], str) or not row["prompt"].strip():
            raise ValueError("'prompt' must be a non-empty string")
        return out + [{"role": "user", "content": row["prompt"]}]
    if "conversations" in row:
        conv = row["conversations"]
        if not isinstance(conv, list) or not conv or not all(isinstance(c, str) for c in conv):
            raise ValueError("'conversations' must be a non-empty list of strings (user, assistant, user, ...)")
        if len(conv) % 2 == 0:
            raise ValueError("'conversations' must end with a user turn (an odd number of strings)")
        return out + [{"role": ("user", "assistant")[i % 2], "content": c} for i, c in enumerate(conv)]
    if "messages" in row:
        msgs = row["messages"]
        if not isinstance(msgs, list) or not msgs:
            raise ValueError("'messages' must be a non-empty list")
        for i, m in enumerate(msgs, 1):
            if not isinstance(m, dict) or m.get("role") not in _ROLES or not isinstance(m.get("content"), str):
                raise ValueError(f"message {i} needs a 'role' (system, user, assistant) and a 'content' string")
            out.append({"role": _ROLES[m["role"]], "content": m["content"]})
        if out[-1]["role"] != "user":
            raise ValueError("'messages' must end with a user turn")
        return out
    raise ValueError("needs 'prompt', 'conversations' or 'messages'")


def parse_prompts(text: str, source: str) -> list[Prompt]:
    stripped = text.lstrip()
    try:
        if stripped.startswith("["):
            rows = [(i, r) for i, r in enumerate(json.loads(text), 1)]
        else:
            rows = [(i, json.loads(line)) for i, line in enumerate(text.splitlines(), 1) if line.strip()]
    except json.JSONDecodeError as exc:
        raise AssistantError(f"{source} is not valid JSON or JSONL ({exc.msg} at line {exc.lineno}); "
                             "write one prompt object per line.") from exc
    prompts: list[Prompt] = []
    problems: list[str] = []
    seen: set[str] = set()
    for n, (line, row) in enumerate(rows, 1):
        if isinstance(row, str):
            row = {"prompt": row}
        if not isinstance(row, dict):
            problems.append(f"row {line} is not a string or an object")
            continue
        try:
            messages = _messages(row)
        except ValueError as exc:
            problems.append(f"row {line} {exc}")
            continue
        pid = str(row.get("id", n))
        if pid in seen:
            problems.append(f"row {line} repeats the id {pid!r}")
            continue
        seen.add(pid)
        meta = {k: v for k, v in row.items() if k not in ("id", "prompt", "conversations", "messages", "system")}
        prompts.append(Prompt(pid, messages, meta))
    if problems:
        shown = "; ".join(problems[:5]) + (f"; and {len(problems) - 5} more" if len(problems) > 5 else "")
        raise AssistantError(f"{source} has bad prompts: {shown}.")
    if not prompts:
        raise AssistantError(f"{source} holds no prompts; add one JSON object per line with a 'prompt'.")
    return prompts


def load_prompts(path: Path) -> PromptSet:
    try:
        data = Path(path).expanduser().read_bytes()
    except FileNotFoundError:
        raise AssistantError(f"The prompt file {path} does not exist; pass a JSON or JSONL file of prompts.") from None
    except IsADirectoryError:
        raise AssistantError(f"{path} is a folder; pass a JSON or JSONL file of prompts.") from None
    except OSError as exc:
        raise AssistantError(f"Cannot read the prompt file {path} ({exc.strerror}).") from exc
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise AssistantError(f"The prompt file {path} is not UTF-8 text; save it as UTF-8 JSON or JSONL.") from None
    return PromptSet(parse_prompts(text, str(path)), str(Path(path).expanduser().resolve()),
                     hashlib.sha256(data).hexdigest())
