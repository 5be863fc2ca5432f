"""Turn what a person typed (a name or a path) into a GGUF file."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from models import bundled
from models.errors import BadModelFile, ModelNotFound
from models.manifest import Manifest
from models.store import Store, read_config


@dataclass
class ResolvedModel:
    name: str
    path: Path
    source: str  # "store", "bundled" or "path"
    manifest: Manifest | None = None


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
        return ResolvedModel(path.stem, path.resolve(), "path")
    if store.has(value):
        model = store.get(value)
        return ResolvedModel(value, model.gguf_path, "store", model.manifest)
    if value in bundled.BUNDLED:
        return ResolvedModel(value, bundled.BUNDLED[value].locate(), "bundled")
    raise ModelNotFound(
        f"Unknown model {value!r}; known models: {', '.join(known_names(store))} (or pass a path to a .gguf file)."
    )
