"""Resumable training state in ``RUN/state``: full weights and optimizer state, the scheduler,
every rank's RNG, and the next step. Written into ``state.tmp`` and renamed."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import torch

from finetune import distributed
from finetune.distributed import World


def rng_state(device: torch.device) -> dict[str, Any]:
    out: dict[str, Any] = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        out["cuda"] = torch.cuda.get_rng_state(device)
    elif device.type == "mps":
        out["mps"] = torch.mps.get_rng_state()
    return out


def set_rng_state(state: dict[str, Any], device: torch.device) -> None:
    torch.set_rng_state(state["cpu"])
    if "cuda" in state and device.type == "cuda":
        torch.cuda.set_rng_state(state["cuda"], device)
    if "mps" in state and device.type == "mps":
        torch.mps.set_rng_state(state["mps"])


def save_state(
    run_dir: Path, world: World, model_sd: dict, optim_sd: dict | None, scheduler: Any, next_step: int,
    rng: dict[str, Any], extra: dict[str, Any],
) -> None:
    tmp, final = run_dir / "state.tmp", run_dir / "state"
    if world.main:
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir()
    distributed.barrier(world)
    torch.save(rng, tmp / f"rng-{world.rank}.pt")
    if world.main:
        torch.save(
            {"model": model_sd, "optimizer": optim_sd, "scheduler": scheduler.state_dict(), "next_step": next_step,
             "world_size": world.size, **extra},
            tmp / "trainer.pt",
        )
    distributed.barrier(world)
    if world.main:
        if final.exists():
            shutil.rmtree(final)
        tmp.replace(final)
    distributed.barrier(world)


def load_state(run_dir: Path, world: World) -> tuple[dict[str, Any], dict[str, Any]]:
    """(trainer state, this rank's RNG state)."""
    folder = run_dir / "state"
    trainer = torch.load(folder / "trainer.pt", map_location="cpu", weights_only=False)
    rng_file = folder / f"rng-{world.rank}.pt"
    rng = torch.load(rng_file, weights_only=False) if rng_file.exists() else {}
    return trainer, rng
