"""Quantize with llama.cpp itself (``llama_cpp.llama_model_quantize``), from the source precision.

k-quants work on blocks of 256 values along a row; a tensor whose rows are not a multiple of 256
(SmolLM2's width is 576) is stored by llama.cpp in a fallback type. We say so, with the count.
"""

from __future__ import annotations

import ctypes
import logging
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from convert.errors import ConvertError

# our name -> (llama.cpp LLAMA_FTYPE_MOSTLY_*, block size along a row, principal ggml type name)
QUANTS: dict[str, tuple[int, int, str]] = {
    "q8_0": (7, 32, "Q8_0"),
    "q6_k": (18, 256, "Q6_K"),
    "q5_k_m": (17, 256, "Q5_K"),
    "q5_k_s": (16, 256, "Q5_K"),
    "q5_0": (8, 32, "Q5_0"),
    "q4_k_m": (15, 256, "Q4_K"),
    "q4_k_s": (14, 256, "Q4_K"),
    "q4_0": (2, 32, "Q4_0"),
    "q3_k_m": (12, 256, "Q3_K"),
    "q2_k": (10, 256, "Q2_K"),
}
UNQUANTIZED = ("f32", "f16", "bf16")


@dataclass
class QuantReport:
    quant: str
    types: dict[str, int] = field(default_factory=dict)  # ggml type name -> tensor count
    fallback: dict[str, int] = field(default_factory=dict)  # fallback type -> count
    fallback_widths: list[int] = field(default_factory=list)

    def warning(self) -> str | None:
        if not self.fallback:
            return None
        block = QUANTS[self.quant][1]
        n = sum(self.fallback.values())
        kinds = ", ".join(f"{k} x{v}" for k, v in sorted(self.fallback.items()))
        widths = ", ".join(str(w) for w in sorted(set(self.fallback_widths)))
        return (
            f"{n} tensor(s) have rows of {widths} values, not a multiple of {block}, so llama.cpp stored them "
            f"as {kinds} instead of {QUANTS[self.quant][2]} (larger and a little more exact)."
        )


def check_quant(quant: str) -> str:
    q = quant.lower()
    if q not in QUANTS and q not in UNQUANTIZED:
        raise ConvertError(f"--quant {quant!r} is not one of {', '.join([*QUANTS, *UNQUANTIZED])}.")
    return q


def quantize(src: Path, dst: Path, quant: str, *, threads: int | None = None) -> QuantReport:
    """Run llama.cpp's quantizer from ``src`` (f32/f16/bf16 GGUF) into ``dst``."""
    import llama_cpp

    logging.getLogger("llama-cpp-python").setLevel(logging.ERROR)
    ftype, _, _ = QUANTS[quant]
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = ftype
    params.nthread = threads or max(1, os.cpu_count() or 1)
    rc = llama_cpp.llama_model_quantize(str(src).encode(), str(dst).encode(), ctypes.byref(params))
    if rc != 0 or not dst.is_file():
        raise ConvertError(f"llama.cpp could not quantize {src.name} to {quant} (code {rc}); see the log above.")
    return inspect(dst, quant)


def inspect(path: Path, quant: str) -> QuantReport:
    """Count the tensor types llama.cpp chose; 2-D tensors off the principal type are fallbacks."""
    from gguf.constants import GGMLQuantizationType

    from models.gguf_file import read_gguf

    info = read_gguf(path, vocab=False)
    _, block, principal = QUANTS[quant]
    types: Counter[str] = Counter()
    fallback: Counter[str] = Counter()
    widths: list[int] = []
    for t in info.tensors:
        name = GGMLQuantizationType(t.ggml_type).name
        types[name] += 1
        if len(t.shape) >= 2 and t.shape[0] % block != 0 and name != principal:
            fallback[name] += 1
            widths.append(t.shape[0])
    return QuantReport(quant, dict(types), dict(fallback), widths)
