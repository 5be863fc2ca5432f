"""The one place that constructs ``llama_cpp.Llama``: the chat engine, the server's embedder,
convert's verify and the curation embedder all open GGUF files here, so the options our models
need (flash attention, quiet logging, the error sentence) are set once.

llama_cpp is imported inside the function: `models` stays importable without it.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from models.errors import AssistantError

# ``Llama`` takes no n_seq_max / kv_unified: while one is constructed here with them, the binding's
# default context parameters carry them (one construction at a time, so no other sees the change).
_OPEN_LOCK = threading.Lock()


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
    n_seq_max: int = 1,
    kv_unified: bool = False,
    verbose: bool = False,
    purpose: str = "load",
) -> Any:
    """A ``llama_cpp.Llama`` over ``path``; a file llama.cpp refuses is one AssistantError sentence.

    Flash attention is on by default (llama.cpp's own default, ``auto``, picks it on CPU, Metal and CUDA:
    ~9% faster decoding here; llama-cpp-python turns it off unless asked). ``purpose`` names what
    the caller opens the file for, in the error sentence ("load", "embed", "verify").

    ``n_seq_max`` sequences share the context (continuous batching: assistant/engine/scheduler.py);
    with ``kv_unified`` they share one KV buffer of ``n_ctx`` cells, else each gets ``n_ctx / n_seq_max``.
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
        with _context_defaults(n_seq_max, kv_unified):
            return llama_cpp.Llama(**kwargs)
    except (ValueError, RuntimeError, OSError) as exc:
        raise AssistantError(
            f"llama.cpp could not {purpose} {path} ({exc}); the file may be damaged or of an architecture "
            "this build does not know (see the log: `assistant doctor`)."
        ) from exc


@contextlib.contextmanager
def _context_defaults(n_seq_max: int, kv_unified: bool) -> Iterator[None]:
    """``llama_context_default_params`` with these two fields while a ``Llama`` is constructed."""
    if n_seq_max == 1 and not kv_unified:
        yield
        return
    import llama_cpp.llama_cpp as lib

    with _OPEN_LOCK:
        original = lib.llama_context_default_params

        def defaults() -> Any:
            params = original()
            params.n_seq_max = n_seq_max
            params.kv_unified = kv_unified
            return params

        lib.llama_context_default_params = defaults
        try:
            yield
        finally:
            lib.llama_context_default_params = original
