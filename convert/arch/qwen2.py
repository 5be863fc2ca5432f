"""Qwen2 (and Qwen2.5): llama-like blocks with q/k/v biases and NEOX rotary (no permutation)."""

from __future__ import annotations

from typing import ClassVar

import gguf

from convert.arch.base import Architecture
from convert.errors import ConvertError


class Qwen2(Architecture):
    hf_names: ClassVar[tuple[str, ...]] = ("Qwen2ForCausalLM",)
    gguf_arch = gguf.MODEL_ARCH.QWEN2

    def check(self) -> None:
        if self.hp.get("use_sliding_window"):
            raise ConvertError(
                "This Qwen2 checkpoint uses sliding-window attention, which llama.cpp's qwen2 does not "
                "implement; convert a checkpoint with use_sliding_window=false."
            )
