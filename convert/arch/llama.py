"""Llama layouts: SmolLM, TinyLlama, Llama 2/3 (tied or untied embeddings), and Mistral.

HF stores q/k with the rotary halves split; llama.cpp's ``llama`` arch expects them interleaved,
hence the same permutation as llama.cpp's converter. Llama 3.1 rope scaling becomes a
``rope_freqs`` tensor.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import ClassVar

import gguf
import numpy as np

from convert.arch.base import Architecture, PlannedTensor
from convert.safetensors_lazy import TensorRef


def permute(w: np.ndarray, n_head: int) -> np.ndarray:
    """HF rotary layout -> llama.cpp's (identical to convert_hf_to_gguf.py's ``permute``)."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


class Llama(Architecture):
    hf_names: ClassVar[tuple[str, ...]] = ("LlamaForCausalLM", "MistralForCausalLM")
    gguf_arch = gguf.MODEL_ARCH.LLAMA

    def write_hparams(self, w: gguf.GGUFWriter) -> None:
        super().write_hparams(w)
        w.add_rope_dimension_count(self.head_dim)

    def plan_one(self, ref: TensorRef) -> PlannedTensor:
        planned = super().plan_one(ref)
        if planned.name.startswith("blk.") and ".attn_q." in planned.name:
            n = self.n_head
            planned.transform = lambda a: permute(a, n)
        elif planned.name.startswith("blk.") and ".attn_k." in planned.name:
            n_kv = self.n_head_kv
            planned.transform = lambda a: permute(a, n_kv)
        return planned

    def extra_tensors(self) -> Iterator[PlannedTensor]:
        rope = self.rope
        if str(rope.get("rope_type", "")).lower() != "llama3":
            return
        base = float(rope.get("rope_theta", 10000.0))
        dim = self.head_dim
        factor = float(rope.get("factor", 8.0))
        low, high = float(rope.get("low_freq_factor", 1.0)), float(rope.get("high_freq_factor", 4.0))
        old_ctx = float(rope.get("original_max_position_embeddings", 8192))
        low_wavelen, high_wavelen = old_ctx / low, old_ctx / high
        factors = []
        for freq in 1.0 / (base ** (np.arange(0, dim, 2, dtype=np.float32) / dim)):
            wavelen = 2 * math.pi / float(freq)
            if wavelen < high_wavelen:
                factors.append(1.0)
            elif wavelen > low_wavelen:
                factors.append(factor)
            else:
                smooth = (old_ctx / wavelen - low) / (high - low)
                factors.append(1 / ((1 - smooth) / factor + smooth))
        data = np.asarray(factors, dtype=np.float32)
        name = gguf.TENSOR_NAMES[gguf.MODEL_TENSOR.ROPE_FREQS] + ".weight"
        yield PlannedTensor(name, "", data.shape, "F32", keep_f32=True, data=data)
