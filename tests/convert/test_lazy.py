"""The write phase reads one tensor at a time: memory stays near the largest tensor, and data that
needs no conversion is copied bit for bit."""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from convert.safetensors_lazy import LazyTensors, read_header, to_float32


def test_bf16_widens_exactly() -> None:
    values = np.array([1.0, -2.5, 3.140625, 65280.0, 1e-3], dtype=np.float32)
    bits = (values.view(np.uint32) >> 16).astype(np.uint16)
    assert np.array_equal(to_float32(bits, "BF16"), (bits.astype(np.uint32) << 16).view(np.float32))
    assert to_float32(bits, "BF16")[0] == 1.0


def test_header_matches_file(tiny_checkpoint: Callable[..., Path]) -> None:
    from safetensors.numpy import load_file

    path = tiny_checkpoint("qwen2", "qwen2") / "model.safetensors"
    refs = {r.name: r for r in read_header(path)}
    data = load_file(str(path))
    lazy = LazyTensors([path])
    assert set(refs) == set(data)
    for name, array in data.items():
        assert np.array_equal(lazy.load(name), array)


def test_write_memory_is_bounded(tmp_path: Path) -> None:
    """Peak Python-heap growth while writing the tensors stays near the largest tensor (not the model)."""
    import tiny

    from convert.arch import architecture_for
    from convert.metadata import build
    from convert.source import open_checkpoint
    from convert.vocab import load_vocab
    from convert.write import write_gguf

    src = tmp_path / "wide"
    tiny.model(src, "llama", tiny.bpe_tokenizer(src, "llama3"), tied=False, hidden=256, layers=6)
    ckpt = open_checkpoint(str(src))
    arch = architecture_for(ckpt)
    lazy = LazyTensors(ckpt.shards)
    vocab = load_vocab(ckpt.folder, arch.vocab_size)
    md = build(ckpt, "wide", 1, {})
    largest = max(r.n_bytes for r in lazy)
    total = sum(r.n_bytes for r in lazy)
    assert total > 20 * largest  # the bound below means something only if the model is much bigger
    tracemalloc.start()
    try:
        base, _ = tracemalloc.get_traced_memory()
        write_gguf(tmp_path / "m.gguf", arch, lazy, vocab, md, {}, "f16", progress=False)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak - base < 4 * largest, (peak - base, largest, total)


@pytest.mark.parametrize(("dtype", "outtype"), [("bfloat16", "bf16"), ("float32", "f32")])
def test_same_precision_is_bit_exact(tiny_checkpoint: Callable[..., Path], tmp_path: Path, dtype: str, outtype: str) -> None:
    import gguf

    from convert.pipeline import ConvertOptions, convert

    src = tiny_checkpoint("qwen2", "qwen2", dtype=dtype)
    out = tmp_path / "m.gguf"
    convert(ConvertOptions(src=str(src), quant=outtype, out=out, verify=False), log=lambda _: None)
    lazy = LazyTensors([src / "model.safetensors"])
    reader = gguf.GGUFReader(out)
    t = next(t for t in reader.tensors if t.name == "blk.1.ffn_down.weight")
    theirs = lazy.load("model.layers.1.mlp.down_proj.weight")
    assert np.asarray(t.data).tobytes() == theirs.tobytes()
