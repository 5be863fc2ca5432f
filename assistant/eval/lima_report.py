"""The LIMA-in-miniature report: the schedule (and where it departs from the paper), what each step
took, what the fit kept, training loss, the per-epoch stop diagnostics and the checkpoint each run
picked, how replies end for base / base+URIAL / tuned / tuned+dialogues, the blind comparisons
judged so far, and sample replies."""

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
# lima-mini's fine-tuning runs: the full ones, then ``--method lora``'s beside them (lima_mini.variant_key)
RUNS = ("single", "dialogues", "single-lora", "dialogues-lora")
LORA_RUNS = RUNS[2:]
LABELS = ("base", "urial", *RUNS, "instruct")  # lima-mini's generation runs, in the report's order
SAMPLES = ("kitchen-fractions", "limerick-cat", "tides", "pirate-system", "followup-recipe")


def _training(run_dir: Path) -> dict[str, Any] | None:
    path = run_dir / "metrics.jsonl"
    if not path.is_file():
        return None
    rows = [r for r in (json.loads(x) for x in path.read_text().splitlines() if x.strip()) if r.get("kind") != "epoch"]
    if not rows:
        return None
    last_epoch = rows[-1]["epoch"]
    epoch_losses = [r["loss"] for r in rows if r["epoch"] == last_epoch]
    return {"steps": rows[-1]["step"], "first_loss": rows[0]["loss"], "last_epoch_loss": sum(epoch_losses) / len(epoch_losses),
            "tokens_per_s": sum(r["tokens"] for r in rows) / max(sum(r["seconds"] for r in rows), 1e-9),
            "seconds": sum(r["seconds"] for r in rows), "peak_gib": max(r.get("peak_memory_bytes", 0) for r in rows) / 2**30}


def _epochs(run_dir: Path) -> list[dict[str, Any]]:
    path = run_dir / "metrics.jsonl"
    if not path.is_file():
        return []
    return [r for r in (json.loads(x) for x in path.read_text().splitlines() if x.strip())
            if r.get("kind") == "epoch" and "val_eot_p_end" in r]


def _run_json(run_dir: Path) -> dict[str, Any]:
    try:
        return dict(json.loads((run_dir / "run.json").read_text()))
    except (OSError, json.JSONDecodeError):
        return {}


def _stopping(folder: Path) -> list[str]:
    """Per variant: the fit, what eot_init did, the per-epoch diagnostics and the checkpoint picked."""
    lines = ["", "## Learning to stop, per epoch (held-out split, teacher-forced)", "",
             "Epoch 0 is the base after `eot_init`, before any step. `p(EOT) end`: mean probability of the end of "
             "turn at the true end of each held-out reply; `top-1`: share of those ends where it is the most likely "
             "token; `inside`: mean p(EOT) at every other reply position (must stay low); `dev stop`: finetune's own "
             "dev generations that ended within their budget.", ""]
    for variant in RUNS:
        run_dir = folder / f"finetune-{variant}"
        rows, meta = _epochs(run_dir), _run_json(run_dir)
        if not rows:
            continue
        fit, init, best = meta.get("fit") or {}, meta.get("eot_init") or {}, meta.get("best") or {}
        lines += [f"**{variant}**: fit at {fit.get('max_length')} tokens kept {fit.get('kept')} examples "
                  f"({fit.get('keep_eot')} end with their EOT), dropped {len(fit.get('dropped', []))}, cut "
                  f"{len(fit.get('cut_dialogues', []))} dialogues at a turn boundary; {len(meta.get('val_lines', []))} held out. "
                  f"eot_init={init.get('mode')}: {init.get('action')} ({init.get('reason')}); EOT rank at reply ends "
                  f"{(init.get('before') or {}).get('eot_rank_end_median')} -> {(init.get('after') or {}).get('eot_rank_end_median')}.", "",
                  "| epoch | p(EOT) end | top-1 | median rank | inside | held-out loss | train loss | dev stop |",
                  "|---|---|---|---|---|---|---|---|"]
        for r in rows:
            dev = f"{r['dev_eot_stop_share']:.0%} @ {r['dev_max_new_tokens']}" if r.get("dev_eot_stop_share") is not None else ""
            train = f"{r['train_loss']:.3f}" if r.get("train_loss") is not None else ""
            lines.append(f"| {r['epoch']} | {r['val_eot_p_end']:.3f} | {r['val_eot_top1_end']:.0%} | "
                         f"{r['val_eot_rank_end_median']:.0f} | {r['val_eot_p_inside']:.4f} | {r['val_loss']:.3f} | {train} | {dev} |")
        if best:
            lines += ["", f"Converted: `{Path(best['checkpoint']).name}` (best by the rule: {best.get('rule')})."]
        lines.append("")
    return lines


def _comparisons(folder: Path) -> list[str]:
    found = sorted(p for p in folder.glob("cmp-*") if (p / "run.json").is_file())
    if not found:
        return []
    lines = ["", "## Blind pairwise preference (`assistant eval compare`)", "", "| comparison | result (person) |", "|---|---|"]
    for p in found:
        lines.append(f"| {p.name.removeprefix('cmp-')} | {read_meta(p).get('summary', 'not judged')} |")
    return lines


def _lora_note(folder: Path) -> str:
    """A sentence on the LoRA runs (``lima-mini --method lora``) when the folder has any."""
    found = [v for v in LORA_RUNS if (folder / f"finetune-{v}").is_dir() or (folder / f"gen-{v}" / "run.json").is_file()]
    if not found:
        return ""
    return (f" The same recipe also trained LoRA adapters on the frozen base (finetune's method=lora, at 10x the "
            f"learning rate, merged at conversion): {', '.join(f'`{v}`' for v in found)}, reported beside the full runs.")


def write_lima_report(folder: Path) -> Path:
    meta = read_meta(folder)
    s, d = meta["schedule"], meta.get("data", {})
    lines = ["# LIMA in miniature", "",
             f"Base model `{meta['base']}` fine-tuned twice with the LIMA recipe on a subset of the LIMA data "
             f"({d.get('single_turn')} single-turn examples, a seeded sample of {d.get('rows', 0) - d.get('dialogues', 0)}; "
             f"plus the {d.get('dialogues')} multi-turn dialogues for the second model), converted to {meta['quant']}, "
             f"and asked 20 held-out prompts (not in the data), as was the base model alone and with a URIAL-style "
             "in-context prompt (a system text and three fixed example exchanges, no training), with LIMA's sampling (p 0.9, temperature 0.7, "
             f"repetition penalty 1.2) and a {meta['max_tokens']}-token budget.{_lora_note(folder)}", "",
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
    for variant in RUNS:
        t = _training(folder / f"finetune-{variant}")
        if t:
            lines.append(f"| {variant} | {t['steps']} | {t['first_loss']:.3f} | {t['last_epoch_loss']:.3f} | "
                         f"{t['tokens_per_s']:.0f} | {t['seconds'] / 60:.1f} min | {t['peak_gib']:.1f} GiB |")
    lines += _stopping(folder)
    runs = [load_generations(folder / f"gen-{label}") for label in LABELS
            if (folder / f"gen-{label}" / "run.json").is_file()]
    if runs:
        stats = [run_stats(r) for r in runs]
        lines += ["", "## How the replies end (`assistant eval stats`)", "", markdown_table(stats), ""]
        rows = [(x["label"], [("clean stop", x["shares"]["clean_stop"]),
                              ("invented turn / stop string", x["shares"]["invented_turn"] + x["shares"]["stop_string"]),
                              ("hit the limit", x["shares"]["limit"])]) for x in stats]
        stacked_png(folder / CHART, rows, "How replies end", ["#2b8a3e", "#f08c00", "#c92a2a"])
        lines += [f"![how replies end]({CHART})"]
        lines += _comparisons(folder)
        lines += ["", "## Sample replies", ""]
        ids = [i for i in SAMPLES if any(i in r.by_id() for r in runs)]
        lines += reply_sections(runs, ids)
        lines += [f"All replies: the `report.md` in {', '.join(f'`gen-{r.label}/`' for r in runs)}."]
    meta["summary"] = "; ".join(f"{x['label']} clean stop {x['shares']['clean_stop']:.0%}" for x in stats) if runs else "unfinished"
    write_meta(folder, meta)
    return write_text(folder / REPORT, "\n".join(lines) + "\n")
