"""Prompt sets shipped with the package (JSONL, one prompt per line; see ``assistant.eval.promptset``)."""

from pathlib import Path

HERE = Path(__file__).resolve().parent
LIMA_MINI = HERE / "lima_mini.jsonl"
