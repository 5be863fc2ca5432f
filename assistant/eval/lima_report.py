"""The LIMA-in-miniature report: the schedule (and where it departs from the paper), what each step
took, training loss, how replies end for base vs tuned vs tuned+dialogues, and sample replies."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from assistant.eval.charts import stacked_png
from assistant.eval.reports import REPORT, reply_sections, write_text
from assistant.eval.runs import load_generations, read_meta, write_meta
from assistant.eval.stats import markdown_table, run_stats

CHART = "endings.png"
PAPER = {"examples": "1,000 (+30 dialogues)", "epochs": "15", "max_length": "2048", "batch_size": "64 (32 from 7B)",
         "lr": "1e-5", "lr_end": "1e-6"}
SAMPLES = ("kitchen-fractions", "limerick-cat", "tides", "pirate-system", "followup-recipe")


def _training(run_dir: Path) -> dict[str, Any] | None:
    path = run_dir / "metrics.jsonl"
    if not path.is_file():
        return None
    rows = [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
    if not rows:
        return None
    last_epoch = rows[-1]["epoch"]
    epoch_losses = [r["loss"] for r in rows if r["epoch"] == last_epoch]
    return {"steps": rows[-1]["step"], "first_loss": rows[0]["loss"], "last_epoch_loss": sum(epoch_losses) / len(epoch_losses),
            "tokens_per_s": sum(r["tokens"] for r in rows) / max(sum(r["seconds"] for r in rows), 1e-9),
            "seconds": sum(r["seconds"] for r in rows), "peak_gib": max(r.get("peak_memory_bytes", 0) for r in rows) / 2**30}


def write_lima_report(folder: Path) -> Path:
    meta = read_meta(folder)
    s, d = meta["schedule"], meta.get("data", {})
    lines = ["# LIMA in miniature", "",
             f"Base model `{meta['base']}` fine-tuned twice with the LIMA recipe on a subset of the LIMA data "
             f"({d.get('single_turn')} single-turn examples, a seeded sample of {d.get('rows', 0) - d.get('dialogues', 0)}; "
             f"plus the {d.get('dialogues')} multi-turn dialogues for the second model), converted to {meta['quant']}, "
             f"and asked 20 held-out prompts (not in the data) with LIMA's sampling (p 0.9, temperature 0.7, "
             f"repetition penalty 1.2) and a {meta['max_tokens']}-token budget.", "",
             f"## Schedule ({meta.get('schedule_name')})", "",
             "| | this run | LIMA paper |", "|---|---|---|"]
    for key in ("examples", "epochs", "max_length", "batch_size", "lr", "lr_end"):
        lines.append(f"| {key} | {s[key]} | {PAPER[key]} |")
    lines += ["", "Unchanged from the paper: AdamW (0.9, 0.95), weight decay 0.1, linear decay without warmup, "
              "residual dropout rising to 0.2, loss on assistant tokens only, an end-of-turn token after every reply.",
              "", "## Steps", "", "| step | status | wall time |", "|---|---|---|"]
    for name, step in meta.get("steps", {}).items():
        lines.append(f"| {name} | {step.get('status')} | {step.get('seconds', 0) / 60:.1f} min |")
    lines += ["", "## Training", "", "| model | steps | loss, first step | loss, last epoch | tokens/s | time | peak memory |",
              "|---|---|---|---|---|---|---|"]
    for variant in ("single", "dialogues"):
        t = _training(folder / f"finetune-{variant}")
        if t:
            lines.append(f"| {variant} | {t['steps']} | {t['first_loss']:.3f} | {t['last_epoch_loss']:.3f} | "
                         f"{t['tokens_per_s']:.0f} | {t['seconds'] / 60:.1f} min | {t['peak_gib']:.1f} GiB |")
    runs = [load_generations(folder / f"gen-{label}") for label in ("base", "single", "dialogues")
            if (folder / f"gen-{label}" / "run.json").is_file()]
    if runs:
        stats = [run_stats(r) for r in runs]
        lines += ["", "## How the replies end (`assistant eval stats`)", "", markdown_table(stats), ""]
        rows = [(x["label"], [("clean stop", x["shares"]["clean_stop"]),
                              ("invented turn / stop string", x["shares"]["invented_turn"] + x["shares"]["stop_string"]),
                              ("hit the limit", x["shares"]["limit"])]) for x in stats]
        stacked_png(folder / CHART, rows, "How replies end", ["#2b8a3e", "#f08c00", "#c92a2a"])
        lines += [f"![how replies end]({CHART})", "", "## Sample replies", ""]
        ids = [i for i in SAMPLES if any(i in r.by_id() for r in runs)]
        lines += reply_sections(runs, ids)
        lines += [f"All replies: the `report.md` in {', '.join(f'`gen-{r.label}/`' for r in runs)}."]
    meta["summary"] = "; ".join(f"{x['label']} clean stop {x['shares']['clean_stop']:.0%}" for x in stats) if runs else "unfinished"
    write_meta(folder, meta)
    return write_text(folder / REPORT, "\n".join(lines) + "\n")
