"""The LIMA-in-miniature report with ``--method lora``'s runs beside the full ones: their training
rows, their per-epoch stop diagnostics and their generations, in the report's order."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from assistant.eval.lima_mini import SCHEDULES, variant_key
from assistant.eval.lima_report import LABELS, RUNS, write_lima_report
from tests.assistant.eval.conftest import reply, write_run


def _finetune_run(run_dir: Path, loss: float) -> None:
    run_dir.mkdir()
    rows: list[dict[str, Any]] = [{"step": i, "epoch": 1, "loss": loss - i * 0.5, "tokens": 1000, "seconds": 60.0, "peak_memory_bytes": 2**30}
            for i in (1, 2)]
    rows.append({"kind": "epoch", "epoch": 1, "step": 2, "val_eot_p_end": 0.5, "val_eot_top1_end": 0.5,
                 "val_eot_rank_end_median": 1, "val_eot_p_inside": 0.002, "val_loss": loss - 1})
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (run_dir / "run.json").write_text(json.dumps({"fit": {"max_length": 512, "kept": 10, "keep_eot": 10}}))


def test_the_lora_runs_are_named_as_lima_mini_names_them() -> None:
    assert tuple(variant_key(v, m) for m in ("full", "lora") for v in ("single", "dialogues")) == RUNS
    assert LABELS == ("base", "urial", "single", "dialogues", "single-lora", "dialogues-lora", "instruct")


def test_lora_runs_are_reported_beside_the_full_ones(tmp_path: Path) -> None:
    folder = tmp_path / "mini"
    folder.mkdir()
    meta = {"kind": "lima-mini", "base": "smollm2-135m", "schedule": SCHEDULES["cpu"], "schedule_name": "cpu",
            "quant": "q8_0", "max_tokens": 256, "data": {"rows": 100, "single_turn": 90, "dialogues": 10}, "steps": {}}
    (folder / "run.json").write_text(json.dumps(meta))
    for key, loss in (("single", 3.0), ("dialogues", 3.2), ("single-lora", 3.4), ("dialogues-lora", 3.6)):
        _finetune_run(folder / f"finetune-{key}", loss)
    write_run(folder / "gen-base", "base", [reply("tides", "Tides...", "length")])
    for label in ("single", "single-lora", "dialogues-lora", "dialogues"):
        write_run(folder / f"gen-{label}", label, [reply("tides", f"The moon ({label}).", "eot")])
    text = write_lima_report(folder).read_text()
    assert "trained LoRA adapters" in text and "`single-lora`, `dialogues-lora`" in text
    training = [line.split(" | ")[0] for line in text.splitlines() if line.startswith("| ") and "GiB |" in line]
    assert training == ["| single", "| dialogues", "| single-lora", "| dialogues-lora"]
    assert "| single-lora | 2 | 2.900 | 2.650 |" in text
    assert all(f"**{key}**: fit at 512 tokens" in text for key in RUNS)
    header = next(line for line in text.splitlines() if line.startswith("|  | base"))
    assert header == "|  | base | single | dialogues | single-lora | dialogues-lora |"
    assert "The moon (dialogues-lora)." in text


def test_no_lora_note_without_lora_runs(tmp_path: Path) -> None:
    folder = tmp_path / "mini"
    folder.mkdir()
    meta = {"kind": "lima-mini", "base": "b", "schedule": SCHEDULES["cpu"], "schedule_name": "cpu", "quant": "q8_0",
            "max_tokens": 256, "data": {}, "steps": {}}
    (folder / "run.json").write_text(json.dumps(meta))
    write_run(folder / "gen-single", "single", [reply("tides", "The moon.", "eot")])
    text = write_lima_report(folder).read_text()
    assert "LoRA" not in text and "single-lora" not in text
