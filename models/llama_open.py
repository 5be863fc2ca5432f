"""The one place that constructs ``llama_cpp.Llama``: the chat engine, the server's embedder,
convert's verify and the curation embedder all open GGUF files here, so the options our models
need (flash attention, quiet logging, the error sentence) are set once.

llama_cpp is imported inside the function: `models` stays importable without it.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from models.errors import AssistantError


def open_llama(
    path: Path,
    *,
    n_ctx: int,
    n_threads: int | None = None,
    n_gpu_layers: int = 0,
    n_batch: int | None = None,
    n_ubatch: int | None = None,
    embedding: bool = False,
    pooling_type: int | None = None,
    vocab_only: bool = False,
    logits_all: bool = False,
    lora_path: str | None = None,
    lora_scale: float = 1.0,
    flash_attn: bool = True,
    verbose: bool = False,
    purpose: str = "load",
) -> Any:
    """A ``llama_cpp.Llama`` over ``path``; a file llama.cpp refuses is one AssistantError sentence.

    Flash attention is on by default (llama.cpp's own default, ``auto``, picks it on CPU, Metal and CUDA:
    ~9% faster decoding here; llama-cpp-python turns it off unless asked). ``purpose`` names what
    the caller opens the file for, in the error sentence ("load", "embed", "verify").
    """
    import llama_cpp

    if not verbose:
        logging.getLogger("llama-cpp-python").setLevel(logging.ERROR)
    kwargs: dict[str, Any] = {
        "model_path": str(path),
        "n_ctx": n_ctx,
        "n_batch": n_batch if n_batch is not None else min(512, n_ctx),
        "n_threads": n_threads,
        "n_threads_batch": n_threads,
        "n_gpu_layers": n_gpu_layers,
        "vocab_only": vocab_only,
        "logits_all": logits_all,
        "embedding": embedding,
        "flash_attn": flash_attn,
        "verbose": verbose,
    }
    if n_ubatch is not None:
        kwargs["n_ubatch"] = n_ubatch
    if pooling_type is not None:
        kwargs["pooling_type"] = pooling_type
    if lora_path is not None:
        kwargs["lora_path"] = lora_path
        kwargs["lora_scale"] = lora_scale
    try:
        return llama_cpp.Llama(**kwargs)
    except (ValueError, RuntimeError, OSError) as exc:
        raise AssistantError(
            f"llama.cpp could not {purpose} {path} ({exc}); the file may be damaged or of an architecture "
            "this build does not know (see the log: `assistant doctor`)."
        ) from exc
