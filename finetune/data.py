"""Training data: read LIMA, OpenAI ``messages``, ShareGPT or alpaca rows from a local JSON/JSONL
file or a Hub dataset, turn each into a list of turns, and validate every row before training.
``messages`` rows may be in TRL's tool format (a ``tools`` column, assistant ``tool_calls``, ``tool``
messages: :mod:`finetune.tool_data`).

All bad rows are reported by line number (JSONL) or row number (a JSON array) in one go.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from finetune.errors import FinetuneError
from finetune.tool_data import Call, parse_calls, parse_tools
from models.names import looks_like_hub_id

ROLES = ("system", "user", "assistant")
_SHAREGPT_ROLES = {
    "human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant", "model": "assistant",
    "chatgpt": "assistant", "bing": "assistant", "bard": "assistant", "system": "system",
}
_OPENAI_ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant", "tool": "tool"}


@dataclass(frozen=True)
class Turn:
    role: str  # system, user, assistant or tool (a tool's result)
    content: str
    calls: tuple[Call, ...] = ()  # the tool calls an assistant turn makes, after its text


@dataclass
class Example:
    turns: list[Turn]
    line: int  # 1-based line (JSONL) or row (JSON array) in the source
    source: str = ""
    tools: list[dict[str, Any]] = field(default_factory=list)  # offered tools, as parse_tools gives them

    @property
    def replies(self) -> int:
        return sum(1 for t in self.turns if t.role == "assistant")

    @property
    def exchanges(self) -> int:
        """User turns: a call, its results and the answer after them are one exchange."""
        return sum(1 for t in self.turns if t.role == "user")

    @property
    def is_dialogue(self) -> bool:
        """One of LIMA's multi-turn dialogues: tagged ``multi_turn`` or more than one exchange."""
        return self.source == "multi_turn" or self.exchanges > 1


@dataclass
class Dataset:
    examples: list[Example]
    origin: str  # the path or Hub id it came from
    sha256: str  # of the bytes read
    rows: int  # rows in the source, before any filtering
    formats: dict[str, int] = field(default_factory=dict)

    @property
    def dialogues(self) -> int:
        return sum(1 for e in self.examples if e.is_dialogue)

    @property
    def single_turn(self) -> int:
        return len(self.examples) - self.dialogues

    def without_dialogues(self) -> Dataset:
        kept = [e for e in self.examples if not e.is_dialogue]
        return Dataset(kept, self.origin, self.sha256, self.rows, dict(self.formats))


def turns_from_row(row: Any) -> tuple[str, list[Turn]]:
    """(format name, turns) or raise ValueError naming what is wrong with the row."""
    if not isinstance(row, dict):
        raise ValueError("is not a JSON object")
    if "messages" in row:
        msgs = row["messages"]
        if not isinstance(msgs, list):
            raise ValueError("'messages' is not a list")
        row_tools(row)
        return "messages", [_message(m, i) for i, m in enumerate(msgs, 1)]
    if "conversations" in row or "conversation" in row:
        conv = row.get("conversations", row.get("conversation"))
        if not isinstance(conv, list):
            raise ValueError("'conversations' is not a list")
        if all(isinstance(c, str) for c in conv):
            roles = ["user", "assistant"]
            return "lima", [Turn(roles[i % 2], _text(c, f"turn {i + 1}")) for i, c in enumerate(conv)]
        turns = []
        for i, c in enumerate(conv, 1):
            if not isinstance(c, dict) or "from" not in c or "value" not in c:
                raise ValueError(f"turn {i} needs 'from' and 'value' (ShareGPT) or the turns must all be strings (LIMA)")
            role = _SHAREGPT_ROLES.get(str(c["from"]).lower())
            if role is None:
                raise ValueError(f"turn {i} is from {c['from']!r} (use human, gpt or system)")
            turns.append(Turn(role, _text(c["value"], f"turn {i}")))
        return "sharegpt", turns
    if "instruction" in row and "output" in row:
        turns = []
        if row.get("system"):
            turns.append(Turn("system", _text(row["system"], "system")))
        for i, pair in enumerate(row.get("history") or [], 1):
            if not isinstance(pair, (list, tuple)) or len(pair) != 2:
                raise ValueError(f"history entry {i} is not a [question, answer] pair")
            turns += [Turn("user", _text(pair[0], f"history {i}")), Turn("assistant", _text(pair[1], f"history {i}"))]
        prompt = _text(row["instruction"], "instruction")
        extra = row.get("input") or ""
        if not isinstance(extra, str):
            raise ValueError("'input' is not a string")
        prompt = f"{prompt}\n\n{extra}" if extra.strip() else prompt
        turns += [Turn("user", prompt), Turn("assistant", _text(row["output"], "output"))]
        return "alpaca", turns
    raise ValueError("is in no known format (expected 'conversations', 'messages' or 'instruction'/'output')")


def row_tools(row: Any) -> list[dict[str, Any]]:
    """The tools a ``messages`` row offers (its ``tools`` column), or ValueError."""
    return parse_tools(row.get("tools")) if isinstance(row, dict) and "messages" in row else []


def _message(m: Any, i: int) -> Turn:
    calls = m.get("tool_calls") if isinstance(m, dict) else None
    if not isinstance(m, dict) or "role" not in m or ("content" not in m and not calls):
        raise ValueError(f"message {i} needs 'role' and 'content'")
    role = _OPENAI_ROLES.get(m["role"]) if isinstance(m["role"], str) else None
    if role is None:
        raise ValueError(f"message {i} has role {m['role']!r} (use system, user, assistant or tool)")
    if calls and role != "assistant":
        raise ValueError(f"message {i} has 'tool_calls' but is a {role} message (only the assistant calls tools)")
    content = m.get("content")
    if calls or (role == "assistant" and "tool_calls" in m):
        text = "" if content is None else _text(content, f"message {i}")
        return Turn(role, text, parse_calls(calls or [], f"message {i}"))
    return Turn(role, _text(content, f"message {i}"))


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{what} is not a string")
    return value


def check_turns(turns: list[Turn]) -> str | None:
    """What is wrong with a conversation, or None: a system turn only first, then user and assistant
    alternating, starting with the user and ending with the assistant, no empty turn. An assistant
    turn with tool calls is followed by the tools' results (or ends the conversation), and the
    assistant answers after them."""
    if not turns:
        return "has no turns"
    for i, t in enumerate(turns, 1):
        if not t.content.strip() and not t.calls and t.role != "tool":
            return f"turn {i} ({t.role}) is empty"
    body = turns[1:] if turns[0].role == "system" else turns
    if any(t.role == "system" for t in body):
        return "has a system turn after the first turn"
    if not body:
        return "has only a system turn"
    offset = len(turns) - len(body)
    prev: Turn | None = None
    for i, t in enumerate(body):
        pos = i + 1 + offset
        if t.role == "tool" or (prev is not None and prev.calls):
            if prev is None or not (prev.role == "tool" or prev.calls):
                return f"turn {pos} is a tool result with no assistant tool call before it"
            if t.role != "tool":
                return f"turn {pos} is {t.role} where the results of turn {pos - 1}'s tool calls were expected"
        else:
            expected = "assistant" if prev is not None and prev.role in ("user", "tool") else "user"
            if t.role != expected:
                why = "the assistant answers the tool results" if prev is not None and prev.role == "tool" else \
                    "turns must alternate, user first"
                return f"turn {pos} is {t.role} where {expected} was expected ({why})"
        prev = t
    if body[-1].role == "user":
        return "ends with a user turn (the last turn must be the assistant's)"
    if body[-1].role == "tool":
        return "ends with a tool result (the last turn must be the assistant's)"
    return None


MAX_LINE_BYTES = 16 * 1024 * 1024  # one training row; LIMA's longest is ~30 KB
MAX_FILE_BYTES = 2 * 1024 * 1024 * 1024


def check_line_lengths(path: Path, limit: int = MAX_LINE_BYTES) -> None:
    """Scan ``path`` in 1 MB blocks; a line longer than ``limit`` is refused by its number, before
    the file is read into memory (and the whole file when it is past ``MAX_FILE_BYTES``)."""
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise FinetuneError(f"{path} is {size:,} bytes, more than a fine-tuning dataset needs "
                            f"({MAX_FILE_BYTES >> 30} GB at most); pass a smaller file.")
    number, current = 1, 0
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            start = 0
            while (end := block.find(b"\n", start)) != -1:
                if current + end - start > limit:
                    break
                number, current, start = number + 1, 0, end + 1
            else:
                current += len(block) - start
                if current <= limit:
                    continue
            raise FinetuneError(f"{path} line {number} is longer than {limit >> 20} MB; a training row is never "
                                "that long: split or remove it.")


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except RecursionError:
        raise json.JSONDecodeError("nested too deeply", text[:1], 0) from None


def parse_rows(raw: bytes, name: str) -> tuple[list[tuple[int, Any]], list[str]]:
    """(line, row) pairs and the lines that are not JSON; JSONL by line, a JSON array by row."""
    text = raw.decode("utf-8", errors="replace")
    stripped = text.lstrip()
    if stripped.startswith("["):
        try:
            rows = _loads(text)
        except json.JSONDecodeError as exc:
            raise FinetuneError(f"{name} is not valid JSON (line {exc.lineno}: {exc.msg}); fix the file.") from exc
        return list(enumerate(rows, 1)), []
    if stripped.startswith("{") and name.endswith(".json"):
        try:
            obj = _loads(text)
        except json.JSONDecodeError:
            obj = None
        if isinstance(obj, dict):
            for key in ("train", "data", "rows", "examples"):
                if isinstance(obj.get(key), list):
                    return list(enumerate(obj[key], 1)), []
    rows, bad = [], []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            rows.append((number, _loads(line)))
        except json.JSONDecodeError as exc:
            bad.append(f"line {number}: not valid JSON ({exc.msg})")
    return rows, bad


def load_dataset(source: str, *, dialogues: bool = True, split: str = "train") -> Dataset:
    """Read, normalise and validate; raise FinetuneError listing every bad row."""
    path = Path(source).expanduser()
    if path.is_file():
        check_line_lengths(path)
        raw = path.read_bytes()
        origin = str(path.resolve())
    elif path.exists():
        raise FinetuneError(f"The data path {path} is a directory; pass a .json or .jsonl file or a Hub dataset id.")
    elif looks_like_hub_id(source):
        from finetune.hub import download_dataset

        raw, origin = download_dataset(source, split)
    else:
        raise FinetuneError(f"The data file {source} does not exist; pass a .json/.jsonl file or a Hub dataset id like GAIR/lima.")
    label = "line" if not raw.lstrip().startswith(b"[") else "row"
    rows, bad = parse_rows(raw, origin)
    bad = [b.replace("line", label, 1) for b in bad]
    examples: list[Example] = []
    formats: dict[str, int] = {}
    for number, row in rows:
        try:
            fmt, turns = turns_from_row(row)
        except ValueError as exc:
            bad.append(f"{label} {number}: {exc}")
            continue
        problem = check_turns(turns)
        if problem:
            bad.append(f"{label} {number}: {problem}")
            continue
        formats[fmt] = formats.get(fmt, 0) + 1
        src = row.get("source", "") if isinstance(row, dict) else ""
        examples.append(Example(turns, number, str(src or ""), row_tools(row)))
    if bad:
        bad.sort(key=lambda b: int(b.split(":")[0].split()[1]))
        shown = ", ".join(b.split(":")[0].split()[1] for b in bad[:20]) + (" ..." if len(bad) > 20 else "")
        raise FinetuneError(
            f"{origin} has {len(bad)} bad row(s) ({label}s {shown}; each is listed above); fix or remove them.",
            details=bad,
        )
    if not examples:
        raise FinetuneError(f"{origin} holds no training rows; it needs at least one conversation.")
    data = Dataset(examples, origin, hashlib.sha256(raw).hexdigest(), len(rows), formats)
    return data if dialogues else data.without_dialogues()
