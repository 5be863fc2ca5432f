"""A peft LoRA adapter as a GGUF LoRA adapter (gguf-py), the file llama.cpp loads with ``--lora``.

llama.cpp's conventions (its ``convert_lora_to_gguf.py`` and ``llama-adapter``):

- ``general.type = adapter``, ``adapter.type = lora``, ``adapter.lora.alpha``; the architecture is the
  base's, and every tensor is the base tensor's GGUF name plus ``.lora_a`` / ``.lora_b``
  (``blk.0.attn_q.weight.lora_a``), ``lora_a`` as (rank, in) and ``lora_b`` as (out, rank).
- llama.cpp scales each product by ``alpha / rank`` (``rank`` read from the tensor). peft scales by
  ``alpha / r``, or ``alpha / sqrt(r)`` with rsLoRA, so rsLoRA's scale is folded into the alpha
  written (``alpha * sqrt(r)``); a module whose peft scale still differs (``alpha_pattern``, or
  ``rank_pattern`` with rsLoRA) has the ratio folded into its ``lora_b``.
- The base's own tensor transforms apply to ``lora_b``'s rows (llama's rotary permutation of q/k), so
  the names and layouts come from convert's architecture modules, not a second table.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from convert.adapter_source import MERGE_INSTEAD, AdapterSource, LoraModule
from convert.errors import ConvertError
from convert.safetensors_lazy import LazyTensors, to_float32
from models.adapters import BASE_SHA256_KEY

if TYPE_CHECKING:
    from convert.arch import Architecture

TYPES = ("f32", "f16", "bf16")


@dataclass
class LoraWritten:
    path: Path
    alpha: float  # adapter.lora.alpha as written
    rank: int
    outtype: str
    targets: list[str]  # GGUF names of the adapted tensors
    n_params: int

    def record(self) -> dict[str, Any]:
        """The manifest's ``adapter`` field."""
        return {"type": "lora", "alpha": self.alpha, "rank": self.rank, "scale": 1.0, "outtype": self.outtype,
                "targets": self.targets, "n_params": self.n_params}


def adapter_precision(adapter: LazyTensors) -> str:
    dtypes = {ref.dtype for ref in adapter}
    return "bf16" if dtypes == {"BF16"} else "f16" if dtypes == {"F16"} else "f32"


def _cast(arr: np.ndarray, outtype: str) -> np.ndarray:
    import gguf

    if outtype == "f32":
        return np.ascontiguousarray(arr, dtype=np.float32)
    if outtype == "f16":
        return np.ascontiguousarray(arr.astype(np.float16))
    return gguf.quants.quantize(np.ascontiguousarray(arr, dtype=np.float32), gguf.GGMLQuantizationType.BF16).view(np.uint16).reshape(arr.shape)


def _plan(src: AdapterSource, arch: Architecture, base: LazyTensors, lm: LoraModule) -> tuple[str, Any]:
    """The base tensor's GGUF name and the row transform its data gets (applied to lora_b)."""
    planned = arch.plan_one(base.refs[f"{lm.module}.weight"])
    if planned.rows is not None or planned.float_math:
        raise ConvertError(f"{src.display_name} adapts {lm.module}, whose GGUF tensor convert rewrites "
                           f"(not only reorders); {MERGE_INSTEAD}.")
    return planned.name, planned.transform


def write_lora_gguf(out: Path, src: AdapterSource, arch: Architecture, base: LazyTensors, *, outtype: str | None,
                    name: str, base_sha256: str | None, provenance: dict[str, Any]) -> LoraWritten:
    """Write ``out``; nothing is read but the adapter's own tensors (one module at a time)."""
    import gguf

    refusal = src.export_refusal()
    if refusal:
        raise ConvertError(refusal)
    adapter = LazyTensors([src.weights])
    outtype = outtype or adapter_precision(adapter)
    if outtype not in TYPES:
        raise ConvertError(f"--outtype {outtype!r} is not one of {', '.join(TYPES)}.")
    # llama.cpp: scale = alpha / rank; peft: alpha / r (or alpha / sqrt(r) with rsLoRA), per module
    alpha = src.alpha * math.sqrt(src.rank) if src.rslora else src.alpha
    w = gguf.GGUFWriter(out, arch.arch_name)
    w.add_type(gguf.GGUFType.ADAPTER)
    w.add_string(gguf.Keys.Adapter.TYPE, "lora")
    w.add_float32(gguf.Keys.Adapter.LORA_ALPHA, float(alpha))
    w.add_name(name)
    if base_sha256:
        w.add_string(BASE_SHA256_KEY, base_sha256)
    w.add_string("assistant.provenance", json.dumps(provenance, ensure_ascii=False, default=str))
    targets, n_params = [], 0
    for lm in sorted(src.modules.values(), key=lambda m: _order(m.module)):
        gguf_name, transform = _plan(src, arch, base, lm)
        a = to_float32(adapter.load(lm.a), adapter.refs[lm.a].dtype)
        b = to_float32(adapter.load(lm.b), adapter.refs[lm.b].dtype)
        if transform is not None:
            b = transform(b)
        ratio = src.scale(lm) / (alpha / lm.rank)
        if not math.isclose(ratio, 1.0, rel_tol=1e-6):
            b = b * np.float32(ratio)
        for suffix, arr in ((".lora_a", a), (".lora_b", b)):
            data = _cast(arr, outtype)
            w.add_tensor(gguf_name + suffix, data, raw_dtype=gguf.GGMLQuantizationType.BF16 if outtype == "bf16" else None)
            n_params += int(arr.size)
        targets.append(gguf_name)
    w.add_file_type({"f32": gguf.LlamaFileType.ALL_F32, "f16": gguf.LlamaFileType.MOSTLY_F16,
                     "bf16": gguf.LlamaFileType.MOSTLY_BF16}[outtype])
    try:
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
    except OSError as exc:
        raise ConvertError(f"Cannot write {out} ({exc.strerror or exc}); free disk space or choose another --out.") from exc
    finally:
        w.close()
    return LoraWritten(out, float(alpha), src.rank, outtype, targets, n_params)


def _order(module: str) -> tuple[int, str]:
    """Layer order (layers.10 after layers.9), then the name."""
    parts = module.split(".")
    layer = next((int(p) for p in parts if p.isdigit()), -1)
    return layer, module
