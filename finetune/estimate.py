"""Device choice and the ``--dry-run`` estimates: time from FLOPs per token and a short matmul
measurement on this device, peak memory from parameter count and activation size."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from finetune.config import FinetuneConfig
from finetune.errors import FinetuneError

BYTES_PER_PARAM = 16  # fp32 weights (4) + gradients (4) + AdamW moments (8)
MATMUL_EFFICIENCY = 0.5  # share of the measured matmul rate a training step reaches (typical)


def pick_device(setting: str, local_rank: int = 0) -> torch.device:
    if setting in ("auto", "cuda") and torch.cuda.is_available():
        return torch.device("cuda", local_rank)
    if setting == "cuda":
        raise FinetuneError("device=cuda was asked for but torch sees no CUDA GPU; use device=auto or cpu.")
    if setting in ("auto", "mps") and torch.backends.mps.is_available():
        return torch.device("mps")
    if setting == "mps":
        raise FinetuneError("device=mps was asked for but this torch has no Metal (MPS) support; use device=auto or cpu.")
    return torch.device("cpu")


def cpu_has_bf16() -> bool:
    """Whether this CPU multiplies bf16 in hardware (AVX512-BF16 or AMX): there bf16 autocast runs
    the matmuls about 4x faster than fp32 (measured on the 2-core test machine)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return any(f in flags.split() for f in ("avx512_bf16", "amx_bf16"))


def pick_precision(setting: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype, or None for plain fp32. ``auto``: bf16 on CUDA GPUs that support it and
    on CPUs with bf16 hardware, fp32 elsewhere (MPS, older CPUs)."""
    if setting == "fp32":
        return None
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    if device.type == "cpu" and (setting == "bf16" or cpu_has_bf16()):
        return torch.bfloat16
    if setting == "bf16":
        raise FinetuneError(f"precision=bf16 needs a CUDA GPU with bf16 support or a CPU; {device.type} trains in fp32 (precision=auto).")
    return None


def matmul_flops(device: torch.device, dtype: torch.dtype | None, seconds: float = 0.3) -> float:
    """FLOP/s of a square matmul on this device, measured for about ``seconds``."""
    n = 1024 if device.type == "cpu" else 4096
    a = torch.randn(n, n, device=device, dtype=dtype or torch.float32)
    b = torch.randn(n, n, device=device, dtype=dtype or torch.float32)
    (a @ b).sum().item()
    runs, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        (a @ b).sum().item()
        runs += 1
    return 2 * n**3 * runs / (time.perf_counter() - start)


def flops_per_token(n_params: int, model_config: Any, seq: int, checkpointing: bool, adapters: bool = False) -> float:
    """Training FLOPs per token: 6N for the matmuls (8N with recomputation) plus attention scores; a
    frozen base (adapters) skips its weight gradients: 4N (6N with recomputation)."""
    text = model_config.get_text_config()
    attention = 12 * text.num_hidden_layers * text.hidden_size * seq
    return ((8 if checkpointing else 6) - (2 if adapters else 0)) * n_params + attention


def fixed_memory_bytes(n_params: int, model_config: Any, config: FinetuneConfig, shards: int, new_rows: int = 0,
                       adapter: Any = None, bf16: bool | None = None) -> int:
    """What stays for the whole run, by ``method``: ``full``: fp32 weights, gradients and AdamW moments
    (16 bytes a parameter, sharded by FSDP); ``lora``: the frozen base (bf16 where the run computes in
    bf16, else fp32) plus 16 bytes per adapter parameter; ``qlora``: the decoder's linear layers in
    NF4 (~0.52 bytes a parameter with double quantization), the rest in bf16, plus the adapters."""
    hidden = model_config.get_text_config().hidden_size
    if adapter is None or config.method == "full":
        return BYTES_PER_PARAM * (n_params + new_rows * hidden) // shards
    bf16 = _bf16(config) if bf16 is None else bf16
    base = n_params + new_rows * hidden
    if config.method == "qlora":
        from finetune.lora import NF4_BYTES

        weights = int(adapter.linear_params * NF4_BYTES) + 2 * (base - adapter.linear_params)
    else:
        weights = (2 if bf16 else 4) * base
    token_rows = (1 if adapter.tied else 2) * max(new_rows, 1) * hidden  # at least the EOT's row(s)
    return weights + BYTES_PER_PARAM * (adapter.adapter_params + token_rows)


def _bf16(config: FinetuneConfig) -> bool:
    return config.method == "qlora" or (config.precision != "fp32" and torch.cuda.is_available())


def peak_memory_bytes(n_params: int, model_config: Any, config: FinetuneConfig, shards: int, new_rows: int = 0,
                      adapter: Any = None, bf16: bool | None = None) -> int:
    """:func:`fixed_memory_bytes`, plus one micro-batch of activations (at most ``micro_batch_tokens``;
    one layer's and each layer's input with ``gradient_checkpointing``) and one chunk of logits.
    ``bf16``: whether activations are bf16 (default: on CUDA unless precision=fp32; always for qlora)."""
    assert config.loss_chunk is not None and config.micro_batch_tokens is not None, "resolve() the config first"
    text = model_config.get_text_config()
    hidden, layers = text.hidden_size, text.num_hidden_layers
    inter = getattr(text, "intermediate_size", 4 * hidden)
    act_bytes = 2 if (_bf16(config) if bf16 is None else bf16) else 4
    per_token_layer = (10 * hidden + 3 * inter) * act_bytes
    kept_layers = 1 if config.gradient_checkpointing else layers
    tokens = config.micro_batch_tokens
    activations = tokens * per_token_layer * kept_layers + (tokens * hidden * act_bytes * layers if config.gradient_checkpointing else 0)
    logits = 3 * config.loss_chunk * text.vocab_size * 4
    return fixed_memory_bytes(n_params, model_config, config, shards, new_rows, adapter, bf16) + activations + logits


def available_memory(device: torch.device) -> int:
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    import psutil

    return int(psutil.virtual_memory().available)


def peak_memory_used(device: torch.device) -> int:
    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device))
    if device.type == "mps":
        return int(torch.mps.driver_allocated_memory())
    import resource
    import sys

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(rss if sys.platform == "darwin" else rss * 1024)


def human_bytes(n: float) -> str:
    return f"{n / 2**30:.1f} GiB" if n >= 2**30 else f"{n / 2**20:.0f} MiB"


def human_time(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def check_memory(p: Any, device: torch.device, shards: int, bf16: bool, say: Callable[[str], None]) -> None:
    """Refuses a run whose weights and optimizer state alone exceed the device's free memory (before
    any weight loads); warns when the estimated peak does."""
    c = p.config
    fixed = fixed_memory_bytes(p.n_params, p.model_config, c, shards, len(p.template.added), p.adapter, bf16)
    free = available_memory(device)
    if fixed > free:
        what = "weights, gradients and AdamW state" if not c.adapters else "the base's weights and the adapters' AdamW state"
        raise FinetuneError(
            f"Training {p.spec.given} needs about {human_bytes(fixed)} for {what} but "
            f"{device.type} has {human_bytes(free)} free; use a larger GPU, torchrun with more GPUs (FSDP2), "
            f"or {'method=qlora' if c.method == 'lora' else 'method=lora or qlora' if c.method == 'full' else 'a smaller base'}.")
    total = peak_memory_bytes(p.n_params, p.model_config, c, shards, len(p.template.added), p.adapter, bf16)
    if total > free:
        say(f"Warning: the estimated peak ({human_bytes(total)}) exceeds the free {human_bytes(free)}; "
            "if it runs out, set gradient_checkpointing=true or a smaller micro_batch_tokens.")
