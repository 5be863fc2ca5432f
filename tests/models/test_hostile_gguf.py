"""GGUF headers that declare absurd sizes are refused from the header, without allocating them."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from models.errors import BadModelFile
from models.gguf_file import read_gguf
from tests.bounded_cli import run_bounded


def _s(text: str) -> bytes:
    raw = text.encode()
    return struct.pack("<Q", len(raw)) + raw


def header(n_tensors: int, kvs: bytes, n_kv: int) -> bytes:
    return b"GGUF" + struct.pack("<IQQ", 3, n_tensors, n_kv) + kvs


def arch_kv() -> bytes:
    return _s("general.architecture") + struct.pack("<I", 8) + _s("llama")


HOSTILE = {
    # a chat template string claiming 4 GB
    "string_4gb": header(0, arch_kv() + _s("tokenizer.chat_template") + struct.pack("<IQ", 8, 4 << 30) + b"x" * 64, 2),
    # a token list claiming two billion strings
    "array_2g_strings": header(0, arch_kv() + _s("tokenizer.ggml.tokens") + struct.pack("<IIQ", 9, 8, 2 << 30)
                               + _s("a") * 4, 2),
    # a float array claiming 2^40 items
    "array_2p40_floats": header(0, arch_kv() + _s("tokenizer.ggml.scores") + struct.pack("<IIQ", 9, 6, 1 << 40), 2),
    # a million tensors in a 100-byte file
    "tensor_count": header(1_000_000, arch_kv(), 1) + b"\0" * 64,
    # one tensor whose data lies 1 TB past the end
    "tensor_offset": header(1, arch_kv(), 1) + _s("t") + struct.pack("<I", 1) + struct.pack("<Q", 32)
    + struct.pack("<IQ", 0, 1 << 40) + b"\0" * 160,
    # a tensor of 2^60 elements
    "tensor_shape": header(1, arch_kv(), 1) + _s("t") + struct.pack("<I", 2) + struct.pack("<QQ", 1 << 30, 1 << 30)
    + struct.pack("<IQ", 0, 0) + b"\0" * 160,
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_reader_refuses_from_the_header(tmp_path: Path, name: str) -> None:
    evil = tmp_path / f"{name}.gguf"
    evil.write_bytes(HOSTILE[name])
    with pytest.raises(BadModelFile) as info:
        read_gguf(evil)
    assert "\n" not in str(info.value) and str(info.value).endswith(".")


@pytest.mark.parametrize("command", [("models", "show"), ("models", "import"), ("ask", "--model")])
@pytest.mark.parametrize("name", ["string_4gb", "array_2g_strings", "tensor_offset"])
def test_cli_refuses_hostile_gguf(tmp_path: Path, command: tuple[str, ...], name: str) -> None:
    evil = tmp_path / f"{name}.gguf"
    evil.write_bytes(HOSTILE[name])
    args = [*command, str(evil)] + (["hi"] if command[0] == "ask" else [])
    result = run_bounded(*args)
    result.assert_one_line_error()
    assert "corrupt" in result.stderr or "truncated" in result.stderr


@pytest.mark.parametrize("name", ["../../etc/passwd.gguf", "/abs/model.gguf", "a/../../b.gguf", "C:/x.gguf",
                                  "a//b.gguf", "..\\\\up.gguf", "nul\0.gguf"])
def test_pull_refuses_file_names_that_leave_the_store(name: str) -> None:
    from models.errors import AssistantError
    from models.pull import safe_repo_path

    with pytest.raises(AssistantError, match="outside the repository"):
        safe_repo_path(name, "someone/repo")
    assert safe_repo_path("sub/dir/model-Q4_K_M.gguf", "someone/repo") == "sub/dir/model-Q4_K_M.gguf"
