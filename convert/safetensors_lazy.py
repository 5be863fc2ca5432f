"""Tensors read lazily from one or many ``.safetensors`` shards.

The header of every shard is parsed (and checked against the file, convert/checks.py) up front; a tensor's data
is read only when asked for (a plain read, not a memory map, so pages of tensors already written do
not stay in the process), so converting holds one tensor at a time in memory.
numpy has no bfloat16, so bf16 data comes back as its raw ``uint16`` bits with ``dtype='bf16'``
noted beside it; :func:`to_float32` widens it exactly.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from convert.checks import check_tensor_table, read_safetensors_header
from convert.errors import ConvertError

_DTYPES: dict[str, np.dtype] = {
    "F64": np.dtype("<f8"),
    "F32": np.dtype("<f4"),
    "F16": np.dtype("<f2"),
    "BF16": np.dtype("<u2"),
    "I64": np.dtype("<i8"),
    "I32": np.dtype("<i4"),
    "I16": np.dtype("<i2"),
    "I8": np.dtype("i1"),
    "U8": np.dtype("u1"),
    "BOOL": np.dtype("?"),
}


@dataclass(frozen=True)
class TensorRef:
    name: str
    dtype: str  # safetensors dtype string: F32, F16, BF16, ...
    shape: tuple[int, ...]
    path: Path
    start: int  # absolute byte offset in the file
    end: int

    @property
    def n_bytes(self) -> int:
        return self.end - self.start


def read_header(path: Path) -> list[TensorRef]:
    """The tensor table of one shard; a truncated, corrupt or lying header raises one sentence.

    The header is read with a bounded read and every entry checked against the file (convert/checks.py)
    before a tensor is read.
    """
    base, header = read_safetensors_header(path)
    return [TensorRef(name, dtype, shape, path, base + start, base + end)
            for name, dtype, shape, start, end in check_tensor_table(path, base, header)]


class LazyTensors:
    """All tensors of a checkpoint, by name, read on demand."""

    def __init__(self, shards: list[Path]) -> None:
        self.refs: dict[str, TensorRef] = {}
        for shard in shards:
            for ref in read_header(shard):
                self.refs[ref.name] = ref

    def __contains__(self, name: str) -> bool:
        return name in self.refs

    def names(self) -> list[str]:
        return list(self.refs)

    def load(self, name: str) -> np.ndarray:
        """The tensor's data as stored (bf16 as uint16 bits), in a fresh array."""
        ref = self.refs[name]
        dtype = _DTYPES[ref.dtype]
        count = ref.n_bytes // dtype.itemsize
        data = np.fromfile(ref.path, dtype=dtype, count=count, offset=ref.start)
        if data.size != count:
            raise ConvertError(f"{ref.path} is truncated: tensor {name} is cut short; copy or save the checkpoint again.")
        return data.reshape(ref.shape)

    def __iter__(self) -> Iterator[TensorRef]:
        return iter(self.refs.values())

    def close(self) -> None:
        """Nothing is held open between reads; kept for symmetry with file-like objects."""


def to_float32(data: np.ndarray, dtype: str) -> np.ndarray:
    """Widen to float32 exactly (bf16 bits shifted into the high half of a float32)."""
    if dtype == "BF16":
        return (data.astype(np.uint32) << 16).view(np.float32)
    return data.astype(np.float32)


def source_precision(tensors: LazyTensors) -> str:
    """The float type most 2-D weights are stored in: 'f32', 'f16' or 'bf16'."""
    counts: dict[str, int] = {}
    for ref in tensors:
        if len(ref.shape) >= 2 and ref.dtype in ("F32", "F16", "BF16"):
            counts[ref.dtype] = counts.get(ref.dtype, 0) + ref.n_bytes
    if not counts:
        return "f32"
    return max(counts, key=lambda k: counts[k]).lower()
