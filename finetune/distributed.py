"""One process, or ``torchrun --nproc_per_node N``: DDP for small models, FSDP2 (``fully_shard``)
per decoder layer for large ones; NCCL on CUDA, gloo on CPU. Full state dicts for saving go
through ``torch.distributed.checkpoint.state_dict``, which handles all three cases."""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

FSDP_FROM_PARAMS = 1_000_000_000


@dataclass
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1


def init(device_type: str) -> World:
    """Join the process group torchrun set up (no-op for a single process)."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return World()
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if device_type == "cuda":
        torch.cuda.set_device(local)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device_type == "cuda" else "gloo")
    return World(rank, size, local)


def shutdown(world: World) -> None:
    if world.distributed and dist.is_initialized():
        dist.destroy_process_group()


def choose_sharding(setting: str, n_params: int, world: World, adapters: bool = False) -> str:
    """none (one process), ddp or fsdp. Adapters (lora, qlora) always train with DDP: their frozen
    base is replicated, as their few trainable parameters are."""
    if not world.distributed:
        return "none"
    if adapters:
        return "ddp"
    if setting == "auto":
        return "fsdp" if n_params >= FSDP_FROM_PARAMS else "ddp"
    return setting


def wrap(module: nn.Module, layers: nn.ModuleList, sharding: str, world: World, device: torch.device) -> nn.Module:
    if sharding == "ddp":
        from torch.nn.parallel import DistributedDataParallel

        ids = [device.index] if device.type == "cuda" else None
        with warnings.catch_warnings():  # broadcast_buffers=False is still the way to skip per-forward syncs
            warnings.simplefilter("ignore", FutureWarning)
            return DistributedDataParallel(module, device_ids=ids, broadcast_buffers=False)
    if sharding == "fsdp":
        from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

        policy = MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32) if device.type == "cuda" else None
        kwargs: dict[str, Any] = {"mp_policy": policy} if policy else {}
        for layer in layers:
            fully_shard(layer, **kwargs)
        fully_shard(module, **kwargs)
    return module


@contextlib.contextmanager
def gradient_sync(module: nn.Module, enabled: bool) -> Iterator[None]:
    """Accumulate locally until the last micro-batch of a step, then all-reduce once."""
    if enabled:
        yield
        return
    no_sync = getattr(module, "no_sync", None)
    if callable(no_sync):  # DDP
        with no_sync():
            yield
        return
    setter = getattr(module, "set_requires_gradient_sync", None)
    if callable(setter):  # FSDP2
        setter(False)
        try:
            yield
        finally:
            setter(True)
        return
    yield


def all_sum(value: torch.Tensor, world: World) -> torch.Tensor:
    if world.distributed:
        value = value.clone()
        dist.all_reduce(value)
    return value


def barrier(world: World) -> None:
    if world.distributed:
        dist.barrier()


def unwrap(module: nn.Module) -> nn.Module:
    inner = getattr(module, "module", None) if hasattr(module, "no_sync") else None
    return inner if isinstance(inner, nn.Module) else module


def full_state(module: nn.Module, optimizer: torch.optim.Optimizer | None = None,
               adapters: bool = False) -> tuple[dict, dict | None]:
    """Full (unsharded, CPU) model and optimizer state dicts; every rank must call this. With
    ``adapters``, only the trainable parameters (LoRA matrices, trained token rows) and the
    optimizer's own state dict: the frozen base is reloaded from the base on resume."""
    if adapters:
        target = unwrap(module)
        trainable = {n: p.detach().to("cpu", copy=True) for n, p in target.named_parameters() if p.requires_grad}
        return trainable, optimizer.state_dict() if optimizer is not None else None
    from torch.distributed.checkpoint.state_dict import (
        StateDictOptions,
        get_model_state_dict,
        get_optimizer_state_dict,
    )

    options = StateDictOptions(full_state_dict=True, cpu_offload=True)
    target = unwrap(module)
    model_sd = get_model_state_dict(target, options=options)
    optim_sd = get_optimizer_state_dict(target, optimizer, options=options) if optimizer is not None else None
    return model_sd, optim_sd


def load_full_state(module: nn.Module, optimizer: torch.optim.Optimizer, model_sd: dict, optim_sd: dict,
                    adapters: bool = False) -> None:
    if adapters:
        _load_trainable(unwrap(module), model_sd)
        optimizer.load_state_dict(optim_sd)
        return
    from torch.distributed.checkpoint.state_dict import (
        StateDictOptions,
        set_model_state_dict,
        set_optimizer_state_dict,
    )

    options = StateDictOptions(full_state_dict=True)
    target = unwrap(module)
    set_model_state_dict(target, model_sd, options=options)
    set_optimizer_state_dict(target, optimizer, optim_sd, options=options)


def _load_trainable(target: nn.Module, saved: dict) -> None:
    from finetune.errors import FinetuneError

    params = {n: p for n, p in target.named_parameters() if p.requires_grad}
    if set(params) != set(saved):
        raise FinetuneError("The saved state's adapter parameters do not match this run's adapters; resume with "
                            "the same finetune version and configuration.")
    with torch.no_grad():
        for name, param in params.items():
            param.copy_(saved[name])
