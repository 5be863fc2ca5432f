"""What happens at the end of an epoch (and once before the first): the held-out stop
diagnostics, a checkpoint with dev generations where the schedule saves one, one printed line,
one ``kind: epoch`` row in ``metrics.jsonl``, and the best checkpoint so far in ``run.json``; and
the run folder's first records (:func:`start_run_folder`)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from finetune.data import Example
from finetune.stopping import BEST_RULE, best_checkpoint, describe_row, teacher_forced


def write_val(out: Path, rows: list[Example]) -> None:
    """The held-out rows (source line and messages), so a person can see what was never trained on."""
    with open(out / "val.jsonl", "w", encoding="utf-8") as fh:
        for ex in rows:
            msgs = [{"role": t.role, "content": t.content} for t in ex.turns]
            fh.write(json.dumps({"line": ex.line, "source": ex.source, "messages": msgs}, ensure_ascii=False) + "\n")


def start_run_folder(p: Any) -> None:
    """The config, and for a new run run.json and val.jsonl (the main process writes them)."""
    c, out = p.config, p.out
    out.mkdir(parents=True, exist_ok=True)
    c.save(out / "finetune_config.yaml")
    if not p.args.resume:
        run_meta = {"base": p.args.base, "base_location": p.args.base_location, "method": c.method, "data": p.args.data,
                    "data_sha256": p.data.sha256, "dev": str(p.args.dev) if p.args.dev else None,
                    "fit": p.fit.to_dict(), "val_lines": [e.line for e in p.val]}
        (out / "run.json").write_text(json.dumps(run_meta, indent=2) + "\n")
        write_val(out, p.val_rows)


def update_run_json(out: Path, **fields: Any) -> None:
    path = out / "run.json"
    meta = json.loads(path.read_text()) if path.is_file() else {}
    meta.update(fields)
    tmp = path.with_name(".run.json.tmp")
    tmp.write_text(json.dumps(meta, indent=2) + "\n")
    tmp.replace(path)


def diagnostics(p: Any, model: Any, device: torch.device, amp: torch.dtype | None, eot_id: int, pad_id: int) -> dict[str, float]:
    c = p.config
    if not p.val:
        return {}
    return teacher_forced(model, p.val, eot_id, device, pad_id=pad_id, chunk=c.loss_chunk, budget=c.micro_batch_tokens, amp=amp)


def epoch_row(epoch: int, step: int, diag: dict[str, float], train_loss: float | None,
              dev: list[dict[str, Any]] | None, dev_tokens: int, checkpoint: Path | None) -> dict[str, Any]:
    row: dict[str, Any] = {"kind": "epoch", "epoch": epoch, "step": step, **diag}
    if train_loss is not None:
        row["train_loss"] = train_loss
    if dev is not None:
        row["dev_eot_stop_share"] = sum(r["stopped"] for r in dev) / len(dev) if dev else 0.0
        row["dev_max_new_tokens"] = dev_tokens
    if checkpoint is not None:
        row["checkpoint"] = str(checkpoint)
    return row


def report(out: Path, rows: list[dict[str, Any]], say: Callable[[str], None]) -> dict[str, Any] | None:
    """Print the epoch's line, and record the best checkpoint so far in run.json."""
    row = rows[-1]
    head = "Before training" if row["epoch"] == 0 else f"Epoch {row['epoch']}"
    if "val_loss" in row:
        say(f"{head}: {describe_row(row)}")
    best = best_checkpoint(rows)
    if best is not None:
        record = {"epoch": best["epoch"], "checkpoint": best["checkpoint"], "rule": BEST_RULE,
                  "metrics": {k: v for k, v in best.items() if k.startswith(("val_", "dev_"))}}
        update_run_json(out, best=record)
        return record
    return None
