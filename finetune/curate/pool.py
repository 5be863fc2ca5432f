"""A pool of rows as read from a file or the Hub: every row keeps its line (or array row) number,
its original text, the turns finetune would train on, or the reason finetune would refuse it."""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from finetune.data import Example, Turn, check_turns, parse_rows, row_tools, turns_from_row
from finetune.errors import FinetuneError
from models.names import looks_like_hub_id
from models.progress import progress

SHORT_REPLY = 20  # characters: a reply shorter than this is "very short" in the inspect report


@dataclass
class Row:
    line: int  # 1-based line (JSONL) or row (JSON array)
    raw: str  # the row as it is written back (the original line of a JSONL file)
    data: Any  # the parsed JSON, or None when the line is not JSON
    fmt: str | None = None  # lima, messages, sharegpt or alpaca
    example: Example | None = None  # None when finetune would refuse the row
    error: str | None = None  # why finetune would refuse it

    @property
    def ok(self) -> bool:
        return self.example is not None

    @property
    def source(self) -> str:
        return self.example.source if self.example else ""

    @property
    def is_dialogue(self) -> bool:
        return bool(self.example and self.example.is_dialogue)

    @property
    def prompt(self) -> str:
        """The user turns, joined: what near-duplicate detection compares."""
        return "\n".join(t.content for t in self.example.turns if t.role == "user") if self.example else ""

    @property
    def replies(self) -> list[str]:
        return [t.content for t in self.example.turns if t.role == "assistant"] if self.example else []

    @property
    def reply_chars(self) -> int:
        return sum(len(r.strip()) for r in self.replies)

    def messages(self) -> dict[str, Any]:
        """The row as an OpenAI ``messages`` row (``--format messages``)."""
        assert self.example is not None
        row: dict[str, Any] = {"messages": [_message(t) for t in self.example.turns]}
        if self.example.tools:
            row["tools"] = self.example.tools
        if self.source:
            row["source"] = self.source
        return row

    def preview(self, width: int = 70) -> str:
        text = " ".join((self.prompt or self.raw).split())
        return text if len(text) <= width else text[: width - 1] + "…"


def _message(turn: Turn) -> dict[str, Any]:
    out: dict[str, Any] = {"role": turn.role, "content": turn.content}
    if turn.calls:
        out["tool_calls"] = [{"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                             for c in turn.calls]
    return out


@dataclass
class Pool:
    rows: list[Row]
    origin: str
    sha256: str
    label: str  # "line" (JSONL) or "row" (a JSON array)
    name: str  # a short name for reports

    @property
    def good(self) -> list[Row]:
        return [r for r in self.rows if r.ok]

    @property
    def bad(self) -> list[Row]:
        return [r for r in self.rows if not r.ok]

    def formats(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self.good:
            assert r.fmt is not None
            out[r.fmt] = out.get(r.fmt, 0) + 1
        return out

    def sources(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self.good:
            out[r.source or "(none)"] = out.get(r.source or "(none)", 0) + 1
        return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def line_ranges(lines: list[int], limit: int = 0) -> str:
    """1-3, 7, 9-10: a short form of many line numbers."""
    out: list[str] = []
    lines = sorted(lines)
    i = 0
    while i < len(lines):
        j = i
        while j + 1 < len(lines) and lines[j + 1] == lines[j] + 1:
            j += 1
        out.append(str(lines[i]) if i == j else f"{lines[i]}-{lines[j]}")
        i = j + 1
    return ", ".join(out[:limit] + ["..."]) if limit and len(out) > limit else ", ".join(out)


def read_bytes(source: str) -> tuple[bytes, str]:
    path = Path(source).expanduser()
    if path.is_file():
        return path.read_bytes(), str(path.resolve())
    if path.exists():
        raise FinetuneError(f"The data path {path} is a directory; pass a .json or .jsonl file or a Hub dataset id.")
    if looks_like_hub_id(source):
        from finetune.hub import download_dataset

        return download_dataset(source)
    raise FinetuneError(f"The data file {source} does not exist; pass a .json/.jsonl file or a Hub dataset id like GAIR/lima.")


def load_pool(source: str) -> Pool:
    """Every row of the file, good or bad (bad ones carry the reason finetune would refuse them)."""
    raw, origin = read_bytes(source)
    label = "row" if raw.lstrip().startswith(b"[") else "line"
    parsed, bad = parse_rows(raw, origin)
    lines = raw.decode("utf-8", errors="replace").splitlines() if label == "line" else []
    rows: list[Row] = []
    for entry in bad:  # "line N: not valid JSON (...)"
        number = int(entry.split(":")[0].split()[1])
        rows.append(Row(number, lines[number - 1] if number <= len(lines) else "", None,
                        error=entry.split(": ", 1)[1]))
    is_lines = label == "line" and not origin.endswith(".json")  # a .json object's rows are not its lines
    for number, data in progress(parsed, "read rows", len(parsed)):
        text = lines[number - 1] if is_lines and number <= len(lines) else json.dumps(data, ensure_ascii=False)
        row = Row(number, text, data)
        try:
            row.fmt, turns = turns_from_row(data)
        except ValueError as exc:
            row.error = str(exc)
        else:
            problem = check_turns(turns)
            if problem:
                row.error = problem
            else:
                src = data.get("source", "") if isinstance(data, dict) else ""
                row.example = Example(turns, number, str(src or ""), row_tools(data))
        rows.append(row)
    rows.sort(key=lambda r: r.line)
    if not rows:
        raise FinetuneError(f"{origin} holds no rows; it needs at least one conversation.")
    name = Path(origin).stem if "://" not in origin else origin.rsplit("/", 1)[-1]
    return Pool(rows, origin, hashlib.sha256(raw).hexdigest(), label, name)


def normalise(text: str) -> str:
    """Unicode-normalised, case-folded, whitespace collapsed: what "exact duplicate" compares."""
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
    return " ".join(text.casefold().split())


_PUNCT = re.compile(r"[^\w\s]+")


def words(text: str) -> list[str]:
    """The normalised words with punctuation deleted ("don't" is "dont"): what shingles are built from."""
    return _PUNCT.sub("", normalise(text)).split()
