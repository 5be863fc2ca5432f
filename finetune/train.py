"""The training loop, written out: plan the step's micro-batches, forward and backward each (loss
summed over labelled tokens, scaled by the step's labelled-token count so any micro-batching or
number of processes gives the same gradient), one all-reduce, an AdamW step, metrics, and at the
chosen epochs a checkpoint with dev generations. State for ``--resume`` is saved periodically."""

from __future__ import annotations

import contextlib
import json
import shutil
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

from finetune import distributed, epoch_end
from finetune.batching import collate, plan_step, steps_per_epoch
from finetune.checkpoint import save_checkpoint
from finetune.curate.record import selection_record
from finetune.eot_init import init_eot_rows
from finetune.errors import FinetuneError
from finetune.estimate import (
    available_memory,
    human_bytes,
    peak_memory_bytes,
    peak_memory_used,
    pick_device,
    pick_precision,
)
from finetune.evaluate import generate, write
from finetune.metrics import MetricsLog
from finetune.modeling import LabelledLoss, add_residual_dropout, decoder_layers, init_new_token_rows
from finetune.optim import build_optimizer, build_scheduler
from finetune.prepared import Prepared, total_steps
from finetune.state import load_state, rng_state, save_state, set_rng_state


def _check_memory(p: Prepared, device: torch.device, shards: int, say: Callable[[str], None]) -> None:
    c = p.config
    fixed = 16 * p.n_params // shards
    free = available_memory(device)
    if fixed > free:
        raise FinetuneError(
            f"Training {p.spec.given} needs about {human_bytes(fixed)} for weights, gradients and AdamW state but "
            f"{device.type} has {human_bytes(free)} free; use a larger GPU or torchrun with more GPUs (FSDP2)."
        )
    total = peak_memory_bytes(p.n_params, p.model_config, c, shards, len(p.template.added))
    if total > free:
        say(f"Warning: the estimated peak ({human_bytes(total)}) exceeds the free {human_bytes(free)}; "
            "if it runs out, set gradient_checkpointing=true or a smaller micro_batch_tokens.")


def _provenance(p: Prepared, epoch: int, step: int, losses: list[float], eot_id: int,
                diag: dict[str, Any], eot_record: dict[str, Any] | None) -> dict[str, Any]:
    fit = p.fit
    return {
        "base": {"name": p.spec.given, "kind": p.spec.kind, "location": p.spec.location, "sha256": p.spec.sha256},
        "dataset": {"source": p.data.origin, "sha256": p.data.sha256, "rows": p.data.rows,
                    "examples_used": len(p.encoded), "single_turn": p.stats["single_turn"],
                    "dialogues": p.stats["dialogues"], "dialogues_included": p.config.dialogues},
        "selection": selection_record(p.data.origin),  # the `assistant data select` report beside the data, if any
        "recipe": p.config.recipe, "epoch": epoch, "epochs": p.config.epochs, "step": step,
        "template": p.template.family, "eot_token": p.template.eot, "eot_token_id": eot_id,
        "added_tokens": p.template.added,
        "fit": {"overlong": fit.policy, "max_length": fit.max_length, "rendered": fit.rendered, "kept": fit.kept,
                "keep_eot": fit.keep_eot, "dropped_lines": fit.dropped, "cut_dialogue_lines": fit.cut_dialogues,
                "truncated_lines": fit.truncated, "no_reply_lines": fit.no_labels},
        "validation": {"examples": len(p.val), "lines": [e.line for e in p.val], "seed": p.config.seed},
        "eot_init": eot_record,
        "metrics": {"train_loss_last_epoch": sum(losses) / len(losses) if losses else None,
                    **{k: v for k, v in diag.items() if k.startswith(("val_", "dev_"))}},
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def _strip(sd: dict) -> dict:
    return {k.removeprefix("model."): v for k, v in sd.items()}


def train(p: Prepared, say: Callable[[str], None]) -> dict[str, Any]:
    import os

    from tqdm import tqdm

    from finetune.base import load_model

    c = p.config
    assert c.batch_size is not None and c.micro_batch_tokens is not None and c.residual_dropout is not None
    assert c.loss_chunk is not None
    device = pick_device(c.device, int(os.environ.get("LOCAL_RANK", "0")))
    world = distributed.init(device.type)
    amp = pick_precision(c.precision, device)
    sharding = distributed.choose_sharding(c.sharding, p.n_params, world)
    _check_memory(p, device, world.size if sharding == "fsdp" else 1, say)
    out = p.out
    if world.main:
        out.mkdir(parents=True, exist_ok=True)
        c.save(out / "finetune_config.yaml")
        if not p.args.resume:
            run_meta = {"base": p.args.base, "base_location": p.args.base_location, "data": p.args.data,
                        "data_sha256": p.data.sha256, "dev": str(p.args.dev) if p.args.dev else None,
                        "fit": p.fit.to_dict(), "val_lines": [e.line for e in p.val]}
            (out / "run.json").write_text(json.dumps(run_meta, indent=2) + "\n")
            epoch_end.write_val(out, p.val_rows)
    distributed.barrier(world)

    model = load_model(p.folder, c.attn_implementation)
    init_new_token_rows(model, p.tokenizer, p.template.added)
    eot_id = int(p.tokenizer.convert_tokens_to_ids(p.template.eot))
    pad_id = p.tokenizer.pad_token_id if p.tokenizer.pad_token_id is not None else eot_id
    eot_record = None
    if not p.args.resume:  # a resumed run's weights come from its state, EOT rows included
        model.to(device)
        eot_record = init_eot_rows(
            model, p.val or p.encoded, mode=c.eot_init, eot_id=eot_id, eot_is_new=p.template.eot in p.template.added,
            original_eos=p.stats["original_eos"], vocab_size=len(p.tokenizer), device=device, pad_id=pad_id,
            chunk=c.loss_chunk, say=say)
        if world.main:
            epoch_end.update_run_json(out, eot_init=eot_record)
    elif (out / "run.json").is_file():
        eot_record = json.loads((out / "run.json").read_text()).get("eot_init")
    rates = add_residual_dropout(model, c.residual_dropout)
    if c.gradient_checkpointing:
        kwargs = {"use_reentrant": False}
        if hasattr(model, "activation_checkpointing_enable"):  # transformers >= 5.x
            model.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
        else:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)
    model.config.use_cache = False
    model.to(device).train()
    wrapped = distributed.wrap(LabelledLoss(model, c.loss_chunk), decoder_layers(model), sharding, world, device)
    optimizer = build_optimizer(wrapped, c)
    total = total_steps(p)
    per_epoch = steps_per_epoch(len(p.encoded), c.batch_size)
    scheduler = build_scheduler(optimizer, total, c)
    start = 0
    if p.args.resume:
        trainer, rng = load_state(out, world)
        if trainer["world_size"] != world.size:
            say(f"Warning: this run was saved with {trainer['world_size']} processes and resumes with {world.size}; "
                "losses will not match an uninterrupted run exactly.")
        distributed.load_full_state(wrapped, optimizer, trainer["model"], trainer["optimizer"])
        scheduler.load_state_dict(trainer["scheduler"])
        start = int(trainer["next_step"])
        if rng:
            set_rng_state(rng, device)
        del trainer
        say(f"Resumed {out} at step {start} of {total}.")
    else:
        torch.manual_seed(c.seed + world.rank)
    stop = min(total, p.args.max_steps) if p.args.max_steps else total
    say(f"Training on {device.type}{f' x{world.size} ({sharding})' if world.distributed else ''}"
        f"{' with bf16 autocast' if amp else ' in fp32'}: {total} steps ({c.epochs} epochs x {per_epoch}), "
        f"batch {c.batch_size}, lr {c.lr:g} -> {c.lr_end:g}, residual dropout 0 -> {rates[-1]:g}")

    metrics = MetricsLog(out / "metrics.jsonl", start) if world.main else None
    epoch_rows = [r for r in metrics.rows if r.get("kind") == "epoch"] if metrics else []
    best = None
    # Where the stop diagnostics begin (FSDP2 must run its root forward first: its runs start at epoch 1)
    if start == 0 and p.val and sharding != "fsdp":
        diag = epoch_end.diagnostics(p, model, device, amp, eot_id, pad_id) if world.main else {}
        if metrics:
            epoch_rows.append(epoch_end.epoch_row(0, 0, diag, None, None, 0, None))
            metrics.add(epoch_rows[-1])
            epoch_end.report(out, epoch_rows, say)
    losses: list[float] = []
    checkpoints: list[str] = []
    epoch_losses: dict[int, list[float]] = {}
    bar = tqdm(total=stop, initial=start, disable=not world.main, unit="step", dynamic_ncols=True)

    def note(message: str) -> None:  # a line above the progress bar
        with bar.external_write_mode():
            say(message)

    began = time.perf_counter()
    tokens_done = 0
    max_norm = c.max_grad_norm if c.max_grad_norm > 0 else float("inf")

    def save_resume_state(next_step: int, rng: dict[str, Any]) -> None:
        model_sd, optim_sd = distributed.full_state(wrapped, optimizer)
        save_state(out, world, model_sd, optim_sd, scheduler, next_step, rng, {"total_steps": total})

    for step in range(start, stop):
        rng_before = rng_state(device)
        t0 = time.perf_counter()
        try:
            plan = plan_step(p.encoded, c.batch_size, c.seed, step, world.rank, world.size, c.micro_batch_tokens)
            labelled = sum(p.encoded[i].n_labels for i in plan.examples)
            if labelled == 0:
                raise FinetuneError(f"Step {step + 1} has no labelled token in any example (an all-zero loss mask); check the data.")
            loss_sum = torch.zeros((), dtype=torch.float64)
            counts = torch.zeros(2, dtype=torch.float64)
            for j in range(plan.n_micro):
                real = j < len(plan.micro)
                ids = plan.micro[j] if real else plan.examples[:1]  # every rank runs as many forwards
                batch = collate([p.encoded[i] for i in ids], pad_id)
                with distributed.gradient_sync(wrapped, j == plan.n_micro - 1):
                    with torch.autocast(device.type, dtype=amp) if amp else contextlib.nullcontext():
                        s, _ = wrapped(batch.input_ids.to(device), None, batch.labels.to(device))
                    (s * (world.size / labelled if real else 0.0)).backward()
                if real:
                    loss_sum += s.detach().double().cpu()
                    counts += torch.tensor([batch.tokens, batch.padded], dtype=torch.float64)
            grad_norm = torch.nn.utils.clip_grad_norm_(wrapped.parameters(), max_norm)
            lr = scheduler.get_last_lr()[0]
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
        except KeyboardInterrupt:
            optimizer.zero_grad(set_to_none=True)
            save_resume_state(step, rng_before)
            bar.close()
            raise FinetuneError(f"Training was interrupted at step {step + 1}; continue it with --resume {out}.", exit_code=130) from None
        totals = distributed.all_sum(torch.cat([loss_sum.view(1), counts]), world)
        loss = float(totals[0]) / labelled
        tokens_done += int(totals[1])
        dt = time.perf_counter() - t0
        epoch = step // per_epoch + 1
        losses.append(loss)
        epoch_losses.setdefault(epoch, []).append(loss)
        row = {"step": step + 1, "epoch": epoch, "loss": loss, "lr": lr, "grad_norm": float(grad_norm),
               "tokens": int(totals[1]), "labelled_tokens": labelled, "padding": 1 - float(totals[1]) / float(totals[2]),
               "tokens_per_s": float(totals[1]) / dt, "seconds": dt, "elapsed": time.perf_counter() - began,
               "peak_memory_bytes": peak_memory_used(device)}
        if metrics:
            metrics.add(row)
        bar.set_postfix(loss=f"{loss:.3f}", tok_s=f"{row['tokens_per_s']:.0f}", epoch=epoch)
        bar.update(1)

        epoch_done = (step + 1) % per_epoch == 0
        saving = epoch_done and (epoch in c.save_epochs or epoch == c.epochs)
        if epoch_done:
            folder = out / f"epoch-{epoch:02d}"
            if sharding == "fsdp":
                wrapped.unshard()  # type: ignore[operator]
            diag = epoch_end.diagnostics(p, model, device, amp, eot_id, pad_id) if world.main or sharding == "fsdp" else {}
            results = None
            if saving and (world.main or sharding == "fsdp"):
                results = generate(model, p.tokenizer, p.template, p.prompts, c, device, eot_id, c.seed + epoch)
            if sharding == "fsdp":
                wrapped.reshard()  # type: ignore[operator]
            model_sd = distributed.full_state(wrapped)[0] if saving else None
            if world.main:
                train_loss = sum(epoch_losses[epoch]) / len(epoch_losses[epoch])
                row = epoch_end.epoch_row(epoch, step + 1, diag, train_loss, results, c.dev_max_new_tokens,
                                          folder if saving else None)
                if saving:
                    assert model_sd is not None and results is not None
                    save_checkpoint(folder, model, _strip(model_sd), p.tokenizer, p.template, eot_id,
                                    p.stats["original_eos"], c,
                                    _provenance(p, epoch, step + 1, epoch_losses[epoch], eot_id, row, eot_record))
                    write(results, folder, f"{Path(p.spec.given).name} + {c.recipe}, epoch {epoch}, step {step + 1}")
                    checkpoints.append(str(folder))
                    note(f"Epoch {epoch}: loss {train_loss:.4f}; checkpoint {folder} "
                              f"({sum(r['stopped'] for r in results)}/{len(results)} dev replies ended with {p.template.eot})")
                epoch_rows.append(row)
                if metrics:
                    metrics.add(row)
                best = epoch_end.report(out, epoch_rows, note)
            distributed.barrier(world)
        if saving or (step + 1) % c.state_every_steps == 0 or step + 1 == stop:
            if step + 1 < total:
                save_resume_state(step + 1, rng_state(device))
            if metrics:
                metrics.plot(out / "loss.png", f"{Path(p.spec.given).name} + {c.recipe}: {len(p.encoded)} examples")
    bar.close()
    completed = stop == total
    if completed and world.main and (out / "state").exists():
        shutil.rmtree(out / "state")  # finished: nothing left to resume
    elapsed = time.perf_counter() - began
    if stop > start:
        say(f"{'Finished' if completed else f'Stopped at step {stop} of {total} (--max-steps)'}: "
            f"{stop - start} steps in {elapsed:.0f} s, {tokens_done / max(elapsed, 1e-9):.0f} tokens/s, "
            f"peak memory {human_bytes(peak_memory_used(device))}")
    if not completed:
        say(f"Continue with --resume {out}")
    if world.main and epoch_rows:
        best = epoch_end.report(out, epoch_rows, lambda _: None)
    if checkpoints:
        pick = best["checkpoint"] if best else checkpoints[-1]
        say(f"Checkpoints: {', '.join(checkpoints)}; read their dev_generations.md, then "
            f"`assistant convert {pick} --name NAME`.")
    if best:
        m = best["metrics"]
        say(f"Best checkpoint: {best['checkpoint']} (epoch {best['epoch']}: EOT top-1 at "
            f"{m.get('val_eot_top1_end', float('nan')):.0%} of held-out reply ends"
            + (f", dev stop share {m['dev_eot_stop_share']:.0%}" if "dev_eot_stop_share" in m else "")
            + f"), by the rule: {best['rule']}.")
    distributed.barrier(world)
    distributed.shutdown(world)
    return {"out": str(out), "losses": losses, "checkpoints": checkpoints, "completed": completed,
            "start_step": start, "stop_step": stop, "total_steps": total, "eot_id": eot_id, "rates": rates,
            "device": device.type, "world_size": world.size, "sharding": sharding,
            "best": best, "epochs": epoch_rows, "eot_init": eot_record}


def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    """The per-step rows of a run's metrics.jsonl (``kind: epoch`` rows are the stop diagnostics)."""
    rows = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines() if x.strip()]
    return [r for r in rows if r.get("kind") != "epoch"]
