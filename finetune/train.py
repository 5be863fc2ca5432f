"""The training loop, written out: plan the step's micro-batches, forward and backward each (loss
summed over labelled tokens, scaled by the step's labelled-token count so any micro-batching or
number of processes gives the same gradient), one all-reduce, an AdamW step, metrics, and at the
chosen epochs a checkpoint with dev generations. State for ``--resume`` is saved periodically.

:func:`train` reads as its phases, each a function over two small records: :func:`_set_up` (device,
run folder, model, optimizer: a :class:`Setup`), :func:`_resume` (the first step), :func:`_begin` (the
metrics log and the diagnostics before any step: a :class:`Loop`), then per step :func:`_step` and
:func:`_record_step`, :func:`_end_epoch` at each epoch's end, and :func:`_summary`."""

from __future__ import annotations

import contextlib
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from finetune import distributed, epoch_end
from finetune.batching import collate, plan_step, steps_per_epoch
from finetune.checkpoint import save_adapter_checkpoint, save_checkpoint
from finetune.errors import FinetuneError
from finetune.estimate import check_memory, human_bytes, peak_memory_used, pick_device, pick_precision
from finetune.evaluate import generate, write
from finetune.metrics import MetricsLog
from finetune.modeling import LabelledLoss, decoder_layers
from finetune.optim import build_optimizer, build_scheduler
from finetune.prepared import Prepared, total_steps
from finetune.provenance import provenance
from finetune.state import load_state, rng_state, save_state, set_rng_state


def _strip(sd: dict) -> dict:
    return {k.removeprefix("model."): v for k, v in sd.items()}


@dataclass
class Setup:
    """What set-up builds and every later phase reads."""

    device: torch.device
    world: distributed.World
    amp: torch.dtype | None  # the autocast dtype, None for plain fp32
    sharding: str
    model: Any  # the transformers model: generation and checkpoints read it
    wrapped: Any  # LabelledLoss around the model, as DDP or FSDP2 wrapped it: the steps run it
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    eot_id: int
    pad_id: int
    eot_record: dict[str, Any] | None
    rates: list[float]  # residual dropout per layer
    total: int  # steps of the whole run
    per_epoch: int
    peft: Any = None  # the PeftModel around ``model`` (lora, qlora): checkpoints save its adapter


@dataclass
class Loop:
    """The loop's running state: where it starts and stops, the logs, and what the summary reports."""

    start: int
    stop: int
    bar: Any  # tqdm over the steps
    say: Callable[[str], None]
    metrics: MetricsLog | None  # the main process's metrics.jsonl
    epoch_rows: list[dict[str, Any]]
    best: dict[str, Any] | None = None
    losses: list[float] = field(default_factory=list)
    epoch_losses: dict[int, list[float]] = field(default_factory=dict)
    checkpoints: list[str] = field(default_factory=list)
    tokens_done: int = 0
    began: float = 0.0

    def note(self, message: str) -> None:  # a line above the progress bar
        with self.bar.external_write_mode():
            self.say(message)


@dataclass
class StepResult:
    """One optimizer step, summed over every process."""

    loss: float  # per labelled token
    lr: float | torch.Tensor  # as the schedule gives it (the rate the step used)
    grad_norm: float
    labelled: int
    tokens: int
    padded: int
    seconds: float


def train(p: Prepared, say: Callable[[str], None]) -> dict[str, Any]:
    c = p.config
    assert c.batch_size is not None and c.micro_batch_tokens is not None and c.residual_dropout is not None
    assert c.loss_chunk is not None
    s = _set_up(p, say)
    start = _resume(p, s, say)
    loop = _begin(p, s, start, say)
    for step in range(loop.start, loop.stop):
        result = _step(p, s, loop, step)
        epoch = _record_step(p, s, loop, step, result)
        epoch_done = (step + 1) % s.per_epoch == 0
        saving = epoch_done and (epoch in c.save_epochs or epoch == c.epochs)
        if epoch_done:
            _end_epoch(p, s, loop, step, epoch, saving)
        if saving or (step + 1) % c.state_every_steps == 0 or step + 1 == loop.stop:
            if step + 1 < s.total:
                _save_resume_state(p, s, step + 1, rng_state(s.device))
            if loop.metrics:
                loop.metrics.plot(p.out / "loss.png", f"{Path(p.spec.given).name} + {c.recipe}: {len(p.encoded)} examples")
    loop.bar.close()
    return _summary(p, s, loop, say)


def _set_up(p: Prepared, say: Callable[[str], None]) -> Setup:
    """Device, processes and precision; the run folder's files; the model with its new token rows,
    EOT rows, dropout and checkpointing, wrapped for the processes; the optimizer and schedule."""
    import os

    c = p.config
    assert c.batch_size is not None and c.loss_chunk is not None
    device = pick_device(c.device, int(os.environ.get("LOCAL_RANK", "0")))
    world = distributed.init(device.type)
    amp = pick_precision(c.precision, device)
    sharding = distributed.choose_sharding(c.sharding, p.n_params, world, adapters=c.adapters)
    check_memory(p, device, world.size if sharding == "fsdp" else 1, amp is torch.bfloat16, say)
    if world.main:
        epoch_end.start_run_folder(p)
    distributed.barrier(world)
    from finetune.model_setup import load_for_training

    m = load_for_training(p, device, amp, world, say)
    wrapped = distributed.wrap(LabelledLoss(m.model, c.loss_chunk), decoder_layers(m.model), sharding, world, device)
    optimizer = build_optimizer(wrapped, c)
    total = total_steps(p)
    per_epoch = steps_per_epoch(len(p.encoded), c.batch_size)
    scheduler = build_scheduler(optimizer, total, c)
    return Setup(device, world, amp, sharding, m.model, wrapped, optimizer, scheduler, m.eot_id, m.pad_id,
                 m.eot_record, m.rates, total, per_epoch, m.peft)


def _resume(p: Prepared, s: Setup, say: Callable[[str], None]) -> int:
    """The first step: a resumed run's saved weights, optimizer, schedule and RNG; else a fresh seed."""
    if not p.args.resume:
        torch.manual_seed(p.config.seed + s.world.rank)
        return 0
    trainer, rng = load_state(p.out, s.world)
    if trainer["world_size"] != s.world.size:
        say(f"Warning: this run was saved with {trainer['world_size']} processes and resumes with {s.world.size}; "
            "losses will not match an uninterrupted run exactly.")
    distributed.load_full_state(s.wrapped, s.optimizer, trainer["model"], trainer["optimizer"], adapters=s.peft is not None)
    s.scheduler.load_state_dict(trainer["scheduler"])
    start = int(trainer["next_step"])
    if rng:
        set_rng_state(rng, s.device)
    del trainer
    say(f"Resumed {p.out} at step {start} of {s.total}.")
    return start


def _begin(p: Prepared, s: Setup, start: int, say: Callable[[str], None]) -> Loop:
    """The plan said aloud, the metrics log, the stop diagnostics before any step, the progress bar."""
    from tqdm import tqdm

    c = p.config
    stop = min(s.total, p.args.max_steps) if p.args.max_steps else s.total
    world = s.world
    say(f"Training{f' ({c.method})' if c.adapters else ''} on {s.device.type}{f' x{world.size} ({s.sharding})' if world.distributed else ''}"
        f"{' with bf16 autocast' if s.amp else ' in fp32'}: {s.total} steps ({c.epochs} epochs x {s.per_epoch}), "
        f"batch {c.batch_size}, lr {c.lr:g} -> {c.lr_end:g}, residual dropout 0 -> {s.rates[-1]:g}")

    metrics = MetricsLog(p.out / "metrics.jsonl", start) if world.main else None
    epoch_rows = [r for r in metrics.rows if r.get("kind") == "epoch"] if metrics else []
    # Where the stop diagnostics begin (FSDP2 must run its root forward first: its runs start at epoch 1)
    if start == 0 and p.val and s.sharding != "fsdp":
        diag = epoch_end.diagnostics(p, s.model, s.device, s.amp, s.eot_id, s.pad_id) if world.main else {}
        if metrics:
            epoch_rows.append(epoch_end.epoch_row(0, 0, diag, None, None, 0, None))
            metrics.add(epoch_rows[-1])
            epoch_end.report(p.out, epoch_rows, say)
    bar = tqdm(total=stop, initial=start, disable=not world.main, unit="step", dynamic_ncols=True)
    return Loop(start, stop, bar, say, metrics, epoch_rows, began=time.perf_counter())


def _save_resume_state(p: Prepared, s: Setup, next_step: int, rng: dict[str, Any]) -> None:
    model_sd, optim_sd = distributed.full_state(s.wrapped, s.optimizer, adapters=s.peft is not None)
    save_state(p.out, s.world, model_sd, optim_sd, s.scheduler, next_step, rng, {"total_steps": s.total})


def _step(p: Prepared, s: Setup, loop: Loop, step: int) -> StepResult:
    """One optimizer step over the step's micro-batches, summed over every process. An interruption
    saves the state from before the step and says how to resume."""
    c = p.config
    assert c.batch_size is not None and c.micro_batch_tokens is not None
    world, device = s.world, s.device
    rng_before = rng_state(device)
    t0 = time.perf_counter()
    max_norm = c.max_grad_norm if c.max_grad_norm > 0 else float("inf")
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
            batch = collate([p.encoded[i] for i in ids], s.pad_id)
            with distributed.gradient_sync(s.wrapped, j == plan.n_micro - 1):
                with torch.autocast(device.type, dtype=s.amp) if s.amp else contextlib.nullcontext():
                    loss_s, _ = s.wrapped(batch.input_ids.to(device), None, batch.labels.to(device))
                (loss_s * (world.size / labelled if real else 0.0)).backward()
            if real:
                loss_sum += loss_s.detach().double().cpu()
                counts += torch.tensor([batch.tokens, batch.padded], dtype=torch.float64)
        grad_norm = torch.nn.utils.clip_grad_norm_(s.wrapped.parameters(), max_norm)
        lr = s.scheduler.get_last_lr()[0]
        s.optimizer.step()
        s.scheduler.step()
        s.optimizer.zero_grad(set_to_none=True)
    except KeyboardInterrupt:
        s.optimizer.zero_grad(set_to_none=True)
        _save_resume_state(p, s, step, rng_before)
        loop.bar.close()
        raise FinetuneError(f"Training was interrupted at step {step + 1}; continue it with --resume {p.out}.", exit_code=130) from None
    totals = distributed.all_sum(torch.cat([loss_sum.view(1), counts]), world)
    return StepResult(float(totals[0]) / labelled, lr, float(grad_norm), labelled, int(totals[1]), int(totals[2]),
                      time.perf_counter() - t0)


def _record_step(p: Prepared, s: Setup, loop: Loop, step: int, r: StepResult) -> int:
    """The step's metrics row and the bar; returns the step's epoch (1-based)."""
    epoch = step // s.per_epoch + 1
    loop.tokens_done += r.tokens
    loop.losses.append(r.loss)
    loop.epoch_losses.setdefault(epoch, []).append(r.loss)
    row = {"step": step + 1, "epoch": epoch, "loss": r.loss, "lr": r.lr, "grad_norm": r.grad_norm,
           "tokens": r.tokens, "labelled_tokens": r.labelled, "padding": 1 - float(r.tokens) / float(r.padded),
           "tokens_per_s": float(r.tokens) / r.seconds, "seconds": r.seconds, "elapsed": time.perf_counter() - loop.began,
           "peak_memory_bytes": peak_memory_used(s.device)}
    if loop.metrics:
        loop.metrics.add(row)
    loop.bar.set_postfix(loss=f"{r.loss:.3f}", tok_s=f"{row['tokens_per_s']:.0f}", epoch=epoch)
    loop.bar.update(1)
    return epoch


def _end_epoch(p: Prepared, s: Setup, loop: Loop, step: int, epoch: int, saving: bool) -> None:
    """The stop diagnostics; at a saved epoch the dev generations and a checkpoint; the best so far."""
    c = p.config
    world = s.world
    folder = p.out / f"epoch-{epoch:02d}"
    if s.sharding == "fsdp":
        s.wrapped.unshard()
    diag = epoch_end.diagnostics(p, s.model, s.device, s.amp, s.eot_id, s.pad_id) if world.main or s.sharding == "fsdp" else {}
    results = None
    if saving and (world.main or s.sharding == "fsdp"):
        results = generate(s.model, p.tokenizer, p.template, p.prompts, c, s.device, s.eot_id, c.seed + epoch,
                           amp=s.amp if s.peft is not None else None)
    if s.sharding == "fsdp":
        s.wrapped.reshard()
    model_sd = distributed.full_state(s.wrapped)[0] if saving and s.peft is None else None
    if world.main:
        train_loss = sum(loop.epoch_losses[epoch]) / len(loop.epoch_losses[epoch])
        row = epoch_end.epoch_row(epoch, step + 1, diag, train_loss, results, c.dev_max_new_tokens,
                                  folder if saving else None)
        if saving:
            assert results is not None
            record = provenance(p, epoch, step + 1, loop.epoch_losses[epoch], s.eot_id, row, s.eot_record)
            if s.peft is not None:
                save_adapter_checkpoint(folder, s.peft, p.tokenizer, p.template, s.eot_id, p.stats["original_eos"], c, record)
            else:
                assert model_sd is not None
                save_checkpoint(folder, s.model, _strip(model_sd), p.tokenizer, p.template, s.eot_id,
                                p.stats["original_eos"], c, record)
            write(results, folder, f"{Path(p.spec.given).name} + {c.recipe}, epoch {epoch}, step {step + 1}")
            loop.checkpoints.append(str(folder))
            loop.note(f"Epoch {epoch}: loss {train_loss:.4f}; checkpoint {folder} "
                      f"({sum(r['stopped'] for r in results)}/{len(results)} dev replies ended with {p.template.eot})")
        loop.epoch_rows.append(row)
        if loop.metrics:
            loop.metrics.add(row)
        loop.best = epoch_end.report(p.out, loop.epoch_rows, loop.note)
    distributed.barrier(world)


def _summary(p: Prepared, s: Setup, loop: Loop, say: Callable[[str], None]) -> dict[str, Any]:
    """The closing lines (speed, where to resume, the checkpoints, the best one) and the run's summary."""
    out, world, start, stop, total = p.out, s.world, loop.start, loop.stop, s.total
    completed = stop == total
    if completed and world.main and (out / "state").exists():
        shutil.rmtree(out / "state")  # finished: nothing left to resume
    elapsed = time.perf_counter() - loop.began
    if stop > start:
        say(f"{'Finished' if completed else f'Stopped at step {stop} of {total} (--max-steps)'}: "
            f"{stop - start} steps in {elapsed:.0f} s, {loop.tokens_done / max(elapsed, 1e-9):.0f} tokens/s, "
            f"peak memory {human_bytes(peak_memory_used(s.device))}")
    if not completed:
        say(f"Continue with --resume {out}")
    best = loop.best
    if world.main and loop.epoch_rows:
        best = epoch_end.report(out, loop.epoch_rows, lambda _: None)
    if loop.checkpoints:
        pick = best["checkpoint"] if best else loop.checkpoints[-1]
        say(f"Checkpoints: {', '.join(loop.checkpoints)}; read their dev_generations.md, then "
            f"`assistant convert {pick} --name NAME`.")
    if best:
        m = best["metrics"]
        say(f"Best checkpoint: {best['checkpoint']} (epoch {best['epoch']}: EOT top-1 at "
            f"{m.get('val_eot_top1_end', float('nan')):.0%} of held-out reply ends"
            + (f", dev stop share {m['dev_eot_stop_share']:.0%}" if "dev_eot_stop_share" in m else "")
            + f"), by the rule: {best['rule']}.")
    distributed.barrier(world)
    distributed.shutdown(world)
    return {"out": str(out), "losses": loop.losses, "checkpoints": loop.checkpoints, "completed": completed,
            "start_step": start, "stop_step": stop, "total_steps": total, "eot_id": s.eot_id, "rates": s.rates,
            "device": s.device.type, "world_size": world.size, "sharding": s.sharding,
            "best": best, "epochs": loop.epoch_rows, "eot_init": s.eot_record}
