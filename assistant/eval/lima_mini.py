"""LIMA in miniature: fine-tune the offline base model twice (without and with the dialogues),
convert each run's best checkpoint (by its stop diagnostics) to GGUF, generate on 20 held-out
prompts with LIMA's 2,048-token budget (base, base with a URIAL prompt, both tuned models), and
write one report.

Each step runs as its own ``assistant`` subprocess (finetune, convert, eval generate), so memory
is returned between steps and each shows its own progress; every step resumes: a finished step
is skipped, an interrupted fine-tune continues with ``--resume``, generations skip done prompts.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import click

from assistant.eval.prompts import LIMA_MINI
from assistant.eval.runs import now, read_meta, slug, write_meta
from assistant.eval.urial import write_urial_prompts
from models.atomic import atomic_open
from models.errors import AssistantError

# The CPU schedule (stated in docs/eval.md); "paper" is the LIMA recipe's own defaults in finetune.
SCHEDULES: dict[str, dict[str, Any]] = {
    "cpu": {"examples": 240, "epochs": 3, "max_length": 512, "batch_size": 4, "lr": 1e-4, "lr_end": 1e-5,
            "dev_max_new_tokens": 64},
    "paper": {"examples": 1000, "epochs": 15, "max_length": 2048, "batch_size": 64, "lr": 1e-5, "lr_end": 1e-6,
              "dev_max_new_tokens": 256},
}
VARIANTS = (("single", False), ("dialogues", True))  # LIMA's 1,000- and 1,030-example models
# --method lora: the same two runs with LoRA adapters (finetune's method=lora) beside the full ones in
# the same folder (same data, shared base/URIAL/reference generations), at LoRA's learning rate: 10x the
# schedule's, as finetune's recipe takes it (docs/finetune.md).
METHODS = ("full", "lora")
LORA_LR_FACTOR = 10


def variant_key(variant: str, method: str) -> str:
    """What a run is called in folder, model and generation names: ``single``, ``single-lora``."""
    return variant if method == "full" else f"{variant}-{method}"
# The reference for the blind comparison: SmolLM2-135M-Instruct, aligned on ~460k conversations
# (LIMA compared with Alpaca the same way).
REFERENCE = "smollm2-135m-instruct"
CTX_SIZE = 4096  # a 2,048-token reply after the URIAL prompt (about 600 tokens) and a follow-up


def pick_schedule(choice: str) -> str:
    if choice != "auto":
        return choice
    try:
        import torch

        return "paper" if torch.cuda.is_available() else "cpu"
    except ImportError:
        return "cpu"


SELECT = ("random", "longest")


def make_subset(data: Path, out: Path, examples: int, seed: int = 0, select: str = "random",
                base: str | None = None, max_length: int | None = None) -> dict[str, Any]:
    """``examples`` single-turn rows (a seeded sample, in file order) plus every dialogue; with
    ``select="longest"`` the rows come from ``assistant data select --by longest`` (deduplicated,
    and with ``base`` the longest replies that fit ``max_length`` with their end of turn)."""
    if select != "random":
        return _selected_subset(data, out, examples, select, base, max_length)
    try:
        lines = [x for x in Path(data).expanduser().read_text(encoding="utf-8").splitlines() if x.strip()]
        rows = [json.loads(x) for x in lines]
    except FileNotFoundError:
        raise AssistantError(f"The LIMA data {data} does not exist; pass --data PATH/train.jsonl.") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise AssistantError(f"{data} is not JSONL ({exc}); pass LIMA's train.jsonl.") from exc
    if not all(isinstance(r, dict) and isinstance(r.get("conversations"), list) for r in rows):
        raise AssistantError(f"{data} is not in LIMA's layout (a 'conversations' list per row); pass LIMA's train.jsonl.")
    single = [i for i, r in enumerate(rows) if len(r["conversations"]) <= 2 and r.get("source") != "multi_turn"]
    single_set = set(single)
    dialogues = [i for i in range(len(rows)) if i not in single_set]
    chosen = sorted(random.Random(seed).sample(single, min(examples, len(single))))
    keep = chosen + dialogues
    with atomic_open(out) as fh:
        for i in keep:
            fh.write(lines[i] + "\n")
    return {"source": str(Path(data).expanduser().resolve()), "rows": len(rows), "single_turn": len(chosen),
            "dialogues": len(dialogues), "file": str(out), "seed": seed}


def _selected_subset(data: Path, out: Path, examples: int, select: str, base: str | None,
                     max_length: int | None) -> dict[str, Any]:
    from finetune.curate.select import SelectConfig, run_select, write_selection

    if select not in SELECT:
        raise AssistantError(f"Unknown --select {select!r}; use one of {', '.join(SELECT)}.")
    if not Path(data).expanduser().is_file():
        raise AssistantError(f"The LIMA data {data} does not exist; pass --data PATH/train.jsonl.")
    cfg = SelectConfig(n=examples, by=select, base=base, max_length=max_length or 2048, dialogues="keep")
    sel = run_select(str(Path(data).expanduser()), cfg, say=lambda m: click.echo(m, err=True))
    files = write_selection(sel, out)  # a FinetuneError is an AssistantError: the CLI prints it and its details
    return {"source": str(Path(data).expanduser().resolve()), "rows": sel.counts["rows"],
            "single_turn": sel.counts["kept_single_turn"], "dialogues": sel.counts["kept_dialogues"],
            "file": str(out), "seed": 0, "select": select, "selection": str(files["selection"])}


def dev_prompts(out: Path) -> Path:
    """The held-out prompts finetune can read as dev prompts (its format takes single-turn rows)."""
    rows = [json.loads(x) for x in LIMA_MINI.read_text(encoding="utf-8").splitlines() if x.strip()]
    with atomic_open(out) as fh:
        for r in rows:
            if "prompt" in r:
                fh.write(json.dumps({k: r[k] for k in ("id", "prompt", "system") if k in r}, ensure_ascii=False) + "\n")
    return out


def run_step(meta: dict[str, Any], folder: Path, name: str, argv: list[str]) -> None:
    """Run ``python -m assistant ARGV``, time it, and record it in run.json."""
    import os

    click.echo(f"\n== {name}: assistant {' '.join(argv)}", err=True)
    env = dict(os.environ)
    if meta.get("threads"):  # torch and llama.cpp: fewer threads than cores is faster on a busy machine
        env["OMP_NUM_THREADS"] = str(meta["threads"])
    started = time.perf_counter()
    code = subprocess.call([sys.executable, "-m", "assistant", *argv], env=env)
    code = code if code >= 0 else 128 - code  # killed by a signal: the shell's convention
    seconds = time.perf_counter() - started
    step = meta.setdefault("steps", {}).setdefault(name, {})
    step["seconds"] = step.get("seconds", 0.0) + seconds
    step["argv"] = argv
    if code:
        step["status"] = f"failed (exit {code})"
        write_meta(folder, meta)
        raise AssistantError(f"The step '{name}' failed (exit code {code}); its messages are above. "
                             "Run the same command again to continue.", exit_code=code)
    step["status"] = "done"
    step["finished"] = now()
    write_meta(folder, meta)


def _is_checkpoint(folder: Path) -> bool:
    """A full checkpoint (config.json) or an adapter checkpoint (adapter_config.json)."""
    return (folder / "config.json").is_file() or (folder / "adapter_config.json").is_file()


def final_checkpoint(run_dir: Path, epochs: int) -> Path | None:
    ckpt = run_dir / f"epoch-{epochs:02d}"
    return ckpt if _is_checkpoint(ckpt) else None


def best_checkpoint(run_dir: Path, epochs: int) -> Path | None:
    """The checkpoint the run named best by its stop diagnostics (run.json), else the last one."""
    final = final_checkpoint(run_dir, epochs)
    if final is None:
        return None
    try:
        best = json.loads((run_dir / "run.json").read_text()).get("best") or {}
    except (OSError, json.JSONDecodeError):
        best = {}
    ckpt = Path(best["checkpoint"]) if best.get("checkpoint") else final
    return ckpt if _is_checkpoint(ckpt) else final


def finetune_argv(meta: dict[str, Any], run_dir: Path, dialogues: bool, dev: Path, method: str = "full") -> list[str]:
    s = meta["schedule"]
    if (run_dir / "state" / "trainer.pt").is_file():
        return ["finetune", "--resume", str(run_dir)]
    if run_dir.exists():
        shutil.rmtree(run_dir)  # started but saved nothing resumable: start again
    factor = LORA_LR_FACTOR if method == "lora" else 1
    return ["finetune", "--base", meta["base"], "--data", meta["data"]["file"], "--out", str(run_dir),
            "--dialogues" if dialogues else "--no-dialogues", "--dev", str(dev),
            *(["--method", method] if method != "full" else []),
            f"epochs={s['epochs']}", f"lr={s['lr'] * factor:g}", f"lr_end={s['lr_end'] * factor:g}",
            f"batch_size={s['batch_size']}",
            f"max_length={s['max_length']}", f"save_epochs=1-{s['epochs']}", f"dev_max_new_tokens={s['dev_max_new_tokens']}"]


def lima_mini_command(kw: dict[str, Any]) -> None:
    from assistant.eval.lima_report import write_lima_report
    from models.store import Store

    out = Path(kw["out"]).expanduser().resolve()
    method = kw.get("method") or "full"
    if method not in METHODS:
        raise AssistantError(f"Unknown --method {method!r}; use full or lora.")
    schedule_name = pick_schedule(kw["schedule"])
    schedule = dict(SCHEDULES[schedule_name])
    for key in ("examples", "epochs", "max_length", "batch_size", "lr", "lr_end", "dev_max_new_tokens"):
        if kw.get(key) is not None:
            schedule[key] = kw[key]
    if (out / "run.json").exists():
        meta = read_meta(out)
        if meta.get("kind") != "lima-mini":
            raise AssistantError(f"{out} holds another kind of run; pass another --out.")
        if meta["schedule"] != schedule or meta["base"] != kw["base"]:
            raise AssistantError(f"{out} was started with another schedule or base ({meta['schedule']}); "
                                 "pass the same options to continue it, or another --out.")
    else:
        meta = {"kind": "lima-mini", "created": now(), "base": kw["base"], "schedule": schedule,
                "schedule_name": schedule_name, "quant": kw["quant"], "max_tokens": kw["max_tokens"],
                "names": {v: f"{slug(out.name)}-{v}-{kw['quant']}" for v, _ in VARIANTS}}
    meta["threads"] = kw.get("threads")
    for variant, _ in VARIANTS:  # a folder started before --method existed has only the full runs' names
        key = variant_key(variant, method)
        meta["names"].setdefault(key, f"{slug(out.name)}-{key}-{meta['quant']}")
    out.mkdir(parents=True, exist_ok=True)
    select = kw.get("select") or "random"
    if select != (meta.get("data") or {}).get("select", "random") and (out / "run.json").exists():
        raise AssistantError(f"{out} was started with --select {(meta.get('data') or {}).get('select', 'random')}; "
                             "pass the same --select to continue it, or another --out.")
    base_for_fit = meta["base"] if select != "random" else None  # resolved as finetune resolves it
    meta["data"] = make_subset(Path(kw["data"]), out / "data" / "train-subset.jsonl", int(schedule["examples"]),
                               select=select, base=base_for_fit, max_length=int(schedule["max_length"]))
    dev = dev_prompts(out / "data" / "dev_prompts.jsonl")
    write_meta(out, meta)
    factor = LORA_LR_FACTOR if method == "lora" else 1
    click.echo(f"LIMA in miniature ({schedule_name} schedule{', LoRA' if method == 'lora' else ''}): "
               f"{meta['data']['single_turn']} single-turn examples + "
               f"{meta['data']['dialogues']} dialogues, {schedule['epochs']} epoch{'s' if schedule['epochs'] != 1 else ''}, max length {schedule['max_length']}, "
               f"batch {schedule['batch_size']}, lr {schedule['lr'] * factor:g} -> {schedule['lr_end'] * factor:g}; folder {out}", err=True)
    if kw.get("dry_run"):
        for variant, dialogues in VARIANTS:
            run_dir = out / f"finetune-{variant_key(variant, method)}"
            click.echo("assistant " + " ".join(finetune_argv(meta, run_dir, dialogues, dev, method)
                                              if not run_dir.exists() else ["finetune", "..."]))
        return
    for variant, dialogues in VARIANTS:
        key = variant_key(variant, method)
        run_dir = out / f"finetune-{key}"
        if final_checkpoint(run_dir, schedule["epochs"]) is None:
            run_step(meta, out, f"finetune-{key}", finetune_argv(meta, run_dir, dialogues, dev, method))
        ckpt = best_checkpoint(run_dir, schedule["epochs"])
        if ckpt is None:
            raise AssistantError(f"Fine-tuning finished without {run_dir}/epoch-{schedule['epochs']:02d}; see its messages above.")
        name = meta["names"][key]
        step = meta.get("steps", {}).get(f"convert-{key}", {})
        meta.setdefault("converted", {})[key] = str(ckpt)
        if not (step.get("status") == "done" and Store().has(name) and step.get("argv", [None, None])[1] == str(ckpt)):
            argv = ["convert", str(ckpt), "--quant", meta["quant"], "--name", name]  # an adapter run: merged
            run_step(meta, out, f"convert-{key}", argv + (["--force"] if Store().has(name) else []))
    urial = write_urial_prompts(LIMA_MINI, out / "data" / "prompts-urial.jsonl")
    tuned = [variant_key(v, method) for v, _ in VARIANTS]
    models = [("base", meta["base"], LIMA_MINI), ("urial", meta["base"], urial),
              *((k, meta["names"][k], LIMA_MINI) for k in tuned), ("instruct", REFERENCE, LIMA_MINI)]
    for label, model, prompts in models:
        if meta.get("steps", {}).get(f"generate-{label}", {}).get("status") == "done":
            continue
        run_step(meta, out, f"generate-{label}", ["eval", "generate", "--model", model, "--prompts", str(prompts),
                                                 "--out", str(out / f"gen-{label}"), "--label", label,
                                                 "-n", str(meta["max_tokens"]), "--ctx-size", str(CTX_SIZE),
                                                 *(["--threads", str(meta["threads"])] if meta.get("threads") else [])])
    report = write_lima_report(out)
    click.echo(f"Report: {report}")
    if method == "lora":
        click.echo("LoRA runs: " + ", ".join(f"gen-{k}" for k in tuned) + "; side by side with the full runs: "
                   f"`assistant eval stats {' '.join(str(out / f'gen-{k}') for k in ('single', 'dialogues', *tuned))}`")
