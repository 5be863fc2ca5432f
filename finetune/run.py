"""A fine-tuning run from the command line's arguments: every cheap check first (output folder,
config, data rows, base, dev prompts), then the tokenizer, the fit of every example at
``max_length`` and the held-out split, then ``--dry-run`` stops,
then weights load and :func:`finetune.train.train` runs."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from finetune.config import FinetuneConfig, build_config
from finetune.errors import FinetuneError
from finetune.prepared import Prepared, RunArgs


def _resume_args(args: RunArgs) -> tuple[RunArgs, FinetuneConfig]:
    run_dir = args.resume
    assert run_dir is not None
    meta = run_dir / "run.json"
    if not meta.is_file() or not (run_dir / "state" / "trainer.pt").is_file():
        raise FinetuneError(f"{run_dir} holds no resumable state (run.json and state/); pass the run folder of an unfinished run.")
    saved = json.loads(meta.read_text())
    if args.overrides or args.config_file:
        raise FinetuneError("A resumed run keeps its saved configuration; drop the key=value overrides and --config.")
    config = build_config(config_file=run_dir / "finetune_config.yaml")
    resumed = RunArgs(
        base=saved["base"], base_location=saved.get("base_location"), data=saved["data"], out=run_dir,
        recipe=config.recipe, dialogues=config.dialogues, dev=Path(saved["dev"]) if saved.get("dev") else None,
        resume=run_dir, max_steps=args.max_steps, dry_run=args.dry_run, cache_dir=args.cache_dir,
    )
    return resumed, config


def default_out(base: str, recipe: str) -> Path:
    stem = Path(base.rstrip("/")).name.removesuffix(".gguf") or "model"
    return Path.cwd() / f"{stem}-{recipe}"


def prepare(args: RunArgs, say: Callable[[str], None]) -> Prepared:
    from finetune import base as base_mod
    from finetune.data import load_dataset
    from finetune.eot_init import check_mode
    from finetune.evaluate import load_prompts
    from finetune.fit import fit_examples
    from finetune.stopping import split_validation
    from finetune.template import apply_to_tokenizer, choose_template

    if args.resume:
        args, config = _resume_args(args)
    else:
        if not args.base or not args.data:
            raise FinetuneError("Pass --base and --data (or --resume RUN_DIR to continue a run).")
        config = build_config(args.recipe, args.config_file, args.overrides)
        if args.dialogues is not None:
            config.dialogues = args.dialogues
    assert args.base is not None and args.data is not None
    out = (args.out or default_out(args.base, config.recipe)).expanduser().resolve()
    if not args.resume and not args.dry_run and out.exists() and any(out.iterdir()):
        raise FinetuneError(f"The output folder {out} already exists and is not empty; pass another --out, or --resume {out}.")
    if args.max_steps is not None and args.max_steps < 1:
        raise FinetuneError("--max-steps must be at least 1.")
    data = load_dataset(args.data, dialogues=config.dialogues)
    if args.resume:
        saved = json.loads((out / "run.json").read_text())
        if saved.get("data_sha256") and saved["data_sha256"] != data.sha256:
            raise FinetuneError(f"The data at {args.data} changed since this run started; resume needs the same file.")
    spec = base_mod.describe(args.base, args.base_location)
    prompts = load_prompts(args.dev)
    from finetune.estimate import pick_device

    if config.method == "qlora":  # before anything loads: can bitsandbytes drive this device at all?
        from finetune.qlora import check_can_run

        check_can_run(pick_device(config.device))

    folder = base_mod.local_folder(spec, args.cache_dir, say)
    tokenizer = base_mod.load_tokenizer(folder)
    original_eos = tokenizer.eos_token_id
    template = choose_template(tokenizer, config.template)
    apply_to_tokenizer(tokenizer, template)
    model_config, n_params = base_mod.count_params(folder)
    if original_eos is None:
        original_eos = model_config.get_text_config().eos_token_id
    config = config.resolve(n_params, pick_device(config.device).type, model_config.get_text_config().vocab_size)
    from finetune.lora import plan_adapter

    adapter = plan_adapter(config, model_config)  # targets the base lacks, a tied output layer: refused here

    eot_id = int(tokenizer.convert_tokens_to_ids(template.eot))
    check_mode(config.eot_init, original_eos, eot_id)
    fitted, sources, fit = fit_examples(tokenizer, template, data.examples, config.max_length, config.overlong, eot_id)
    train_idx, val_idx, val_note = split_validation(fitted, sources, config.val_examples, config.seed)
    if not train_idx:
        raise FinetuneError(f"No example is left to train on after holding out {len(val_idx)}; lower val_examples.")
    encoded = [fitted[i] for i in train_idx]
    val = [fitted[i] for i in val_idx]
    lengths = [len(e.input_ids) for e in encoded]
    stats = {
        "examples": len(encoded), "single_turn": sum(1 for e in data.examples if not e.is_dialogue),
        "dialogues": data.dialogues, "rows_in_file": data.rows, "tokens": sum(lengths),
        "labelled_tokens": sum(e.n_labels for e in encoded), "truncated": len(fit.truncated),
        "dropped_no_labels": fit.no_labels, "max_length_seen": max(lengths), "original_eos": original_eos,
        "fit": fit.to_dict(), "val_examples": len(val), "val_lines": [e.line for e in val],
        "eot_id": eot_id,
    }
    notes = [n for n in (fit.warning(), val_note) if n]
    return Prepared(args, config, out, data, spec, folder, tokenizer, template, model_config, n_params,
                    encoded, prompts, stats, val, [sources[i] for i in val_idx], fit, notes, adapter)


def describe_mix(p: Prepared) -> list[str]:
    s, c = p.stats, p.config
    dialogue_note = "in (--dialogues)" if c.dialogues else "out (--no-dialogues)"
    lines = [
        f"Data: {p.data.origin} ({p.data.rows} rows, sha256 {p.data.sha256[:12]}, formats: "
        + ", ".join(f"{k} {v}" for k, v in sorted(p.data.formats.items())) + ")",
        f"Mix: {s['single_turn']} single-turn examples + {s['dialogues']} multi-turn dialogues; dialogues {dialogue_note}",
        f"Tokens: {s['tokens']:,} in {s['examples']} training examples, {s['labelled_tokens']:,} with loss "
        "(assistant turns + EOT)",
        p.fit.summary(),
        f"Held out: {len(p.val)} single-turn examples for the per-epoch stop diagnostics (val_examples={c.val_examples}, "
        f"seed {c.seed}; written to val.jsonl)" if p.val else "Held out: none (val_examples=0): no per-epoch stop diagnostics",
        f"Template: {p.template.family} (EOT {p.template.eot}"
        + (f", added {', '.join(p.template.added)}" if p.template.added else ", reused from the base vocabulary") + ")",
        f"Base: {p.spec.given} ({p.spec.kind}, {p.n_params / 1e6:,.1f}M parameters)",
    ]
    if p.adapter is not None:
        from finetune.lora import describe

        lines.append(describe(p.adapter, c, p.n_params))
    lines += p.notes
    return lines


def dry_run(p: Prepared, world_size: int, say: Callable[[str], None]) -> dict[str, Any]:
    import torch

    from finetune.batching import padding_fraction, steps_per_epoch
    from finetune.estimate import (
        available_memory,
        flops_per_token,
        human_bytes,
        human_time,
        matmul_flops,
        peak_memory_bytes,
        pick_device,
        pick_precision,
    )

    c = p.config
    assert c.batch_size is not None and c.micro_batch_tokens is not None
    device = pick_device(c.device)
    dtype = pick_precision(c.precision, device)
    per_epoch = steps_per_epoch(len(p.encoded), c.batch_size)
    total = per_epoch * c.epochs
    pad = padding_fraction(p.encoded, c.batch_size, c.seed, min(per_epoch, 20), world_size, c.micro_batch_tokens)
    tokens = p.stats["tokens"] * c.epochs / (1 - pad)
    mean_len = p.stats["tokens"] / len(p.encoded)
    flops = flops_per_token(p.n_params, p.model_config, int(mean_len), c.gradient_checkpointing, c.adapters) * tokens
    rate = matmul_flops(device, dtype) * 0.5 * world_size
    seconds = flops / rate
    fsdp = not c.adapters and (c.sharding == "fsdp" or (c.sharding == "auto" and p.n_params >= 1e9))
    shards = world_size if fsdp else 1
    bf16 = dtype is torch.bfloat16
    memory = peak_memory_bytes(p.n_params, p.model_config, c, shards, len(p.template.added), p.adapter, bf16)
    free = available_memory(device)
    say(f"Steps: {total} ({c.epochs} epochs x {per_epoch} steps of {c.batch_size} examples), "
        f"micro-batches up to {c.micro_batch_tokens} tokens, padding {pad:.1%}")
    say(f"Estimated time on {device.type}{' x' + str(world_size) if world_size > 1 else ''}: {human_time(seconds)} "
        f"({flops / 1e12:,.1f} TFLOP at a measured {rate / 1e12:.2f} TFLOP/s x 0.5)")
    methods = {m: peak_memory_bytes(p.n_params, p.model_config, cfg, shards, len(p.template.added), plan,
                                    bf16 or m == "qlora") for m, (cfg, plan) in method_plans(p).items()}
    say(f"Estimated peak memory per process: {human_bytes(memory)} with method={c.method} (available: {human_bytes(free)}); "
        + ", ".join(f"{m} {human_bytes(v)}" for m, v in methods.items()) + " at these settings")
    if memory > free:
        smaller = {"full": "method=lora or qlora, ", "lora": "method=qlora, "}.get(c.method, "")
        raise FinetuneError(f"This plan needs about {human_bytes(memory)} per process but {device.type} has "
                            f"{human_bytes(free)} free; use {smaller}gradient_checkpointing=true or a smaller "
                            "micro_batch_tokens, or a device with more memory.")
    return {"steps": total, "steps_per_epoch": per_epoch, "padding": pad, "seconds": seconds, "memory": memory,
            "tflop": flops / 1e12, "memory_by_method": methods}


def method_plans(p: Prepared) -> dict[str, tuple[Any, Any]]:
    """(config, adapter plan) for each method at this run's settings, the method alone changed."""
    import dataclasses

    from finetune.lora import plan_adapter

    plans: dict[str, tuple[Any, Any]] = {}
    for method in ("full", "lora", "qlora"):
        config = dataclasses.replace(p.config, method=method)
        try:
            plans[method] = (config, p.adapter if method == p.config.method else plan_adapter(config, p.model_config))
        except FinetuneError:  # lora_targets this base lacks: no comparison for the adapter methods
            continue
    return plans


def run(args: RunArgs, say: Callable[[str], None] = print) -> dict[str, Any]:
    """Prepare, then dry-run or train; returns a summary (paths, losses, counts)."""
    import os

    from transformers.utils import logging as hf_logging

    from finetune.train import train

    hf_logging.disable_progress_bar()  # "Loading weights" bars; ours is the one that matters
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    main = int(os.environ.get("RANK", "0")) == 0
    quiet: Callable[[str], None] = say if main else (lambda _: None)
    p = prepare(args, quiet)
    for line in describe_mix(p):
        quiet(line)
    if args.dry_run:
        return {"dry_run": dry_run(p, world_size, quiet), "stats": p.stats}
    summary = train(p, quiet)
    summary["stats"] = p.stats
    return summary

