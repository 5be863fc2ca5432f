"""Write the unquantized GGUF: header and metadata first, then each tensor's data in turn.

Only one tensor (plus its converted copy) is in memory at a time; the source shards are memory
mapped. Norms and biases stay float32; 2-D weights take the output type (f32, f16 or bf16).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import gguf
import numpy as np

from convert.arch import Architecture, PlannedTensor
from convert.errors import ConvertError
from convert.safetensors_lazy import LazyTensors, to_float32
from convert.vocab_types import Vocab
from models.progress import bar

Q = gguf.GGMLQuantizationType
OUTTYPES: dict[str, tuple[Q, gguf.LlamaFileType]] = {
    "f32": (Q.F32, gguf.LlamaFileType.ALL_F32),
    "f16": (Q.F16, gguf.LlamaFileType.MOSTLY_F16),
    "bf16": (Q.BF16, gguf.LlamaFileType.MOSTLY_BF16),
}
_SRC_TYPE = {"F32": Q.F32, "F16": Q.F16, "BF16": Q.BF16}


@dataclass
class WriteResult:
    path: Path
    outtype: str
    n_params: int
    n_tensors: int
    planned: list[PlannedTensor]


def ggml_type(p: PlannedTensor, outtype: str) -> Q:
    if p.keep_f32 or p.n_dims <= 1 or p.name.endswith("_norm.weight"):
        return Q.F32
    return OUTTYPES[outtype][0]


def _n_bytes(shape: tuple[int, ...], qtype: Q) -> int:
    n = int(np.prod(shape, dtype=np.int64))
    return n * {Q.F32: 4, Q.F16: 2, Q.BF16: 2}[qtype]


def materialize(p: PlannedTensor, tensors: LazyTensors, qtype: Q) -> np.ndarray:
    """The tensor's bytes in ``qtype`` (float32/float16 arrays, or bf16 bits as uint16)."""
    if p.data is not None:
        arr, src = p.data, "F32"
    else:
        arr, src = tensors.load(p.source), p.src_dtype
    if p.rows is not None:
        arr = arr[: p.rows]
    same = _SRC_TYPE.get(src) == qtype
    if p.transform is not None and not p.float_math:
        arr = p.transform(arr)  # a pure reshuffle works on the stored bits
    if same and not p.float_math:
        return np.ascontiguousarray(arr)
    arr = to_float32(arr, src)
    if p.transform is not None and p.float_math:
        arr = p.transform(arr)
    if qtype == Q.F32:
        return np.ascontiguousarray(arr, dtype=np.float32)
    if qtype == Q.F16:
        return np.ascontiguousarray(arr.astype(np.float16))
    return gguf.quants.quantize(np.ascontiguousarray(arr), Q.BF16).view(np.uint16).reshape(arr.shape)


def write_gguf(
    out: Path,
    arch: Architecture,
    tensors: LazyTensors,
    vocab: Vocab,
    metadata: gguf.Metadata,
    provenance: dict,
    outtype: str,
    *,
    planned: list[PlannedTensor] | None = None,
    progress: bool | None = None,
) -> WriteResult:
    from convert import metadata as meta

    if outtype not in OUTTYPES:
        raise ConvertError(f"--outtype {outtype!r} is not one of {', '.join(OUTTYPES)}.")
    planned = planned if planned is not None else arch.plan(tensors)
    emb = next(p for p in planned if p.name == "token_embd.weight")
    if emb.shape[0] != len(vocab.tokens):
        raise ConvertError(
            f"The embedding has {emb.shape[0]} rows but the tokenizer {len(vocab.tokens)} tokens; "
            "resize the embeddings to the tokenizer and save the checkpoint again."
        )
    n_params = sum(int(np.prod(p.shape, dtype=np.int64)) for p in planned)
    w = gguf.GGUFWriter(None, arch.arch_name)
    w.add_type(gguf.GGUFType.MODEL)
    arch.write_hparams(w)
    w.add_file_type(OUTTYPES[outtype][1])
    w.add_quantization_version(gguf.GGML_QUANT_VERSION)
    meta.write(w, metadata, provenance)
    vocab.write(w)
    types = [ggml_type(p, outtype) for p in planned]
    for p, qtype in zip(planned, types):
        np_dtype = {Q.F32: np.float32, Q.F16: np.float16, Q.BF16: np.uint16}[qtype]
        w.add_tensor_info(p.name, p.shape, np.dtype(np_dtype), _n_bytes(p.shape, qtype),
                          raw_dtype=qtype if qtype == Q.BF16 else None)
    try:
        w.write_header_to_file(out)
        w.write_kv_data_to_file()
        w.write_ti_data_to_file()
        total = sum(_n_bytes(p.shape, t) for p, t in zip(planned, types))
        with bar(total, f"writing {outtype}", enabled=progress) as pbar:
            for p, qtype in zip(planned, types):
                data = materialize(p, tensors, qtype)
                w.write_tensor_data(data)
                pbar.update(data.nbytes)
                del data
    except OSError as exc:
        raise ConvertError(f"Cannot write {out} ({exc.strerror or exc}); free disk space or choose another --out.") from exc
    finally:
        w.close()
    return WriteResult(out, outtype, n_params, len(planned), planned)
