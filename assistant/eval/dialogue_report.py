"""The dialogue report: each rating's share per model (table, PNG, terminal bars) and the dialogues."""

from __future__ import annotations

from pathlib import Path

from assistant.eval.charts import stacked_png, terminal_bars
from assistant.eval.dialogue import RATINGS, DialogueRun
from assistant.eval.reports import REPORT, quote, write_text

CHART = "dialogue.png"
_COLOURS = ["#c92a2a", "#f08c00", "#2b8a3e"]


def rows(run: DialogueRun) -> list[tuple[str, list[tuple[str, float]]]]:
    return [(m, [(r, s["shares"][r]) for r in RATINGS]) for m, s in run.shares().items() if s["rated"]]


def bars(run: DialogueRun) -> str:
    r = rows(run)
    return terminal_bars(r) if r else "No rated turns yet."


def write_dialogue_report(run: DialogueRun) -> Path:
    shares = run.shares()
    lines = ["# Multi-turn dialogues", "",
             "A person chatted with each model and rated every assistant turn Fail, Pass or Excellent "
             "(the LIMA paper's protocol, section 4.4). With two models the dialogues alternated and "
             "the screen did not name the model.", "",
             "| model | dialogues | rated turns | Fail | Pass | Excellent |", "|---|---|---|---|---|---|"]
    for model, s in shares.items():
        c, f = s["counts"], s["shares"]
        lines.append(f"| {model} | {s['dialogues']} | {s['rated']} | " +
                     " | ".join(f"{f[r]:.0%} ({c[r]})" for r in RATINGS) + " |")
    if rows(run):
        stacked_png(run.folder / CHART, rows(run), "Rating of each assistant turn", _COLOURS)
        lines += ["", f"![ratings]({CHART})", "", "```", bars(run), "```"]
    lines += ["", "## Dialogues", ""]
    for d in run.dialogues:
        if not d.turns:
            continue
        lines += [f"### Dialogue {d.id}: {d.model}", ""]
        for t in d.turns:
            lines += ["**User**", "", quote(t.get("user", "")), "",
                      f"**Assistant** ({t.get('rating') or 'not rated'}, {t.get('finish_reason')})", "",
                      quote(t.get("assistant") or ""), ""]
    run.touch()
    return write_text(run.folder / REPORT, "\n".join(lines) + "\n")
