"""Checkpoints that declare big things are refused before a weight is read, and nothing is written.

Each hostile input is a copy of a tiny checkpoint with one thing made to lie: a config.json with
impossible dimensions, a safetensors header that lies about its length or its tensors, a tokenizer
file of gigabytes (a sparse file: it costs no disk). The real CLI runs on it in a subprocess under a
memory limit (tests/bounded_cli.py): one sentence naming the file, a non-zero exit, no traceback,
under 1.5 GB and 10 s of CPU, and no GGUF, work folder or store entry left behind.
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from models.paths import models_dir
from tests.bounded_cli import run_bounded

GB = 1 << 30


def _config(src: Path, **changes: Any) -> None:
    path = src / "config.json"
    cfg = json.loads(path.read_text())
    cfg.update(changes)
    path.write_text(json.dumps(cfg))


def _header(path: Path) -> tuple[dict[str, Any], bytes]:
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    return json.loads(raw[8:8 + n]), raw[8 + n:]


def _write_shard(path: Path, header: Any, data: bytes, length: int | None = None) -> None:
    blob = json.dumps(header).encode() if not isinstance(header, bytes) else header
    path.write_bytes(struct.pack("<Q", len(blob) if length is None else length) + blob + data)


def _tensor(header: dict[str, Any], suffix: str = "embed_tokens.weight") -> dict[str, Any]:
    return next(v for k, v in header.items() if k.endswith(suffix))


def _sparse(path: Path, size: int) -> None:
    with open(path, "r+b" if path.exists() else "wb") as fh:
        fh.truncate(size)


# --- config.json ------------------------------------------------------------------------------------

def hidden_1e9(src: Path) -> None:
    _config(src, hidden_size=10**9)


def layers_1e6(src: Path) -> None:
    _config(src, num_hidden_layers=10**6)


def vocab_negative(src: Path) -> None:
    _config(src, vocab_size=-5)


def vocab_1e12(src: Path) -> None:
    _config(src, vocab_size=10**12)


def heads_not_a_number(src: Path) -> None:
    _config(src, num_attention_heads="lots")


def llama70b_config_on_tiny_weights(src: Path) -> None:
    # every number under its cap, but 70B parameters implied by a folder that holds ~100K
    _config(src, hidden_size=8192, intermediate_size=28672, num_hidden_layers=80, num_attention_heads=64,
            num_key_value_heads=8, head_dim=128, vocab_size=128256)


def config_2gb(src: Path) -> None:
    _sparse(src / "config.json", 2 * GB)


# --- safetensors headers ----------------------------------------------------------------------------

def header_length_1tb(src: Path) -> None:
    header, data = _header(src / "model.safetensors")
    _write_shard(src / "model.safetensors", header, data, length=1 << 40)


def header_length_past_file(src: Path) -> None:
    # 8 MB claimed (under the cap) by a file of a few hundred KB
    header, data = _header(src / "model.safetensors")
    _write_shard(src / "model.safetensors", header, data, length=8 << 20)


def offsets_past_end(src: Path) -> None:
    header, data = _header(src / "model.safetensors")
    t = _tensor(header)
    t["data_offsets"] = [t["data_offsets"][0] + (1 << 40), t["data_offsets"][1] + (1 << 40)]
    _write_shard(src / "model.safetensors", header, data)


def offsets_overlap(src: Path) -> None:
    header, data = _header(src / "model.safetensors")
    norms = [v for k, v in header.items() if k.endswith("layernorm.weight")]
    norms[1]["data_offsets"] = list(norms[0]["data_offsets"])
    _write_shard(src / "model.safetensors", header, data)


def shape_mismatch(src: Path) -> None:
    header, data = _header(src / "model.safetensors")
    t = _tensor(header)
    t["shape"] = [t["shape"][0] * 1000, t["shape"][1]]
    _write_shard(src / "model.safetensors", header, data)


def shape_wraps_int64(src: Path) -> None:
    # 2^64 elements: a product in int64 wraps to 0, which would match empty offsets
    header, data = _header(src / "model.safetensors")
    t = _tensor(header)
    t["shape"], t["data_offsets"] = [1 << 32, 1 << 32], [0, 0]
    _write_shard(src / "model.safetensors", header, data)


def dtype_unknown(src: Path) -> None:
    header, data = _header(src / "model.safetensors")
    _tensor(header)["dtype"] = "F128"
    _write_shard(src / "model.safetensors", header, data)


def header_nested(src: Path) -> None:
    _, data = _header(src / "model.safetensors")
    _write_shard(src / "model.safetensors", b"[" * 200_000 + b"]" * 200_000, data)


def index_leaves_folder(src: Path) -> None:
    header, _ = _header(src / "model.safetensors")
    (src / "model.safetensors.index.json").write_text(json.dumps(
        {"weight_map": {name: "../../outside.safetensors" for name in header if name != "__metadata__"}}))


# --- tokenizer files --------------------------------------------------------------------------------

def tokenizer_json_3gb(src: Path) -> None:
    _sparse(src / "tokenizer.json", 3 * GB)


def tokenizer_model_2gb(src: Path) -> None:
    _sparse(src / "tokenizer.model", 2 * GB)


def tokenizer_config_1gb(src: Path) -> None:
    _sparse(src / "tokenizer_config.json", 1 * GB)


def tokenizer_model_garbage(src: Path) -> None:
    (src / "tokenizer.json").unlink()
    (src / "tokenizer.model").write_bytes(bytes(range(256)) * 64)


def tokenizer_json_of_empty_objects(src: Path) -> None:
    # 13 MB, under the size cap, but 4.4M empty objects would cost Python ~25 bytes per byte
    (src / "tokenizer.json").write_bytes(b'{"model": [' + b"{}," * 4_400_000 + b"{}]}")


def token_id_1e12(src: Path) -> None:
    tj = json.loads((src / "tokenizer.json").read_text())
    tj["model"]["vocab"]["zzz-hostile"] = 10**12
    (src / "tokenizer.json").write_text(json.dumps(tj))


# name -> (damage, the file the sentence names, words it contains)
CASES: dict[str, tuple[Callable[[Path], None], str, str]] = {
    "hidden_1e9": (hidden_1e9, "config.json", "hidden_size 1,000,000,000, more than convert accepts"),
    "layers_1e6": (layers_1e6, "config.json", "num_hidden_layers 1,000,000"),
    "vocab_negative": (vocab_negative, "config.json", "vocab_size -5, which is not a positive whole number"),
    "vocab_1e12": (vocab_1e12, "config.json", "vocab_size 1,000,000,000,000"),
    "heads_not_a_number": (heads_not_a_number, "config.json", "num_attention_heads \"lots\""),
    "llama70b_config_on_tiny_weights": (llama70b_config_on_tiny_weights, "config.json", "at least 69.5B parameters"),
    "config_2gb": (config_2gb, "config.json", "2,048 MB, more than the 4 MB"),
    "header_length_1tb": (header_length_1tb, "model.safetensors", "header of 1,048,576 MB, more than the 16 MB"),
    "header_length_past_file": (header_length_past_file, "model.safetensors", "header of 8,388,608 bytes but the file"),
    "offsets_past_end": (offsets_past_end, "model.safetensors", "ends past the end of the file"),
    "offsets_overlap": (offsets_overlap, "model.safetensors", "overlaps tensor"),
    "shape_mismatch": (shape_mismatch, "model.safetensors", "bytes for shape"),
    "shape_wraps_int64": (shape_wraps_int64, "model.safetensors", "has 0 bytes for shape [4294967296, 4294967296]"),
    "dtype_unknown": (dtype_unknown, "model.safetensors", "dtype F128, which convert does not read"),
    "header_nested": (header_nested, "model.safetensors", "corrupt safetensors header"),
    "index_leaves_folder": (index_leaves_folder, "model.safetensors.index.json", "outside the checkpoint folder"),
    "tokenizer_json_3gb": (tokenizer_json_3gb, "tokenizer.json", "3,072 MB, more than the 64 MB"),
    "tokenizer_model_2gb": (tokenizer_model_2gb, "tokenizer.model", "2,048 MB, more than the 32 MB"),
    "tokenizer_config_1gb": (tokenizer_config_1gb, "tokenizer_config.json", "1,024 MB, more than the 16 MB"),
    "tokenizer_model_garbage": (tokenizer_model_garbage, "tokenizer.model", "is not a SentencePiece model"),
    "tokenizer_json_of_empty_objects": (tokenizer_json_of_empty_objects, "tokenizer.json",
                                        "4,400,003 JSON objects and arrays, more than the 4,000,000"),
    "token_id_1e12": (token_id_1e12, "ckpt", "token id 1,000,000,000,000"),
}


def _written(home: Path, out_dir: Path) -> list[str]:
    """GGUFs, work folders and store entries anywhere under the data folder or beside --out."""
    found = []
    for root in (home, out_dir):
        if not root.exists():
            continue
        for p in root.rglob("*"):
            if p.suffix == ".gguf" or p.name.startswith(".convert-") or p.name == "manifest.json":
                found.append(str(p.relative_to(root)))
    models = models_dir()
    if models.exists():
        found += [f"store: {p.name}" for p in models.iterdir()]
    return found


@pytest.fixture
def tiny_llama(tiny_checkpoint: Callable[..., Path], copy_checkpoint: Callable[[Path], Path]) -> Path:
    return copy_checkpoint(tiny_checkpoint("llama", "smollm"))


# every case into the store; one of each kind with --out FILE as well
RUNS = [(case, "store") for case in sorted(CASES)] + [
    (case, "out") for case in ("vocab_1e12", "header_length_1tb", "tokenizer_json_3gb", "token_id_1e12")]


@pytest.mark.parametrize(("case", "dest"), RUNS)
def test_cli_refuses_hostile_checkpoint(case: str, dest: str, tiny_llama: Path, assistant_home: Path,
                                        tmp_path: Path) -> None:
    damage, file_name, words = CASES[case]
    damage(tiny_llama)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    args = ["convert", str(tiny_llama), "--no-verify"]
    args += ["--name", "hostile"] if dest == "store" else ["--out", str(out_dir / "m.gguf")]
    result = run_bounded(*args)
    result.assert_one_line_error()
    assert words in result.stderr, result.stderr
    assert file_name in result.stderr and result.stderr.strip().endswith("."), result.stderr
    assert _written(assistant_home, out_dir) == []


def test_cli_converts_the_undamaged_checkpoint_under_the_same_bounds(tiny_llama: Path, assistant_home: Path) -> None:
    """The control: the same tiny folder, unchanged, converts under the limit the hostile ones run under."""
    result = run_bounded("convert", str(tiny_llama), "--no-verify", "--quant", "q8_0", "--name", "fine")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Stored as 'fine'" in result.stdout + result.stderr
    assert [p.name for p in models_dir().iterdir()] == ["fine"]
    assert any(p.suffix == ".gguf" for p in assistant_home.rglob("*"))  # what _written looks for is there


def test_sparse_files_are_really_sparse(tmp_path: Path) -> None:
    """The gigabyte tokenizers above cost no disk (so the suite can build them anywhere)."""
    path = tmp_path / "tokenizer.json"
    _sparse(path, 3 * GB)
    assert path.stat().st_size == 3 * GB and os.stat(path).st_blocks * 512 < 1 << 20
