"""A bounded, defensive GGUF header reader.

It reads the metadata and tensor table of a GGUF file and checks that the tensor data the table
declares is really there, so a corrupt or truncated file is reported in one sentence instead of
crashing (or hanging) llama.cpp. It never reads tensor data.
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from models.errors import BadModelFile

GGUF_MAGIC = b"GGUF"
SUPPORTED_VERSIONS = (2, 3)
MAX_STRING = 64 * 1024 * 1024  # a chat template or token is never bigger than this
MAX_COUNT = 1 << 32

# GGUF value types
_SCALARS: dict[int, str] = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_STRING, _ARRAY = 8, 9

TOKEN_TYPE_CONTROL = 3


@dataclass
class TensorEntry:
    name: str
    shape: tuple[int, ...]
    ggml_type: int
    offset: int
    n_bytes: int


@dataclass
class GGUFInfo:
    path: Path
    version: int
    metadata: dict[str, Any]
    tensors: list[TensorEntry] = field(default_factory=list)
    file_size: int = 0

    # convenience accessors --------------------------------------------------------------
    @property
    def arch(self) -> str:
        return str(self.metadata.get("general.architecture", "unknown"))

    def arch_key(self, key: str, default: Any = None) -> Any:
        return self.metadata.get(f"{self.arch}.{key}", default)

    @property
    def context_length(self) -> int:
        return _as_int(self.arch_key("context_length"), 2048)

    @property
    def chat_template(self) -> str | None:
        value = self.metadata.get("tokenizer.chat_template")
        return value if isinstance(value, str) and value else None

    @property
    def tokens(self) -> list[str]:
        value = self.metadata.get("tokenizer.ggml.tokens", [])
        return [str(t) for t in value] if isinstance(value, list) else []

    @property
    def token_types(self) -> list[int]:
        value = self.metadata.get("tokenizer.ggml.token_type", [])
        return [t for t in value if isinstance(t, int)] if isinstance(value, list) else []

    @property
    def n_params(self) -> int:
        total = 0
        for t in self.tensors:
            n = 1
            for d in t.shape:
                n *= d
            total += n
        return total

    @property
    def quant(self) -> str:
        file_type = self.metadata.get("general.file_type")
        if file_type is None:
            return "unknown"
        try:
            from gguf.constants import LlamaFileType

            return LlamaFileType(int(file_type)).name.removeprefix("MOSTLY_").upper()
        except (ValueError, ImportError):
            return f"type{file_type}"

    def kv_cache_bytes(self, n_ctx: int, bytes_per_value: int = 2) -> int:
        """K and V for every layer at ``n_ctx`` positions (f16 cache by default)."""
        n_layer = _as_int(self.arch_key("block_count"), 0)
        n_embd = _as_int(self.arch_key("embedding_length"), 0)
        n_head = max(_as_int(self.arch_key("attention.head_count"), 1), 1)
        raw_kv = self.arch_key("attention.head_count_kv", n_head)
        if isinstance(raw_kv, list):  # per-layer list in some architectures
            raw_kv = max(raw_kv) if raw_kv else n_head
        n_head_kv = _as_int(raw_kv, n_head)
        head_k = _as_int(self.arch_key("attention.key_length"), n_embd // n_head)
        head_v = _as_int(self.arch_key("attention.value_length"), n_embd // n_head)
        return n_layer * n_ctx * n_head_kv * (head_k + head_v) * bytes_per_value


def _as_int(value: Any, default: int) -> int:
    """A metadata number, or ``default`` when it is missing or not a number (a damaged file)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return default
    return int(value)


class _Cursor:
    def __init__(self, buf: mmap.mmap | bytes, path: Path) -> None:
        self.buf = buf
        self.pos = 0
        self.path = path

    def need(self, n: int, what: str) -> None:
        if n < 0 or self.pos + n > len(self.buf):
            raise BadModelFile(
                f"{self.path} is truncated: its {what} ends past the end of the file; download or convert it again."
            )

    def check_count(self, count: int, item_type: int, what: str) -> None:
        """An array may not claim more items than the bytes left in the file could hold: refused
        from the header, before a list of that length is built."""
        smallest = struct.calcsize(_SCALARS[item_type]) if item_type in _SCALARS else 8 if item_type == _STRING else 12
        if count > MAX_COUNT or count * smallest > len(self.buf) - self.pos:
            raise BadModelFile(
                f"{self.path} is corrupt: the array {what} claims {count:,} items, more than its "
                f"{len(self.buf):,}-byte file can hold; download or convert it again."
            )

    def scalar(self, fmt: str, what: str) -> Any:
        size = struct.calcsize(fmt)
        self.need(size, what)
        (value,) = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += size
        return value

    def string(self, what: str) -> str:
        n = self.scalar("<Q", what)
        if n > MAX_STRING or n > len(self.buf) - self.pos:
            raise BadModelFile(
                f"{self.path} is corrupt: a string in its {what} claims {n:,} bytes, more than the file holds; "
                "download or convert it again."
            )
        self.need(n, what)
        raw = bytes(self.buf[self.pos : self.pos + n])
        self.pos += n
        return raw.decode("utf-8", errors="replace")

    def value(self, vtype: int, what: str) -> Any:
        if vtype in _SCALARS:
            return self.scalar(_SCALARS[vtype], what)
        if vtype == _STRING:
            return self.string(what)
        if vtype == _ARRAY:
            item_type = self.scalar("<I", what)
            count = self.scalar("<Q", what)
            self.check_count(count, item_type, what)
            if item_type in _SCALARS:
                import numpy as np

                fmt = _SCALARS[item_type]
                size = struct.calcsize(fmt) * count
                self.need(size, what)
                arr = np.frombuffer(self.buf, dtype=np.dtype(fmt), count=count, offset=self.pos)
                self.pos += size
                return arr.tolist()
            if item_type == _STRING:
                return [self.string(what) for _ in range(count)]
            if item_type == _ARRAY:
                return [self.value(_ARRAY, what) for _ in range(count)]
            raise BadModelFile(f"{self.path} is corrupt: unknown value type {item_type} in {what}.")
        raise BadModelFile(f"{self.path} is corrupt: unknown value type {vtype} in {what}.")


def _tensor_bytes(ggml_type: int, shape: tuple[int, ...], path: Path, name: str) -> int:
    from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType

    try:
        block, size = GGML_QUANT_SIZES[GGMLQuantizationType(ggml_type)]
    except (ValueError, KeyError) as exc:
        raise BadModelFile(
            f"{path} uses tensor type {ggml_type} for {name}, which this gguf library does not know; "
            "upgrade the assistant or re-convert the model."
        ) from exc
    n = 1
    for d in shape:
        n *= d
    if n % block:
        raise BadModelFile(f"{path} is corrupt: tensor {name} has {n} elements, not a multiple of its block {block}.")
    return n // block * size


def read_gguf(path: str | Path, *, vocab: bool = True) -> GGUFInfo:
    """Parse and validate ``path``. Raises :class:`BadModelFile` with one sentence on any defect.

    With ``vocab=False`` the token arrays are skipped over (faster for large vocabularies).
    """
    p = Path(path)
    if not p.exists():
        raise BadModelFile(f"{p} does not exist; check the path.")
    if p.is_dir():
        raise BadModelFile(f"{p} is a directory, not a .gguf file.")
    size = p.stat().st_size
    if size == 0:
        raise BadModelFile(f"{p} is empty (0 bytes); download or convert it again.")
    try:
        with open(p, "rb") as fh:
            if size < 24:
                head = fh.read()
                if head[:4] != GGUF_MAGIC:
                    raise BadModelFile(f"{p} is not a GGUF file (bad magic {head[:4]!r}); pass a .gguf model.")
                raise BadModelFile(f"{p} is truncated: the GGUF header is incomplete; download or convert it again.")
            with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as buf:
                return _parse(buf, p, size, vocab)
    except PermissionError as exc:
        raise BadModelFile(f"{p} cannot be read (permission denied); fix its permissions.") from exc


def _parse(buf: mmap.mmap, path: Path, size: int, vocab: bool) -> GGUFInfo:
    cur = _Cursor(buf, path)
    magic = bytes(buf[:4])
    if magic != GGUF_MAGIC:
        raise BadModelFile(f"{path} is not a GGUF file (bad magic {magic!r}); pass a .gguf model.")
    cur.pos = 4
    version = cur.scalar("<I", "header")
    if version not in SUPPORTED_VERSIONS:
        raise BadModelFile(
            f"{path} is GGUF version {version}; only versions {', '.join(map(str, SUPPORTED_VERSIONS))} are supported."
        )
    n_tensors = cur.scalar("<Q", "header")
    n_kv = cur.scalar("<Q", "header")
    if n_tensors > 1_000_000 or n_kv > 1_000_000 or n_kv * 12 + n_tensors * 24 > size - cur.pos:
        raise BadModelFile(f"{path} is corrupt: its header claims {n_tensors} tensors and {n_kv} metadata keys.")
    metadata: dict[str, Any] = {}
    for _ in range(n_kv):
        key = cur.string("metadata")
        vtype = cur.scalar("<I", f"metadata key {key}")
        if not vocab and key in ("tokenizer.ggml.tokens", "tokenizer.ggml.merges", "tokenizer.ggml.scores", "tokenizer.ggml.token_type"):
            _skip(cur, vtype, key)
            continue
        metadata[key] = cur.value(vtype, f"metadata key {key}")
    tensors: list[TensorEntry] = []
    for _ in range(n_tensors):
        name = cur.string("tensor table")
        n_dims = cur.scalar("<I", "tensor table")
        if n_dims > 8:
            raise BadModelFile(f"{path} is corrupt: tensor {name} claims {n_dims} dimensions.")
        shape = tuple(cur.scalar("<Q", "tensor table") for _ in range(n_dims))
        ggml_type = cur.scalar("<I", "tensor table")
        offset = cur.scalar("<Q", "tensor table")
        tensors.append(TensorEntry(name, shape, ggml_type, offset, _tensor_bytes(ggml_type, shape, path, name)))
    alignment = _as_int(metadata.get("general.alignment", 32), 32) or 32
    if alignment < 0 or alignment > 1 << 20 or alignment & (alignment - 1):
        raise BadModelFile(f"{path} is corrupt: its alignment {alignment} is not a power of two up to 1 MB.")
    data_start = (cur.pos + alignment - 1) // alignment * alignment
    for t in tensors:
        if t.offset > size or t.n_bytes > size:
            raise BadModelFile(
                f"{path} is corrupt: tensor {t.name} lies past the end of the file (offset {t.offset:,}, "
                f"{t.n_bytes:,} bytes, file {size:,} bytes); download or convert it again."
            )
        end = data_start + t.offset + t.n_bytes
        if end > size:
            raise BadModelFile(
                f"{path} is truncated: tensor data is shorter than declared ({size} of {end} bytes); "
                "download or convert it again."
            )
    return GGUFInfo(path=path, version=version, metadata=metadata, tensors=tensors, file_size=size)


def _skip(cur: _Cursor, vtype: int, what: str) -> None:
    if vtype == _ARRAY:
        item_type = cur.scalar("<I", what)
        count = cur.scalar("<Q", what)
        cur.check_count(count, item_type, what)
        if item_type in _SCALARS:
            n = struct.calcsize(_SCALARS[item_type]) * count
            cur.need(n, what)
            cur.pos += n
            return
        for _ in range(count):
            _skip(cur, item_type, what)
        return
    if vtype == _STRING:
        n = cur.scalar("<Q", what)
        if n > MAX_STRING:
            raise BadModelFile(f"{cur.path} is corrupt: a string in its {what} claims {n:,} bytes; download or convert it again.")
        cur.need(n, what)
        cur.pos += n
        return
    cur.value(vtype, what)
