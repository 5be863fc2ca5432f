"""What a checkpoint handed to ``convert`` may declare, checked before any weight is read.

A checkpoint folder is input from strangers: a ``config.json`` can claim a billion layers, a
safetensors header can claim more bytes than its file holds, a tokenizer file can be gigabytes.
Everything here looks at file sizes, the config's numbers and the safetensors headers (read with
a bounded read), so a hostile folder is refused in one sentence before anything is allocated for it
and before the conversion writes anything.
"""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path
from typing import Any

from convert.errors import ConvertError

MB = 1024 * 1024

# Files convert (or gguf-py on its behalf) reads whole, by name, and the most each may hold. The
# largest real ones: Gemma 3's tokenizer.json (33 MB), its tokenizer_config.json (1.2 MB) and
# tokenizer.model (4.7 MB); a shard index of a 600B model is a few MB.
FILE_CAPS: dict[str, int] = {
    "config.json": 4 * MB,
    "tokenizer.json": 64 * MB,
    "tokenizer.model": 32 * MB,
    "tokenizer_config.json": 16 * MB,
    "special_tokens_map.json": 16 * MB,
    "added_tokens.json": 16 * MB,
    "vocab.json": 64 * MB,
    "merges.txt": 64 * MB,
    "chat_template.jinja": 1 * MB,
    "chat_template.json": 1 * MB,
    "generation_config.json": 4 * MB,
    "model.safetensors.index.json": 32 * MB,
    "provenance.json": 16 * MB,
    "finetune_config.yaml": 4 * MB,
    "README.md": 16 * MB,
}
TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "tokenizer_config.json", "special_tokens_map.json",
                   "added_tokens.json", "vocab.json", "merges.txt", "chat_template.jinja", "chat_template.json")
OTHER_JSON_CAP = 4 * MB
MAX_JSON_CONTAINERS = 4_000_000

# The most each config.json dimension may be (the largest open models are well inside: Llama 3.1
# 405B has hidden_size 16,384, 126 layers, 128 heads, intermediate_size 53,248; Gemma 3 a 262,144-token
# vocabulary; Llama 4 a 10M-token context).
DIMENSION_CAPS: dict[str, int] = {
    "hidden_size": 65_536,
    "intermediate_size": 1_048_576,
    "num_hidden_layers": 1_024,
    "num_attention_heads": 1_024,
    "num_key_value_heads": 1_024,
    "head_dim": 4_096,
    "vocab_size": 1_048_576,
    "max_position_embeddings": 16_777_216,
}
MAX_VOCAB = DIMENSION_CAPS["vocab_size"]
# The parameters a config implies (a lower bound: embeddings once, attention and the gated MLP) may
# be at most this many times what the .safetensors headers hold.
PARAMS_SLACK = 2

# safetensors: the 8-byte header length is capped below the format's own 100 MB (real headers are
# KBs to a few MB; parsing a JSON header costs several times its size in Python objects).
MAX_HEADER = 16 * MB
MAX_DIMS = 8
DTYPE_SIZES: dict[str, int] = {
    "F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1,
}


def _mb(n: int) -> str:
    return f"{n / MB:,.0f} MB" if n >= MB else f"{n:,} bytes"


def check_file_size(path: Path) -> None:
    """Refuse a file convert would read whole when it is larger than its cap (looked up by name)."""
    cap = FILE_CAPS.get(path.name, OTHER_JSON_CAP)
    try:
        size = path.stat().st_size
    except OSError:
        return  # a missing file is the caller's sentence
    if size > cap:
        raise ConvertError(
            f"{path} is {_mb(size)}, more than the {_mb(cap)} convert reads for a {path.name}; "
            "it is not a real one (a checkpoint's is far smaller): replace it with the file the model was saved with."
        )


def read_json(path: Path, what: str) -> Any:
    """A JSON file of a checkpoint, size-checked first; malformed, deep or huge-number JSON is one sentence.

    Python spends ~25 bytes per byte of ``[{},{},...]``, so the number of objects and arrays is
    bounded too (a real tokenizer.json has about one per merge, under a million).
    """
    check_file_size(path)
    raw = path.read_bytes()
    containers = raw.count(b"{") + raw.count(b"[")
    if containers > MAX_JSON_CONTAINERS:
        raise ConvertError(
            f"{path} holds {containers:,} JSON objects and arrays, more than the {MAX_JSON_CONTAINERS:,} convert "
            f"parses; it is not a real {path.name}: replace it with the file the model was saved with."
        )
    try:
        return json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError, int digit limit
        detail = "nested too deeply" if isinstance(exc, RecursionError) else str(exc).splitlines()[0][:200]
        raise ConvertError(f"{path} is not valid JSON ({detail}); fix the {what} or save the checkpoint again.") from exc


def check_files(folder: Path) -> None:
    """Every tokenizer and side file the conversion reads, by size, before any is opened."""
    for name in FILE_CAPS:
        if name != "config.json":
            check_file_size(folder / name)


def _whole(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    return None


def check_config(config_path: Path, hp: dict[str, Any]) -> dict[str, int]:
    """The config's dimensions, each a positive whole number under its cap; returns those present."""
    dims: dict[str, int] = {}
    for key, cap in DIMENSION_CAPS.items():
        if hp.get(key) is None:
            continue  # a missing key is the architecture's sentence (it names what it needs)
        value = _whole(hp[key])
        if value is None or value < 1:
            shown = json.dumps(hp[key])[:40]
            raise ConvertError(
                f"{config_path} declares {key} {shown}, which is not a positive whole number; "
                "the config is corrupt: save it again with `save_pretrained`."
            )
        if value > cap:
            raise ConvertError(
                f"{config_path} declares {key} {value:,}, more than convert accepts (at most {cap:,}); "
                "the config is corrupt or not this model's: save it again with `save_pretrained`."
            )
        dims[key] = value
    return dims


def implied_parameters(dims: dict[str, int]) -> int | None:
    """A lower bound on the parameters the config describes (None when it lacks a dimension)."""
    need = ("hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "vocab_size")
    if any(k not in dims for k in need):
        return None
    hidden, layers, heads = dims["hidden_size"], dims["num_hidden_layers"], dims["num_attention_heads"]
    kv = dims.get("num_key_value_heads", heads)
    head_dim = dims.get("head_dim", hidden // heads)
    attention = 2 * hidden * heads * head_dim + 2 * hidden * kv * head_dim
    mlp = 3 * hidden * dims["intermediate_size"]
    return dims["vocab_size"] * hidden + layers * (attention + mlp)


def _count(n: int) -> str:
    for unit, size in (("T", 10**12), ("B", 10**9), ("M", 10**6), ("K", 10**3)):
        if n >= size:
            return f"{n / size:,.1f}{unit}"
    return str(n)


def check_parameters(config_path: Path, dims: dict[str, int], present: int) -> None:
    implied = implied_parameters(dims)
    if implied is not None and implied > PARAMS_SLACK * present:
        raise ConvertError(
            f"{config_path} describes a model of at least {_count(implied)} parameters but the .safetensors files "
            f"beside it hold {_count(present)}; the config does not belong to these weights: save the model again with "
            "`save_pretrained`."
        )


def check_shard_name(folder: Path, name: Any) -> Path:
    """A shard named in model.safetensors.index.json: a relative path inside the folder."""
    index = folder / "model.safetensors.index.json"
    if not isinstance(name, str) or not name or "\0" in name:
        raise ConvertError(f"{index} names a shard that is not a file name; download the checkpoint again.")
    parts = Path(name).parts
    if Path(name).is_absolute() or ".." in parts or "\\" in name or (len(name) > 1 and name[1] == ":"):
        raise ConvertError(f"{index} names the shard {name[:80]!r} outside the checkpoint folder; download the checkpoint again.")
    return folder / name


def read_safetensors_header(path: Path) -> tuple[int, dict[str, Any]]:
    """The JSON header of a shard by a bounded read: (data start, header); a lie about its length is one sentence."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            raw = fh.read(8)
            if len(raw) < 8:
                raise ConvertError(f"{path} is truncated (no safetensors header); copy or save the checkpoint again.")
            (n,) = struct.unpack("<Q", raw)
            if n > MAX_HEADER:
                raise ConvertError(
                    f"{path} declares a safetensors header of {_mb(n)}, more than the {_mb(MAX_HEADER)} convert reads; "
                    "it is corrupt or not a safetensors file: copy or save the checkpoint again."
                )
            if 8 + n > size:
                raise ConvertError(
                    f"{path} declares a safetensors header of {n:,} bytes but the file has {size:,}; it is truncated "
                    "or not a safetensors file: copy or save the checkpoint again."
                )
            blob = fh.read(n)
    except PermissionError as exc:
        raise ConvertError(f"{path} cannot be read (permission denied); fix its permissions.") from exc
    try:
        header = json.loads(blob)
    except (ValueError, RecursionError) as exc:
        raise ConvertError(f"{path} has a corrupt safetensors header; copy or save the checkpoint again.") from exc
    if not isinstance(header, dict):
        raise ConvertError(f"{path} has a corrupt safetensors header (not a JSON object); copy or save the checkpoint again.")
    return 8 + n, header


def _corrupt(path: Path, name: str, what: str) -> ConvertError:
    return ConvertError(f"{path} is corrupt: tensor {name[:80]} {what}; copy or save the checkpoint again.")


def check_tensor_table(path: Path, base: int, header: dict[str, Any]) -> list[tuple[str, str, tuple[int, ...], int, int]]:
    """Each tensor's dtype, shape and offsets, against each other and the file: (name, dtype, shape, start, end)."""
    data_size = path.stat().st_size - base
    out = []
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        if not isinstance(entry, dict):
            raise _corrupt(path, name, "has no dtype, shape and offsets")
        dtype = entry.get("dtype")
        if dtype not in DTYPE_SIZES:
            raise ConvertError(
                f"{path}: tensor {name[:80]} has dtype {str(dtype)[:20]}, which convert does not read; "
                "save the checkpoint in float32, float16 or bfloat16."
            )
        shape, offsets = entry.get("shape"), entry.get("data_offsets")
        if not isinstance(shape, list) or len(shape) > MAX_DIMS or any(_whole(d) is None or d < 0 for d in shape):
            raise _corrupt(path, name, f"has the shape {json.dumps(shape)[:60]}")
        if (not isinstance(offsets, list) or len(offsets) != 2 or any(_whole(o) is None for o in offsets)
                or not 0 <= offsets[0] <= offsets[1]):
            raise _corrupt(path, name, f"has the data offsets {json.dumps(offsets)[:60]}")
        dims = tuple(int(d) for d in shape)
        start, end = int(offsets[0]), int(offsets[1])
        if end > data_size:
            raise ConvertError(
                f"{path} is truncated: tensor {name[:80]} ends past the end of the file; copy or save the checkpoint again."
            )
        expected = math.prod(dims) * DTYPE_SIZES[dtype]  # Python ints: a shape of 2^60 elements does not wrap
        if end - start != expected:
            raise ConvertError(f"{path} is corrupt: tensor {name[:80]} has {end - start} bytes for shape {list(dims)}.")
        out.append((name, dtype, dims, start, end))
    spans = sorted((s, e, n) for n, _, _, s, e in out if e > s)
    for (_, prev_end, prev), (start, _, name) in zip(spans, spans[1:]):
        if start < prev_end:
            raise _corrupt(path, name, f"overlaps tensor {prev[:80]}")
    return out


def check_checkpoint(folder: Path, config_path: Path, hp: dict[str, Any], shards: list[Path]) -> None:
    """All of the above for an opened checkpoint: dimensions, file sizes, headers, implied size."""
    dims = check_config(config_path, hp)
    check_files(folder)
    present = 0
    for shard in shards:
        base, header = read_safetensors_header(shard)
        present += sum(math.prod(shape) for _, _, shape, _, _ in check_tensor_table(shard, base, header))
    check_parameters(config_path, dims, present)


def check_token_id(tid: int, where: Path) -> None:
    """A token id in a tokenizer file, before a list that long is allocated."""
    if not 0 <= tid < MAX_VOCAB:
        raise ConvertError(
            f"The tokenizer in {where} has the token id {tid:,}, outside 0..{MAX_VOCAB - 1:,}; "
            "the tokenizer file is corrupt: save the tokenizer again."
        )
