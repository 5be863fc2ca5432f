from __future__ import annotations

import struct
from pathlib import Path

import pytest

from models.eot import end_of_generation_tokens
from models.errors import BadModelFile
from models.gguf_file import read_gguf
from tests.models.gguf_samples import write_tiny_gguf


def test_reads_the_bundled_default_model(smollm2_path: Path) -> None:
    info = read_gguf(smollm2_path)
    assert info.arch == "llama"
    assert info.context_length == 8192
    assert info.quant == "Q4_1"
    assert "<|im_start|>" in (info.chat_template or "")
    assert 100e6 < info.n_params < 200e6
    eot = [text for _, text in end_of_generation_tokens(info)]
    assert "<|im_end|>" in eot


def test_tiny_file_round_trip(tmp_path: Path) -> None:
    info = read_gguf(write_tiny_gguf(tmp_path / "t.gguf"))
    assert info.context_length == 256 and len(info.tensors) == 2
    assert info.tokens[:2] == ["<s>", "</s>"]
    assert {t for _, t in end_of_generation_tokens(info)} == {"</s>", "<|im_end|>"}


def test_vocab_can_be_skipped(tmp_path: Path) -> None:
    info = read_gguf(write_tiny_gguf(tmp_path / "t.gguf"), vocab=False)
    assert "tokenizer.ggml.tokens" not in info.metadata and info.context_length == 256


@pytest.mark.parametrize(
    ("make", "needle"),
    [
        (lambda p: p.write_bytes(b""), "is empty"),
        (lambda p: p.write_bytes(b"PK\x03\x04" + b"\0" * 100), "bad magic"),
        (lambda p: p.write_bytes(b"GGUF" + struct.pack("<I", 99) + b"\0" * 40), "version 99"),
        (lambda p: p.write_bytes(b"GGUF" + struct.pack("<I", 3)), "header is incomplete"),
    ],
)
def test_malformed_headers(tmp_path: Path, make, needle: str) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "bad.gguf"
    make(path)
    with pytest.raises(BadModelFile, match=needle):
        read_gguf(path)


def test_truncated_metadata(tmp_path: Path) -> None:
    good = write_tiny_gguf(tmp_path / "t.gguf").read_bytes()
    bad = tmp_path / "cut.gguf"
    bad.write_bytes(good[:60])
    with pytest.raises(BadModelFile, match="truncated"):
        read_gguf(bad)


def test_tensor_data_shorter_than_declared(tmp_path: Path) -> None:
    good = write_tiny_gguf(tmp_path / "t.gguf").read_bytes()
    bad = tmp_path / "short.gguf"
    bad.write_bytes(good[:-40])
    with pytest.raises(BadModelFile, match="tensor data is shorter than declared"):
        read_gguf(bad)


def test_absurd_counts_are_refused_not_allocated(tmp_path: Path) -> None:
    bad = tmp_path / "huge.gguf"
    bad.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 2**40, 1) + b"\0" * 64)
    with pytest.raises(BadModelFile, match="corrupt"):
        read_gguf(bad)
    # a string that claims to be 2**50 bytes long
    bad.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + struct.pack("<Q", 2**50) + b"\0" * 64)
    with pytest.raises(BadModelFile):
        read_gguf(bad)


def test_directory_and_missing_paths(tmp_path: Path) -> None:
    with pytest.raises(BadModelFile, match="directory"):
        read_gguf(tmp_path)
    with pytest.raises(BadModelFile, match="does not exist"):
        read_gguf(tmp_path / "nope.gguf")


def test_random_corruption_never_escapes_as_anything_but_bad_model_file(tmp_path: Path) -> None:
    """Flip bytes and cut tails at random: the reader returns or raises BadModelFile, nothing else."""
    import random

    good = write_tiny_gguf(tmp_path / "t.gguf").read_bytes()
    rng = random.Random(1234)
    path = tmp_path / "fuzz.gguf"
    outcomes = {"ok": 0, "bad": 0}
    for _ in range(400):
        data = bytearray(good)
        for _ in range(rng.randint(1, 6)):
            pos = rng.randrange(4, min(len(data), 400))
            data[pos] = rng.randrange(256)
        if rng.random() < 0.3:
            del data[rng.randrange(8, len(data)) :]
        path.write_bytes(bytes(data))
        try:
            info = read_gguf(path)
            # what the engine and the store read next must not fail on a damaged value either
            _ = (info.context_length, info.quant, info.n_params, info.kv_cache_bytes(512), info.chat_template)
            end_of_generation_tokens(info)
            outcomes["ok"] += 1
        except BadModelFile:
            outcomes["bad"] += 1
    assert outcomes["bad"] > 50  # the corruption is real, and it is always reported the same way
