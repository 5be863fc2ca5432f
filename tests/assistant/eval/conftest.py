"""Hand-made generation runs for the eval tests."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest


def reply(pid: str, text: str, finish: str = "eot", tokens: int | None = None, prompt: str | None = None) -> dict[str, Any]:
    return {"id": pid, "messages": [{"role": "user", "content": prompt or f"prompt {pid}"}], "reply": text,
            "finish_reason": finish, "stats": {"completion_tokens": tokens if tokens is not None else len(text.split())}}


def write_run(folder: Path, label: str, rows: list[dict[str, Any]]) -> Path:
    folder.mkdir(parents=True)
    meta = {"kind": "generate", "label": label, "created": "2026-01-01T00:00:00+00:00",
            "model": {"name": label, "path": f"/models/{label}.gguf"}, "settings": {}, "complete": True,
            "replies": len(rows), "prompts": {"count": len(rows)}}
    (folder / "run.json").write_text(json.dumps(meta))
    (folder / "generations.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder


@pytest.fixture
def make_run(tmp_path: Path) -> Callable[..., Path]:
    def make(label: str, rows: list[dict[str, Any]]) -> Path:
        return write_run(tmp_path / "runs" / label, label, rows)

    return make


@pytest.fixture
def two_runs(make_run: Callable[..., Path]) -> tuple[Path, Path]:
    ids = [f"p{i}" for i in range(1, 7)]
    a = make_run("alpha", [reply(i, f"alpha answer to {i}", prompt=f"question {i}") for i in ids])
    b = make_run("beta", [reply(i, f"beta answer to {i}", prompt=f"question {i}") for i in ids])
    return a, b
