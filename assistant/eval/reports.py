"""Markdown reports in run folders, and the listing behind ``eval report``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from assistant.eval.runs import Generations, load_generations
from assistant.eval.stats import markdown_table, run_stats
from models.atomic import atomic_open

REPORT = "report.md"


def write_text(path: Path, text: str) -> Path:
    with atomic_open(path) as fh:
        fh.write(text)
    return path


def quote(text: str) -> str:
    """A reply as a Markdown block quote, so its own headings and fences cannot break the report."""
    if not text.strip():
        return "> _(empty)_"
    return "\n".join("> " + line if line.strip() else ">" for line in text.strip().splitlines())


def _settings_line(settings: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v}" for k, v in settings.items() if v is not None)


def generation_report(folder: Path) -> Path:
    """``report.md`` of a generation run: model, provenance, settings, the stats, then every reply."""
    run = load_generations(folder)
    meta = run.meta
    model = meta.get("model", {})
    s = run_stats(run)
    lines = [f"# Generations: {run.label}", "",
             f"- model: `{model.get('name')}` ({model.get('arch')}, {model.get('quant')}, {model.get('path')})",
             f"- settings: {_settings_line(meta.get('settings', {}))}",
             f"- prompts: {meta.get('prompts', {}).get('file')} ({s['replies']} of {meta.get('prompts', {}).get('count')} answered)",
             f"- created {meta.get('created')}, updated {meta.get('updated')}"]
    prov = meta.get("provenance")
    if prov:
        lines.append(f"- provenance: `{json.dumps(prov, ensure_ascii=False)[:600]}`")
    lines += ["", "## How the replies end", "", markdown_table([s]), "", "## Replies", ""]
    lines += reply_sections([run])
    return write_text(folder / REPORT, "\n".join(lines) + "\n")


def reply_sections(runs: list[Generations], ids: list[str] | None = None) -> list[str]:
    """Each prompt, then each run's reply to it with how it ended."""
    tables = [r.by_id() for r in runs]
    order = ids if ids is not None else [str(r["id"]) for r in runs[0].rows]
    lines: list[str] = []
    for pid in order:
        first = next((t[pid] for t in tables if pid in t), None)
        if first is None:
            continue
        lines += [f"### {pid}", ""]
        for m in first.get("messages", []):
            lines += [f"**{m['role']}**", "", quote(m["content"]), ""]
        for run, table in zip(runs, tables):
            row = table.get(pid)
            if row is None:
                continue
            tokens = (row.get("stats") or {}).get("completion_tokens", "?")
            lines += [f"**{run.label}** ({row.get('finish_reason')}, {tokens} tokens)", "", quote(row.get("reply", "")), ""]
    return lines


def summary_of(meta: dict[str, Any]) -> str:
    kind = meta.get("kind")
    if kind == "generate":
        return f"{meta.get('replies', 0)}/{meta.get('prompts', {}).get('count', '?')} replies" + ("" if meta.get("complete") else " (unfinished)")
    if kind == "compare":
        return str(meta.get("summary") or "not judged yet")
    if kind == "dialogue":
        return str(meta.get("summary") or "no rated turns yet")
    return str(meta.get("summary") or "")


def name_of(meta: dict[str, Any]) -> str:
    if meta.get("kind") == "generate":
        return str(meta.get("label") or meta.get("model", {}).get("name"))
    if meta.get("kind") == "compare":
        return f"{meta.get('first', {}).get('label')} vs {meta.get('second', {}).get('label')}"
    if meta.get("kind") == "dialogue":
        return " / ".join(meta.get("models", []))
    if meta.get("kind") == "lima-mini":
        return " / ".join([str(meta.get("base")), *meta.get("names", {}).values()])
    return str(meta.get("label") or "")


def listing(runs: list[tuple[Path, dict[str, Any]]]) -> str:
    rows = [("UPDATED", "KIND", "MODELS", "SUMMARY", "FOLDER")]
    for folder, meta in runs:
        updated = str(meta.get("updated") or meta.get("created") or "")[:16].replace("T", " ")
        report = " (report.md)" if (folder / REPORT).is_file() else ""
        rows.append((updated, str(meta.get("kind")), name_of(meta), summary_of(meta), f"{folder}{report}"))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r[:4], widths)) + "  " + r[4] for r in rows)
