from __future__ import annotations

from pathlib import Path

import pytest

from models import bundled
from models.errors import ModelNotFound
from models.hashing import sha256_file
from models.resolve import resolve
from models.store import Store, write_config
from tests.models.gguf_samples import write_tiny_gguf


def test_default_is_the_bundled_smollm2() -> None:
    model = resolve(None)
    assert model.name == "smollm2-135m-instruct" and model.source == "bundled"
    assert model.path.name.endswith(".gguf") and model.path.exists()


def test_gemma_base_is_assembled_once_and_verified(shared_cache: Path) -> None:
    model = resolve("gemma3-270m")
    assert model.path.is_relative_to(shared_cache)
    assert sha256_file(model.path) == bundled.GEMMA_SHA256
    mtime = model.path.stat().st_mtime_ns
    assert resolve("gemma3-270m").path.stat().st_mtime_ns == mtime  # cached, not rebuilt


def test_a_path_resolves_wherever_a_name_does(tmp_path: Path) -> None:
    path = write_tiny_gguf(tmp_path / "mine.gguf")
    model = resolve(str(path))
    assert model.source == "path" and model.path == path.resolve()


def test_missing_path_and_unknown_name() -> None:
    with pytest.raises(ModelNotFound, match="does not exist"):
        resolve("./nowhere/model.gguf")
    with pytest.raises(ModelNotFound, match="smollm2-135m-instruct") as err:
        resolve("no-such-model")
    assert "known models" in str(err.value)


def test_store_names_resolve_and_the_default_can_change(tmp_path: Path) -> None:
    path = write_tiny_gguf(tmp_path / "mine.gguf")
    Store().add("mine", path)
    model = resolve("mine")
    assert model.source == "store" and model.manifest is not None and model.manifest.context_length == 256
    write_config({"default_model": "mine"})
    assert resolve(None).name == "mine"
