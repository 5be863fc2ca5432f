"""LoRA adapters at load time: an adapter model in the store runs over the base its manifest names by
sha256; an adapter GGUF (``--lora``) must be a LoRA adapter for the model's architecture and shapes
(and, when it names one, the model's sha256); an adapter GGUF is never a model of its own.

Everything here reads GGUF headers (models/gguf_file.py), never tensor data, and imports no llama_cpp.
"""

from __future__ import annotations

import functools
from pathlib import Path

from models import bundled
from models.errors import AssistantError, BadModelFile, ModelNotFound
from models.gguf_file import GGUFInfo, read_gguf
from models.hashing import sha256_file
from models.store import Store, StoredModel

BASE_SHA256_KEY = "assistant.adapter.base_sha256"  # written by `assistant convert --adapter`


def is_adapter_file(path: Path) -> bool:
    """Whether ``path`` is a GGUF whose ``general.type`` is ``adapter`` (False for anything unreadable:
    the loader reports that in its own words)."""
    try:
        return read_gguf(path, vocab=False).metadata.get("general.type") == "adapter"
    except (AssistantError, OSError):
        return False


def refuse_adapter_as_model(path: Path) -> None:
    if is_adapter_file(path):
        raise BadModelFile(f"{path} is a LoRA adapter, not a model; run it over its base model: "
                           f"`-m BASE --lora {path}`.")


@functools.lru_cache(maxsize=16)
def _sha256(path: Path, size: int, mtime: float) -> str:
    return sha256_file(path)


def file_sha256(path: Path) -> str:
    st = path.stat()
    return _sha256(path.resolve(), st.st_size, st.st_mtime)


def find_base(adapter: StoredModel, store: Store) -> tuple[str, Path, str]:
    """(name, GGUF path, sha256) of the base the adapter model was made for; one sentence when it is
    missing or has changed."""
    base = adapter.manifest.base or {}
    name, want = base.get("name"), base.get("sha256")
    if not isinstance(name, str) or not isinstance(want, str) or not want:
        raise BadModelFile(f"{adapter.name} is a LoRA adapter whose manifest names no base; run it over its base "
                           f"model: `-m BASE --lora {adapter.gguf_path}`.")
    found: tuple[str, Path, str] | None = None
    if store.has(name):
        model = store.get(name)
        found = (name, model.gguf_path, model.manifest.sha256)
    elif name in bundled.BUNDLED:
        path = bundled.BUNDLED[name].locate()
        found = (name, path, bundled.GEMMA_SHA256 if path.name == bundled.GEMMA_FILE else file_sha256(path))
    if found is not None and found[2] == want:
        return found
    for model in store.list():  # renamed since: the same file under another name
        if model.manifest.sha256 == want and not model.manifest.is_adapter:
            return model.name, model.gguf_path, want
    if found is not None:
        raise AssistantError(
            f"The adapter {adapter.name} was made for the base {name} with sha256 {want[:12]}..., but {name} is now "
            f"{found[2][:12]}...; convert the adapter again over it (`assistant convert RUN --adapter --base {name}`).")
    raise ModelNotFound(f"The base {name} of the adapter {adapter.name} is not in the store; convert the adapter "
                        "again (`assistant convert RUN --adapter`), which stores its base.")


def check_lora(lora: Path, model_path: Path, model_sha256: str | None) -> None:
    """``lora`` must be a GGUF LoRA adapter that fits the model at ``model_path``."""
    info = read_gguf(lora, vocab=False)
    kind = info.metadata.get("general.type", "model")
    if kind != "adapter" or info.metadata.get("adapter.type", "lora") != "lora":
        raise BadModelFile(f"{lora} is not a LoRA adapter (its general.type is {kind}); pass a GGUF LoRA adapter "
                           "(`assistant convert RUN --adapter` writes one).")
    base = read_gguf(model_path, vocab=False)
    if info.arch != base.arch:
        raise BadModelFile(f"The adapter {lora.name} is for {info.arch} models but {model_path.name} is {base.arch}; "
                           "pass the model it was made for.")
    want = info.metadata.get(BASE_SHA256_KEY)
    if isinstance(want, str) and want and model_sha256 and want != model_sha256:
        raise AssistantError(f"The adapter {lora.name} was made for the base with sha256 {want[:12]}..., not "
                             f"{model_path.name} ({model_sha256[:12]}...); pass that base, or convert the adapter again "
                             "over this model.")
    misfit = _misfit(info, base)
    if misfit:
        raise BadModelFile(f"The adapter {lora.name} does not fit {model_path.name}: {misfit}; pass the model it was "
                           "made for.")


def _misfit(adapter: GGUFInfo, base: GGUFInfo) -> str | None:
    """llama.cpp's own checks (llama-adapter.cpp), as a sentence: each pair over an existing tensor,
    lora_a's inputs and lora_b's outputs the tensor's, one rank."""
    shapes = {t.name: t.shape for t in base.tensors}
    pairs: dict[str, dict[str, tuple[int, ...]]] = {}
    for t in adapter.tensors:
        stem, _, part = t.name.rpartition(".")
        if part in ("lora_a", "lora_b"):
            pairs.setdefault(stem, {})[part] = t.shape
    for stem, pair in pairs.items():
        a, b, w = pair.get("lora_a"), pair.get("lora_b"), shapes.get(stem)
        if w is None:
            return f"it adapts {stem}, which the model lacks"
        if a is None or b is None or len(a) != 2 or len(b) != 2 or len(w) != 2:
            return f"{stem} has no lora_a / lora_b pair"
        if stem == "token_embd.weight":
            continue  # stored transposed; llama.cpp checks it
        if a[0] != w[0] or b[1] != w[1] or a[1] != b[0]:
            return f"{stem} is {list(w)} in the model, lora_a {list(a)} and lora_b {list(b)} in the adapter"
    return None
