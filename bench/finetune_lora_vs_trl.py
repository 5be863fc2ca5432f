"""Our LoRA (``finetune method=lora``) vs TRL's SFTTrainer + peft LoRA on the dequantized
SmolLM2-135M, the same LIMA examples, rank, targets (all-linear: attention and MLP), precision,
batch and max length, at 512 and 2,048 tokens, on this machine's CPU. The anchor is measured in the
same run: tokens/s ours/TRL (target >= 1.3) and peak memory ours/TRL (target <= 1.0) at each length.

    .venv/bin/python bench/finetune_lora_vs_trl.py [--examples 32] [--batch 8] [--steps 2] [--lengths 512,2048]

Both sides: peft's LoRA, r 16, alpha 16, dropout 0, no activation checkpointing, AdamW at 1e-4, the
base frozen in bf16 under bf16 autocast where ours picks bf16 (CUDA, CPUs with AVX512-BF16 or AMX;
``--precision fp32`` for both in fp32 elsewhere), examples trimmed at max length as TRL does (ours with
``overlong=truncate``, no held-out split, ``eot_init=keep``, so the same tokens train). Ours keeps
its recipe otherwise (LIMA's residual dropout, loss at labelled positions only, length-grouped
micro-batches); TRL runs with its defaults for conversational data (packing off, padding to the
longest in each micro-batch of 8). Each variant runs in its own process: peak memory is the max RSS
at the end of its last step, model load included. Tokens/s counts real tokens (no padding) over
training-step time. Needs the `bench` extra (trl, datasets). Last line: the bench JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
LIMA = REPO.parent / "shared" / "data" / "lima" / "train.jsonl"
RANK = 16
LR = 1e-4


def base_folder() -> Path:
    from finetune.base import describe, local_folder
    from models.bundled import smollm2_path
    from models.paths import shared_cache_dir

    return local_folder(describe("smollm2-135m-instruct", str(smollm2_path())), shared_cache_dir() / "finetune")


def _bf16(args: argparse.Namespace) -> bool:
    import torch

    from finetune.estimate import pick_precision

    return pick_precision(args.precision, torch.device("cpu")) is torch.bfloat16


def variant_ours(folder: Path, data: Path, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    from finetune.run import RunArgs, run

    dev = work / "dev.json"
    dev.write_text('["Hi"]')
    out = work / f"ours-{args.max_length}"
    run(RunArgs(base=str(folder), data=str(data), out=out, dev=dev, max_steps=args.steps,
                overrides=["method=lora", f"lora_r={RANK}", "lora_targets=all-linear", f"lr={LR}", f"lr_end={LR / 10}",
                           f"batch_size={args.batch}", f"max_length={args.max_length}", "state_every_steps=100000",
                           "dev_max_new_tokens=1", "overlong=truncate", "val_examples=0", "eot_init=keep",
                           f"precision={'bf16' if _bf16(args) else 'fp32'}"]), say=lambda s: print(s, file=sys.stderr))
    rows = [r for r in (json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()) if "loss" in r]
    adapter = json.loads((out / "run.json").read_text())["adapter"]
    return {"tokens": sum(r["tokens"] for r in rows), "seconds": sum(r["seconds"] for r in rows),
            "peak_bytes": rows[-1]["peak_memory_bytes"], "trainable": adapter["adapter_params"],
            "losses": [r["loss"] for r in rows]}


def variant_trl(folder: Path, data: Path, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, TrainerCallback
    from trl import SFTConfig, SFTTrainer

    from finetune.base import load_tokenizer
    from finetune.data import load_dataset
    from finetune.template import apply_to_tokenizer, choose_template

    tok = load_tokenizer(folder)
    apply_to_tokenizer(tok, choose_template(tok))
    rows = [{"messages": [{"role": t.role, "content": t.content} for t in e.turns]} for e in load_dataset(str(data)).examples]
    bf16 = _bf16(args)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.bfloat16 if bf16 else torch.float32,
                                                 attn_implementation="sdpa")
    micro = min(8, args.batch)
    config = SFTConfig(
        output_dir=str(work / f"trl-{args.max_length}"), per_device_train_batch_size=micro,
        gradient_accumulation_steps=args.batch // micro, max_length=args.max_length, packing=False, learning_rate=LR,
        lr_scheduler_type="linear", adam_beta2=0.95, weight_decay=0.1, max_steps=args.steps, save_strategy="no",
        report_to="none", use_cpu=True, bf16=bf16, logging_steps=1, dataloader_num_workers=0, seed=0,
        gradient_checkpointing=False,
    )
    lora = LoraConfig(r=RANK, lora_alpha=RANK, lora_dropout=0.0, target_modules="all-linear", bias="none",
                      task_type="CAUSAL_LM")
    times: list[float] = []

    class Clock(TrainerCallback):  # type: ignore[misc]
        def on_step_begin(self, *a: object, **k: object) -> None:
            times.append(-time.perf_counter())

        def on_step_end(self, *a: object, **k: object) -> None:
            times[-1] += time.perf_counter()

    trainer = SFTTrainer(model=model, args=config, train_dataset=Dataset.from_list(rows), processing_class=tok,
                         peft_config=lora, callbacks=[Clock()])
    dataset: Any = trainer.train_dataset
    lengths = [len(x) for x in dataset["input_ids"]]
    trainer.train()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    used = min(len(lengths), args.steps * args.batch)
    tuned: Any = trainer.model
    trainable = sum(int(p.numel()) for p in tuned.parameters() if p.requires_grad)
    return {"tokens": sum(lengths[:used]), "seconds": sum(times), "peak_bytes": peak, "trainable": trainable,
            "losses": [h["loss"] for h in trainer.state.log_history if "loss" in h]}


def _one(name: str, length: int, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--variant", name, "--work", str(work), "--examples", str(args.examples),
           "--batch", str(args.batch), "--steps", str(args.steps), "--max-length", str(length),
           "--precision", args.precision]
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "TQDM_DISABLE": "1"})
    line = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
    if proc.returncode or not line:
        sys.exit(f"{name} at {length} tokens failed:\n{proc.stderr[-3000:]}")
    return dict(json.loads(line[0][7:]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=32)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--lengths", default="512,2048", help="Max lengths to measure, comma-separated.")
    parser.add_argument("--max-length", type=int, default=2048, help=argparse.SUPPRESS)  # one variant's length
    parser.add_argument("--precision", choices=["auto", "bf16", "fp32"], default="auto")
    parser.add_argument("--variant", choices=["ours", "trl"])
    parser.add_argument("--work", type=Path)
    args = parser.parse_args()
    if not LIMA.is_file():
        sys.exit(f"the LIMA training set is not at {LIMA}")
    folder = base_folder()
    if args.variant:
        fn = {"ours": variant_ours, "trl": variant_trl}[args.variant]
        print("RESULT " + json.dumps(fn(folder, args.work / "data.jsonl", args.work, args)))
        return
    work = Path(tempfile.mkdtemp(prefix="bench-lora-"))
    rows = LIMA.read_text().splitlines()
    (work / "data.jsonl").write_text("\n".join(rows[: args.examples]) + "\n")
    by_length: dict[int, dict[str, Any]] = {}
    for length in (int(x) for x in args.lengths.split(",")):
        results = {name: _one(name, length, work, args) for name in ("ours", "trl")}
        for name, r in results.items():
            print(f"{length:>5} {name:>4}: {r['tokens']:,} tokens in {r['seconds']:.1f} s = {r['tokens'] / r['seconds']:.0f} "
                  f"tokens/s, peak RSS {r['peak_bytes'] / 2**30:.2f} GiB")
        tps = {k: v["tokens"] / v["seconds"] for k, v in results.items()}
        by_length[length] = {"tokens_per_s": {k: round(v, 1) for k, v in tps.items()},
                             "ratio": round(tps["ours"] / tps["trl"], 3),
                             "peak_memory_ratio": round(results["ours"]["peak_bytes"] / results["trl"]["peak_bytes"], 3),
                             "peak_gib": {k: round(v["peak_bytes"] / 2**30, 3) for k, v in results.items()},
                             "tokens": {k: v["tokens"] for k, v in results.items()},
                             "trainable_params": {k: v["trainable"] for k, v in results.items()}}
        print(f"{length:>5}: ours/TRL tokens/s {by_length[length]['ratio']:.2f}, peak memory ours/TRL "
              f"{by_length[length]['peak_memory_ratio']:.2f}")
    print(json.dumps({
        "bench": "finetune_lora_vs_trl", "ratio": min(v["ratio"] for v in by_length.values()),
        "peak_memory_ratio": max(v["peak_memory_ratio"] for v in by_length.values()),
        "anchor": "TRL SFTTrainer + peft LoRA (r 16, all-linear, packing off, defaults) on dequantized SmolLM2-135M, CPU",
        "targets": {"ratio": ">= 1.3", "peak_memory_ratio": "<= 1.0"}, "by_length": by_length,
        "examples": args.examples, "batch": args.batch, "steps": args.steps, "rank": RANK,
        "precision": "bf16" if _bf16(args) else "fp32",
    }))


if __name__ == "__main__":
    main()
