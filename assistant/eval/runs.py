"""Run folders: every eval command writes one, and ``eval report`` lists them.

A folder holds ``run.json`` (kind, created, models, settings; written atomically) plus the kind's
records as JSONL, appended one line at a time and fsynced, so an interrupted command resumes from
the last complete line. A generation run is ``generations.jsonl``; ``eval stats`` also reads a bare
JSONL of replies, such as finetune's ``dev_generations.jsonl``.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from models.atomic import write_json
from models.errors import AssistantError
from models.paths import data_dir

RUN_FILE = "run.json"
KINDS = ("generate", "compare", "dialogue", "lima-mini")
GENERATIONS = "generations.jsonl"


def eval_dir() -> Path:
    """Where runs go when no --out is given: DATA_DIR/eval."""
    return data_dir() / "eval"


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-._")[:60] or "run"


def read_meta(folder: Path) -> dict[str, Any]:
    path = folder / RUN_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise AssistantError(f"{folder} is not an eval run (no {RUN_FILE}); pass a folder that `assistant eval` wrote.") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise AssistantError(f"{path} is not valid JSON ({exc}); fix or remove the run folder.") from exc
    if not isinstance(data, dict):
        raise AssistantError(f"{path} is not a JSON object; fix or remove the run folder.")
    return data


def write_meta(folder: Path, meta: dict[str, Any]) -> None:
    meta["updated"] = now()
    write_json(folder / RUN_FILE, meta)


def read_jsonl(path: Path, *, repair: bool = False) -> list[dict[str, Any]]:
    """The complete lines of a JSONL file. A torn last line (the process died mid-write) is dropped,
    and with ``repair`` cut from the file so that appending continues cleanly."""
    if not path.exists():
        return []
    raw = path.read_bytes()
    rows: list[dict[str, Any]] = []
    good_end = 0
    pos = 0
    for line in raw.splitlines(keepends=True):
        pos += len(line)
        if not line.strip():
            good_end = pos
            continue
        try:
            row = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError):
            if pos < len(raw):  # a bad line in the middle is damage, not an interruption
                raise AssistantError(f"{path} has a damaged line {len(rows) + 1}; fix or remove it.") from None
            break
        if not line.endswith(b"\n"):
            break
        if isinstance(row, dict):
            rows.append(row)
        good_end = pos
    if repair and good_end < len(raw):
        with open(path, "r+b") as fh:
            fh.truncate(good_end)
    return rows


def append_jsonl(path: Path, row: dict[str, Any]) -> None:
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


@dataclass
class Generations:
    """A generation run as ``eval stats`` and ``eval compare`` see it."""

    label: str
    path: Path
    meta: dict[str, Any]
    rows: list[dict[str, Any]] = field(default_factory=list)

    def by_id(self) -> dict[str, dict[str, Any]]:
        return {str(r["id"]): r for r in self.rows}


def _from_dev_generations(row: dict[str, Any]) -> dict[str, Any]:
    """finetune's dev generations (``stopped`` and ``tokens``) in this module's record shape."""
    if "finish_reason" in row:
        return row
    tokens = int(row.get("tokens") or 0)
    stopped = bool(row.get("stopped"))
    return {"id": row.get("id"), "messages": [{"role": "user", "content": row.get("prompt", "")}],
            "reply": row.get("reply", ""), "finish_reason": "eot" if stopped else "length",
            "stats": {"completion_tokens": tokens - 1 if stopped and tokens else tokens}}


def load_generations(path: Path) -> Generations:
    """A generation run folder, or a JSONL file of replies (ours or finetune's dev generations)."""
    path = Path(path).expanduser()
    if path.is_dir():
        meta = read_meta(path)
        if meta.get("kind") != "generate":
            raise AssistantError(f"{path} is a {meta.get('kind')!r} run, not a generation run; pass a folder from `assistant eval generate`.")
        rows = read_jsonl(path / GENERATIONS)
        label = str(meta.get("label") or meta.get("model", {}).get("name") or path.name)
    elif path.is_file():
        meta = {"kind": "generate", "model": {"name": path.parent.name}}
        rows = [_from_dev_generations(r) for r in read_jsonl(path)]
        label = path.parent.name if path.name in ("dev_generations.jsonl", GENERATIONS) else path.stem
    else:
        raise AssistantError(f"{path} does not exist; pass a run folder from `assistant eval generate` or a JSONL of replies.")
    for i, row in enumerate(rows, 1):
        if "id" not in row or not isinstance(row.get("reply"), str):
            raise AssistantError(f"Record {i} in {path} lacks an 'id' or a 'reply' string; it is not a generation record.")
    return Generations(label, path, meta, rows)


def list_runs(roots: list[Path]) -> list[tuple[Path, dict[str, Any]]]:
    """Every run folder under the roots (two levels deep), newest first."""
    found: dict[Path, dict[str, Any]] = {}
    for root in roots:
        if not root.is_dir():
            continue
        candidates = [root, *root.iterdir(), *(p for d in root.iterdir() if d.is_dir() for p in d.iterdir())]
        for folder in candidates:
            if folder.is_dir() and (folder / RUN_FILE).is_file():
                try:
                    meta = read_meta(folder)
                except AssistantError:
                    continue
                if meta.get("kind") in KINDS:  # not other tools' run.json (finetune writes one too)
                    found[folder.resolve()] = meta
    return sorted(found.items(), key=lambda kv: str(kv[1].get("updated") or kv[1].get("created") or ""), reverse=True)
