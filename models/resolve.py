"""Turn what a person typed (a name or a path) into a GGUF file (and, for an adapter model in the
store, its base's GGUF plus the LoRA adapter)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from models import adapters, bundled
from models.errors import AssistantError, BadModelFile, ModelNotFound
from models.manifest import Manifest
from models.store import Store, read_config


@dataclass
class ResolvedModel:
    name: str
    path: Path
    source: str  # "store", "bundled" or "path"
    manifest: Manifest | None = None
    adapter: Path | None = None  # an adapter model: its GGUF LoRA adapter, applied over ``path`` (its base)
    adapter_scale: float = 1.0
    base_name: str | None = None  # an adapter model: the base's name
    base_sha256: str | None = None  # the sha256 of ``path`` where the store knows it

    def lora_args(self, lora: Path | None, scale: float = 1.0) -> dict[str, Any]:
        """``open_llama``'s lora_path / lora_scale: this model's own adapter, or ``--lora`` (checked to fit)."""
        if lora is not None:
            if self.adapter is not None:
                raise AssistantError(f"{self.name} is an adapter model already (over {self.base_name}); pass --lora with "
                                     f"its base instead: `-m {self.base_name} --lora {lora}`.")
            adapters.check_lora(Path(lora), self.path, self.base_sha256)
            return {"lora_path": str(lora), "lora_scale": scale}
        if self.adapter is not None:
            return {"lora_path": str(self.adapter), "lora_scale": self.adapter_scale}
        return {}


def default_model_name() -> str:
    return read_config().get("default_model") or bundled.DEFAULT_MODEL


def looks_like_path(value: str) -> bool:
    return value.endswith(".gguf") or os.sep in value or (os.altsep is not None and os.altsep in value) or value.startswith(".")


def known_names(store: Store | None = None) -> list[str]:
    store = store or Store()
    names = [m.name for m in store.list()]
    return names + [n for n in bundled.BUNDLED if n not in names]


def resolve(name_or_path: str | None = None, store: Store | None = None) -> ResolvedModel:
    """A store name, a bundled name or a path to a .gguf file; the default when ``None``."""
    value = name_or_path or default_model_name()
    store = store or Store()
    if looks_like_path(value) or Path(value).is_file():
        path = Path(value).expanduser()
        if not path.exists():
            raise ModelNotFound(f"{path} does not exist; pass a .gguf file or a model name (`assistant models list`).")
        if path.is_dir():
            raise BadModelFile(f"{path} is a directory, not a .gguf file; convert a checkpoint with `assistant convert`.")
        adapters.refuse_adapter_as_model(path)
        return ResolvedModel(path.stem, path.resolve(), "path")
    if store.has(value):
        model = store.get(value)
        if model.manifest.is_adapter:
            base_name, base_path, base_sha = adapters.find_base(model, store)
            scale = (model.manifest.adapter or {}).get("scale", 1.0)
            return ResolvedModel(value, base_path, "store", model.manifest, adapter=model.gguf_path,
                                 adapter_scale=float(scale) if isinstance(scale, (int, float)) else 1.0,
                                 base_name=base_name, base_sha256=base_sha)
        return ResolvedModel(value, model.gguf_path, "store", model.manifest, base_sha256=model.manifest.sha256 or None)
    if value in bundled.BUNDLED:
        path = bundled.BUNDLED[value].locate()
        known = bundled.GEMMA_SHA256 if path.name == bundled.GEMMA_FILE else None
        return ResolvedModel(value, path, "bundled", base_sha256=known)
    raise ModelNotFound(
        f"Unknown model {value!r}; known models: {', '.join(known_names(store))} (or pass a path to a .gguf file)."
    )
