"""OUT.report.md: what was asked, what each step dropped, and every dropped row by line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from finetune.curate.pool import line_ranges

STEPS = ("refused", "exact duplicate", "near duplicate", "over-long", "filter", "dialogue", "ranking")
LISTED = 2000  # rows listed one per line in the report for each step; the rest by line ranges


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def selection_markdown(sel: Any, out: Path, selection: Path) -> str:
    cfg = sel.config
    pool = sel.pool
    c = sel.counts
    single = sum(not r.is_dialogue for r in pool.good)
    asked = [f"--by {cfg.by}", f"--n {cfg.n}", f"--dialogues {cfg.dialogues}", f"--seed {cfg.seed}"]
    if cfg.base:
        asked.append(f"--base {cfg.base} --max-length {cfg.max_length}")
    if cfg.by == "quality":
        asked.append(f"--judge {cfg.judge} --min-score {cfg.min_score:g}")
    if cfg.by == "diverse":
        asked.append(f"--embed {cfg.embed}" if cfg.embed else "TF-IDF vectors (no --embed)")
    if cfg.balance:
        asked.append(f"--balance {cfg.balance}")
    active = {k: v for k, v in cfg.filters.to_dict().items() if v not in (None, False)}
    lines = [f"# Data selection: {out.name}", "",
             f"- input: `{pool.origin}` (sha256 `{pool.sha256}`), {len(pool.rows)} rows: {single} single-turn, "
             f"{len(pool.good) - single} dialogues, {len(pool.bad)} refused",
             f"- asked: {' '.join(asked)}",
             f"- dedupe: {'exact + near-duplicate prompts (MinHash LSH, threshold ' + f'{cfg.near_threshold:g}, ' + str(cfg.shingle) + '-word shingles)' if cfg.dedupe else 'off'}",
             f"- filters: {', '.join(f'{k}={v}' for k, v in active.items()) if active else 'none'}",
             f"- kept: **{c['kept']}** rows ({c['kept_single_turn']} single-turn, {c['kept_dialogues']} dialogues) in `{out}`",
             f"- every row's decision: `{selection}`", ""]
    lines += [f"> {n}" for n in sel.notes] + ([""] if sel.notes else [])
    lines += ["## Rows dropped, by step", "", "| step | rows |", "|---|---:|"]
    by_step: dict[str, list[int]] = {}
    for line, step in sel.stage.items():
        by_step.setdefault(step, []).append(line)
    for step in STEPS:
        lines.append(f"| {step} | {len(by_step.get(step, []))} |")
    lines += [f"| **kept** | **{c['kept']}** |", ""]
    rows = {r.line: r for r in pool.rows}
    for step in STEPS:
        dropped = sorted(by_step.get(step, []))
        if not dropped:
            continue
        lines += [f"## Dropped: {step} ({len(dropped)})", "", f"{pool.label.capitalize()}s {line_ranges(dropped)}.", ""]
        lines += [f"| {pool.label} | reason | prompt |", "|---:|---|---|"]
        lines += [f"| {line} | {_cell(sel.reasons[line])} | {_cell(rows[line].preview())} |" for line in dropped[:LISTED]]
        if len(dropped) > LISTED:
            lines.append(f"| ... | {len(dropped) - LISTED} more, every one in the selection file | |")
        lines.append("")
    if sel.scores:
        hist: dict[Any, int] = {}
        for s in sel.scores.values():
            hist[s["score"]] = hist.get(s["score"], 0) + 1
        cached = sum(bool(s.get("cached")) for s in sel.scores.values())
        lines += ["## Judge scores", "", f"{len(sel.scores)} rows scored ({cached} from the cache).", "",
                  "| score | rows |", "|---|---:|"]
        lines += [f"| {k if k is not None else 'unreadable'} | {hist[k]} |"
                  for k in sorted(hist, key=lambda k: (k is None, -(k or 0)))]
        lines.append("")
    return "\n".join(lines) + "\n"
