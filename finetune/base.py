"""The base model: a store name (resolved to its GGUF by :func:`locate_base`), a GGUF file
(dequantized into torch by transformers), an HF checkpoint folder, or a Hub id (online only). Cheap
checks come first; weights load last.

A GGUF is dequantized once into an HF folder in ``cache_dir`` (keyed by the file's sha256) because
transformers' GGUF loader takes about a minute even for a 270M model and the model it returns
refuses ``save_pretrained``: its weights are copied into a model made ``from_config``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from finetune.errors import FinetuneError
from models.hashing import sha256_file


@dataclass
class BaseSpec:
    given: str  # what the person typed (a store name is kept for provenance)
    kind: str  # gguf, hf or hub
    location: str  # the GGUF file, the folder, or the Hub id
    sha256: str | None = None  # of the GGUF file


def locate_base(value: str | None) -> str | None:
    """A store or bundled name becomes its GGUF path; files, folders and Hub ids pass through (None)."""
    if not value or Path(value).expanduser().exists():
        return None
    if "/" in value and not value.startswith(("/", ".", "~")) and not value.endswith(".gguf"):
        return None  # a Hub id
    from models.resolve import resolve

    return str(resolve(value).path)


def describe(given: str, location: str | None = None) -> BaseSpec:
    """Classify ``location`` (default: ``given``) without loading anything heavy."""
    where = location or given
    path = Path(where).expanduser()
    if path.is_file():
        with open(path, "rb") as fh:
            magic = fh.read(4)
        if magic != b"GGUF":
            raise FinetuneError(f"The base {path} is not a GGUF file; pass a .gguf file, a checkpoint folder or a model name.")
        return BaseSpec(given, "gguf", str(path.resolve()))
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise FinetuneError(
                f"The base folder {path} has no config.json; pass a Hugging Face checkpoint folder (config.json + safetensors)."
            )
        return BaseSpec(given, "hf", str(path.resolve()))
    if where.endswith(".gguf"):
        raise FinetuneError(f"The base file {path} does not exist; pass an existing .gguf file or a model name.")
    parts = where.split("/")
    if len(parts) == 2 and all(parts) and not where.startswith((".", "~", "/")):
        return BaseSpec(given, "hub", where)
    raise FinetuneError(
        f"Unknown base {given!r}; pass a model name from `assistant models list`, a .gguf file, "
        "a checkpoint folder or a Hub id like HuggingFaceTB/SmolLM2-135M."
    )


def local_folder(spec: BaseSpec, cache_dir: Path | None, say: Callable[[str], None] = print) -> Path:
    """An HF folder for the base: as given, downloaded, or dequantized from the GGUF (cached)."""
    if spec.kind == "hf":
        return Path(spec.location)
    if spec.kind == "hub":
        from finetune.hub import download_model

        return Path(download_model(spec.location))
    gguf = Path(spec.location)
    spec.sha256 = spec.sha256 or sha256_file(gguf)
    cache = cache_dir or Path(tempfile.gettempdir()) / "finetune-cache"
    target = cache / f"dequantized-{spec.sha256[:16]}"
    if (target / "config.json").is_file():
        return target
    cache.mkdir(parents=True, exist_ok=True)
    say(f"Dequantizing {gguf.name} to float32 once (about a minute per 300M parameters); cached in {target}")
    tmp = Path(tempfile.mkdtemp(prefix=".dequant-", dir=cache))
    try:
        dequantize_gguf(gguf, tmp)
        if not target.exists():
            os.replace(tmp, target)  # another process may have finished first; keep its copy
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def dequantize_gguf(gguf: Path, out: Path) -> None:
    """GGUF -> float32 HF checkpoint (safetensors, config, tokenizer) in ``out``."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        loaded = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    except (ValueError, KeyError, NotImplementedError) as exc:
        raise FinetuneError(f"transformers cannot dequantize {gguf.name} ({exc}); use an HF checkpoint folder as the base.") from exc
    config = loaded.config
    for attr in ("quantization_config", "_pre_quantization_dtype"):
        if hasattr(config, attr):
            delattr(config, attr)
    config.dtype = torch.float32
    fresh = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    missing, unexpected = fresh.load_state_dict(loaded.state_dict(), strict=False)
    tied = set(getattr(fresh, "_tied_weights_keys", None) or {})
    if unexpected or [k for k in missing if k not in tied and "lm_head" not in k]:
        raise FinetuneError(f"The weights in {gguf.name} do not fit the {type(fresh).__name__} layout; use an HF checkpoint folder.")
    fresh.tie_weights()
    fresh.save_pretrained(out)
    tokenizer.save_pretrained(out)


def load_tokenizer(folder: Path) -> Any:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    if not getattr(tokenizer, "is_fast", False):
        raise FinetuneError(f"The tokenizer in {folder} is not a fast (tokenizers) tokenizer; label masks need offsets.")
    return tokenizer


def count_params(folder: Path) -> tuple[Any, int]:
    """(config, parameter count) from the config alone: the model is built on the meta device."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    try:
        config = AutoConfig.from_pretrained(folder)
        with torch.device("meta"):
            model = AutoModelForCausalLM.from_config(config)
    except (ValueError, KeyError, OSError) as exc:
        raise FinetuneError(f"transformers cannot build a causal LM from {folder}/config.json ({exc}).") from exc
    seen: set[int] = set()
    total = 0
    for p in model.parameters():
        if id(p) not in seen:
            seen.add(id(p))
            total += p.numel()
    return config, total


def load_model(folder: Path, attn_implementation: str, dtype: Any = None) -> Any:
    """The base in ``dtype`` (fp32 unless given: full fine-tuning keeps fp32 master weights)."""
    import torch
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(folder, dtype=dtype or torch.float32, attn_implementation=attn_implementation)
