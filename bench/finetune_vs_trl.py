"""Our LIMA loop vs TRL's SFTTrainer on the dequantized SmolLM2-135M, the same LIMA examples, the same
batch and max length 2,048, on this machine's CPU; plus plain torch on our exact micro-batches (the
ceiling for what our extras cost) and estimated H100 hours for the full recipe from measured FLOPs.

    .venv/bin/python bench/finetune_vs_trl.py [--examples 32] [--batch 16] [--steps 2] [--max-length 2048]
    .venv/bin/python bench/finetune_vs_trl.py --max-length 512 --batch 4 --steps 8   # the miniature's shape

All three run in the same precision (``--precision auto``: bf16 autocast where ours picks it, on CUDA
and on CPUs with bf16 hardware; else fp32) on the same examples, trimmed at max length as TRL does
(ours with ``overlong=truncate``, no held-out split, ``eot_init=keep``, so the tokens are the same).

Each variant runs in its own process (clean peak memory: the max RSS at the end of its last training
step, model load included for all). Tokens/s counts real tokens (no padding) over training-step
time. TRL runs with its defaults for conversational data (packing off, padding to the longest in each
micro-batch of 8, random order). Needs the `bench` extra (trl, datasets). Last line: the bench JSON.
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
H100_BF16_FLOPS = 989e12  # dense
H100_MFU = 0.4  # a typical share for fine-tuning


def _rss_max() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def base_folder() -> Path:
    from finetune.base import describe, local_folder
    from models.bundled import smollm2_path
    from models.paths import shared_cache_dir

    return local_folder(describe("smollm2-135m-instruct", str(smollm2_path())), shared_cache_dir() / "finetune")


def prepared_tokenizer(folder: Path):  # type: ignore[no-untyped-def]
    from finetune.base import load_tokenizer
    from finetune.template import apply_to_tokenizer, choose_template

    tok = load_tokenizer(folder)
    template = choose_template(tok)
    apply_to_tokenizer(tok, template)
    return tok, template


def variant_ours(folder: Path, data: Path, work: Path, args: argparse.Namespace) -> dict:
    from finetune.run import RunArgs, run

    dev = work / "dev.json"
    dev.write_text('["Hi"]')
    run(RunArgs(base=str(folder), data=str(data), out=work / "ours", dev=dev, max_steps=args.steps,
                overrides=[f"batch_size={args.batch}", f"max_length={args.max_length}", "state_every_steps=100000",
                           "dev_max_new_tokens=1", "overlong=truncate", "val_examples=0", "eot_init=keep",
                           f"precision={'bf16' if _bf16(args) else 'fp32'}"]), say=lambda s: print(s, file=sys.stderr))
    rows = [r for r in (json.loads(x) for x in (work / "ours" / "metrics.jsonl").read_text().splitlines()) if "loss" in r]
    return {"tokens": sum(r["tokens"] for r in rows), "seconds": sum(r["seconds"] for r in rows),
            "peak_bytes": rows[-1]["peak_memory_bytes"], "padding": sum(r["padding"] * r["tokens"] / (1 - r["padding"]) for r in rows)
            / sum(r["tokens"] / (1 - r["padding"]) for r in rows), "losses": [r["loss"] for r in rows]}


def _bf16(args: argparse.Namespace) -> bool:
    """The precision all three variants use: what ours picks for ``--precision``."""
    import torch

    from finetune.estimate import pick_precision

    return pick_precision(args.precision, torch.device("cpu")) is torch.bfloat16


def variant_trl(folder: Path, data: Path, work: Path, args: argparse.Namespace) -> dict:
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, TrainerCallback
    from trl import SFTConfig, SFTTrainer

    from finetune.data import load_dataset

    tok, _ = prepared_tokenizer(folder)
    rows = [{"messages": [{"role": t.role, "content": t.content} for t in e.turns]} for e in load_dataset(str(data)).examples]
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32, attn_implementation="sdpa")
    micro = min(8, args.batch)
    config = SFTConfig(
        output_dir=str(work / "trl"), per_device_train_batch_size=micro, gradient_accumulation_steps=args.batch // micro,
        max_length=args.max_length, packing=False, learning_rate=1e-5, lr_scheduler_type="linear", adam_beta2=0.95,
        weight_decay=0.1, max_steps=args.steps, save_strategy="no", report_to="none", use_cpu=True, bf16=_bf16(args),
        logging_steps=1, dataloader_num_workers=0, seed=0,
    )
    times: list[float] = []

    class Clock(TrainerCallback):  # type: ignore[misc]
        def on_step_begin(self, *a: object, **k: object) -> None:
            times.append(-time.perf_counter())

        def on_step_end(self, *a: object, **k: object) -> None:
            times[-1] += time.perf_counter()

    trainer = SFTTrainer(model=model, args=config, train_dataset=Dataset.from_list(rows), processing_class=tok,
                         callbacks=[Clock()])
    dataset: Any = trainer.train_dataset
    lengths = [len(x) for x in dataset["input_ids"]]
    trainer.train()
    peak = _rss_max()
    used = min(len(lengths), args.steps * args.batch)
    return {"tokens": sum(lengths[:used]), "seconds": sum(times), "peak_bytes": peak,
            "losses": [h["loss"] for h in trainer.state.log_history if "loss" in h]}


def variant_torch(folder: Path, data: Path, work: Path, args: argparse.Namespace) -> dict:
    """Plain torch on our exact micro-batches: HF's own forward and loss (full logits), no dropout
    hooks, no chunking, no metrics; the gap to ours is the cost of what the recipe adds."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode
    from transformers import AutoModelForCausalLM

    from finetune.batching import collate, plan_step
    from finetune.data import load_dataset
    from finetune.template import encode

    tok, template = prepared_tokenizer(folder)
    examples = load_dataset(str(data)).examples
    encoded = [encode(tok, template, e, args.max_length) for e in examples]
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32, attn_implementation="sdpa").train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-5, betas=(0.9, 0.95), weight_decay=0.1)
    budget = max(2048, args.max_length)  # our CPU default micro_batch_tokens
    tokens = 0
    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=_bf16(args))
    start = time.perf_counter()
    for step in range(args.steps):
        plan = plan_step(encoded, args.batch, 0, step, 0, 1, budget)
        for micro in plan.micro:
            batch = collate([encoded[i] for i in micro], tok.pad_token_id)
            with autocast:
                loss = model(input_ids=batch.input_ids, labels=batch.labels).loss
            loss.backward()
            tokens += batch.tokens
        opt.step()
        opt.zero_grad()
    seconds = time.perf_counter() - start
    peak = _rss_max()
    sample = max(encoded, key=lambda e: len(e.input_ids))
    with FlopCounterMode(display=False) as counter:
        ids = torch.tensor([sample.input_ids])
        model(input_ids=ids, labels=torch.tensor([sample.labels])).loss.backward()
    per_token = counter.get_total_flops() / len(sample.input_ids)
    n_params = sum(p.numel() for p in model.parameters())
    return {"tokens": tokens, "seconds": seconds, "peak_bytes": peak,
            "flops_per_token": per_token, "flops_seq": len(sample.input_ids), "n_params": n_params}


def lima_recipe_tokens(folder: Path) -> tuple[int, int]:
    from finetune.data import load_dataset
    from finetune.template import encode

    tok, template = prepared_tokenizer(folder)
    examples = load_dataset(str(LIMA)).examples
    return sum(len(encode(tok, template, e, 2048).input_ids) for e in examples), len(examples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=32)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--max-length", type=int, default=2048)
    parser.add_argument("--precision", choices=["auto", "bf16", "fp32"], default="auto")
    parser.add_argument("--variant", choices=["ours", "trl", "torch"])
    parser.add_argument("--work", type=Path)
    args = parser.parse_args()
    if not LIMA.is_file():
        sys.exit(f"the LIMA training set is not at {LIMA}")
    folder = base_folder()
    if args.variant:
        fn = {"ours": variant_ours, "trl": variant_trl, "torch": variant_torch}[args.variant]
        print("RESULT " + json.dumps(fn(folder, args.work / "data.jsonl", args.work, args)))
        return
    work = Path(tempfile.mkdtemp(prefix="bench-finetune-"))
    rows = LIMA.read_text().splitlines()
    (work / "data.jsonl").write_text("\n".join(rows[: args.examples]) + "\n")
    results = {}
    for name in ("ours", "trl", "torch"):
        cmd = [sys.executable, __file__, "--variant", name, "--work", str(work), "--examples", str(args.examples),
               "--batch", str(args.batch), "--steps", str(args.steps), "--max-length", str(args.max_length),
               "--precision", args.precision]
        proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "TQDM_DISABLE": "1"})
        line = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
        if proc.returncode or not line:
            sys.exit(f"{name} failed:\n{proc.stderr[-3000:]}")
        results[name] = json.loads(line[0][7:])
        r = results[name]
        print(f"{name:>5}: {r['tokens']:,} tokens in {r['seconds']:.1f} s = {r['tokens'] / r['seconds']:.0f} tokens/s, "
              f"peak RSS {r['peak_bytes'] / 2**30:.2f} GiB")
    tps = {k: v["tokens"] / v["seconds"] for k, v in results.items()}
    recipe_tokens, n = lima_recipe_tokens(folder)
    per_token = results["torch"]["flops_per_token"]
    n_params = results["torch"]["n_params"]
    flops = recipe_tokens * 15 * per_token
    h100 = flops / (H100_BF16_FLOPS * H100_MFU) / 3600
    h100_7b = h100 * 7e9 / n_params
    print(f"ours/TRL tokens/s: {tps['ours'] / tps['trl']:.2f}; ours/plain torch on the same batches: {tps['ours'] / tps['torch']:.2f}; "
          f"peak memory ours/TRL: {results['ours']['peak_bytes'] / results['trl']['peak_bytes']:.2f}; "
          f"our padding {results['ours']['padding']:.1%}")
    print(f"Full recipe (LIMA {n} examples, {recipe_tokens:,} tokens x 15 epochs) at {per_token / 1e9:.2f} GFLOP/token "
          f"(measured, seq {results['torch']['flops_seq']}): {h100 * 60:.1f} H100-minutes for this {n_params / 1e6:.0f}M model, "
          f"~{h100_7b:.2f} H100-hours for a 7B (scaled by parameters), at {H100_MFU:.0%} of bf16 peak")
    print(json.dumps({
        "bench": "finetune_vs_trl", "ratio": round(tps["ours"] / tps["trl"], 3),
        "anchor": "TRL SFTTrainer (packing off, defaults) on dequantized SmolLM2-135M, CPU",
        "tokens_per_s": {k: round(v, 1) for k, v in tps.items()},
        "peak_memory_ratio": round(results["ours"]["peak_bytes"] / results["trl"]["peak_bytes"], 3),
        "ceiling_ratio": round(tps["ours"] / tps["torch"], 3), "padding_ours": round(results["ours"]["padding"], 4),
        "examples": args.examples, "batch": args.batch, "steps": args.steps, "max_length": args.max_length,
        "precision": "bf16" if _bf16(args) else "fp32",
        "h100_hours_full_recipe": round(h100, 4), "h100_hours_7b_estimate": round(h100_7b, 2),
    }))


if __name__ == "__main__":
    main()
