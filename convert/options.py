"""What a conversion is asked to do (``ConvertOptions``) and what it made (``ConvertResult``), plus
the default store name and the ``--template`` file reader that every path shares."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from convert.errors import ConvertError

Log = Callable[[str], None]


@dataclass
class ConvertOptions:
    src: str
    quant: str = "q4_k_m"
    outtype: str | None = None  # None: the checkpoint's own precision
    name: str | None = None
    out: Path | None = None
    verify: bool = True
    template: Path | None = None
    system: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    modelfile: bool = False
    overwrite: bool = False
    progress: bool | None = None
    base: str | None = None  # an adapter's base: a folder, a Hub id in the HF cache, a store name or a .gguf
    adapter: bool = False  # an adapter source: write a GGUF LoRA adapter instead of merging it


@dataclass
class ConvertResult:
    path: Path
    name: str | None
    quant: str
    verify: dict[str, Any] | None
    warnings: list[str]
    modelfile: Path | None = None
    base_name: str | None = None  # an adapter model: the store model it runs over


_GENERIC = re.compile(r"^((epoch|checkpoint|step)[-_]?\d+|final|last|best)$", re.IGNORECASE)


def default_name(src: str, quant: str) -> str:
    """``my-run/epoch-15`` -> ``my-run-epoch-15-q4_k_m``; ``org/Model-1B`` -> ``model-1b-q4_k_m``."""
    path = Path(src.rstrip("/"))
    stem = path.stem if src.endswith(".gguf") else path.name
    if _GENERIC.match(stem) and path.parent.name:
        stem = f"{path.parent.name}-{stem}"
    stem = re.sub(r"[^a-z0-9._-]+", "-", stem.lower()).strip("-._") or "model"
    stem = re.sub(r"-(f16|bf16|f32)$", "", stem)
    return f"{stem}-{quant}"


def read_template(path: Path | None) -> str | None:
    if path is None:
        return None
    try:
        text = Path(path).expanduser().read_text(encoding="utf-8")
    except OSError as exc:
        raise ConvertError(f"Cannot read the --template file {path} ({exc.strerror}); pass a Jinja chat template file.") from exc
    if "{%" not in text and "{{" not in text:
        raise ConvertError(f"{path} does not look like a Jinja chat template (no {{% or {{{{); pass the template file.")
    return text
