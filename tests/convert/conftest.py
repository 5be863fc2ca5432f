"""Fixtures for the convert tests: tiny random checkpoints (built once per session) and the real
SmolLM2 dequantized into an HF folder (built once into the shared cache, keyed by sha256)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import tiny  # noqa: E402


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """``tiny_checkpoint(arch, tokenizer, tied=True, dtype="float32")`` -> a saved HF folder (cached)."""
    built: dict[tuple, Path] = {}

    def make(arch: str, tokenizer: str, *, tied: bool = True, dtype: str = "float32") -> Path:
        key = (arch, tokenizer, tied, dtype)
        if key not in built:
            folder = tmp_path_factory.mktemp(f"{arch}-{tokenizer}") / "ckpt"
            if tokenizer in ("spm", "spm-json"):
                tok = tiny.gemma_tokenizer(folder, keep_model=tokenizer == "spm")
            elif tokenizer == "llama-spm":
                tok = tiny.llama_spm_tokenizer(folder)
            else:
                tok = tiny.bpe_tokenizer(folder, tokenizer)
            tiny.model(folder, arch, tok, tied=tied, dtype=dtype)
            built[key] = folder
        return built[key]

    return make


@pytest.fixture
def copy_checkpoint(tmp_path: Path) -> Callable[[Path], Path]:
    """A private copy of a checkpoint folder, for tests that damage it."""
    import shutil

    def copy(src: Path) -> Path:
        dst = tmp_path / "copy" / src.name
        shutil.copytree(src, dst)
        return dst

    return copy


@pytest.fixture(scope="session")
def smollm2_hf(smollm2_path: Path, shared_cache: Path) -> Path:
    """The bundled SmolLM2 GGUF as an HF checkpoint (float32), built once into the shared cache."""
    from convert.hf_from_gguf import cached

    return cached(smollm2_path, root=shared_cache)
