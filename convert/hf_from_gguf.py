"""An HF checkpoint folder made from a GGUF (transformers dequantizes it): the real model the
tests and the benchmark convert back. Built once into the shared cache, keyed by the GGUF's sha256.

transformers refuses ``save_pretrained`` on a model loaded from a GGUF, so its weights are copied
into a model made from the same config without ``quantization_config``. transformers' GGUF
tokenizer also drops pre-tokenizer steps that the GGUF names only by ``tokenizer.ggml.pre``
(SmolLM's digit split); they are put back, so the folder tokenizes as the original checkpoint did.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from models.gguf_file import read_gguf
from models.hashing import sha256_file
from models.paths import ensure_dir, shared_cache_dir

LAYOUT = "v2"  # bump when the folder's contents change, so caches rebuild


def _restore_pre_tokenizer(tok: object, gguf_pre: str | None) -> None:
    """Put back the pre-tokenizer steps that ``tokenizer.ggml.pre`` implies (SmolLM's digit split)."""
    if gguf_pre != "smollm":
        return
    from tokenizers import pre_tokenizers

    backend = tok.backend_tokenizer  # type: ignore[attr-defined]
    backend.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)]
    )


def build(gguf_path: Path, target: Path, *, dtype: str = "float32") -> Path:
    """Write ``target`` (config, safetensors, tokenizer with its chat template) from ``gguf_path``."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, name = str(gguf_path.parent), gguf_path.name
    tok = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    _restore_pre_tokenizer(tok, read_gguf(gguf_path, vocab=False).metadata.get("tokenizer.ggml.pre"))
    src = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    config = src.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config.name_or_path = gguf_path.stem
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    missing, unexpected = model.load_state_dict(src.state_dict(), strict=False)
    if [k for k in missing if "lm_head" not in k] or unexpected:
        raise RuntimeError(f"weights do not line up: missing {missing[:3]}, unexpected {unexpected[:3]}")
    if getattr(config, "tie_word_embeddings", False):
        model.tie_weights()
    del src
    model = model.to(getattr(torch, dtype))
    tmp = target.with_name(f".{target.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        model.save_pretrained(tmp, safe_serialization=True)
        tok.save_pretrained(tmp)
        shutil.rmtree(target, ignore_errors=True)
        tmp.rename(target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def cached(gguf_path: Path, *, dtype: str = "float32", root: Path | None = None) -> Path:
    """The HF folder for ``gguf_path`` in the shared cache (or ``root``), built on first use."""
    digest = sha256_file(gguf_path)
    target = (root or shared_cache_dir()) / f"hf-{digest[:16]}-{dtype}-{LAYOUT}" / gguf_path.stem
    if (target / "config.json").is_file():
        return target
    ensure_dir(target.parent)
    return build(gguf_path, target, dtype=dtype)
