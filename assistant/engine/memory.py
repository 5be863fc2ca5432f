"""Will the model fit? Weights (the file, memory-mapped) + KV cache for n_ctx + compute buffers."""

from __future__ import annotations

from dataclasses import dataclass

from models.errors import NotEnoughMemory
from models.gguf_file import GGUFInfo

COMPUTE_OVERHEAD = 256 << 20  # scratch buffers, logits and the runtime itself


@dataclass
class MemoryEstimate:
    weights: int
    kv_cache: int
    overhead: int
    available: int

    @property
    def needed(self) -> int:
        return self.weights + self.kv_cache + self.overhead

    @property
    def fits(self) -> bool:
        return self.needed <= self.available


def available_memory() -> int:
    import psutil

    return int(psutil.virtual_memory().available)


def estimate(info: GGUFInfo, n_ctx: int, available: int | None = None) -> MemoryEstimate:
    vocab = len(info.tokens) or 32000
    overhead = COMPUTE_OVERHEAD + vocab * 4 * 512  # logits for a prompt batch
    return MemoryEstimate(
        weights=info.file_size,
        kv_cache=info.kv_cache_bytes(n_ctx),
        overhead=overhead,
        available=available_memory() if available is None else available,
    )


def _gib(n: int) -> str:
    return f"{n / (1 << 30):.1f} GiB"


def check_fits(info: GGUFInfo, n_ctx: int, *, force: bool = False, available: int | None = None) -> MemoryEstimate:
    est = estimate(info, n_ctx, available)
    if not est.fits and not force:
        raise NotEnoughMemory(
            f"{info.path.name} needs about {_gib(est.needed)} (weights {_gib(est.weights)} + KV cache "
            f"{_gib(est.kv_cache)} at {n_ctx} tokens) but only {_gib(est.available)} is available; "
            "use a smaller --ctx-size or model, or --force to try anyway."
        )
    return est
