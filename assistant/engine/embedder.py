"""Embeddings from the loaded GGUF: a second llama.cpp context in embedding mode, opened on first
use beside the chat context (same file, same GPU offload), with the model's own pooling (or the mean)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from assistant.engine.base import ContextTooLong
from models.llama_open import open_llama

EMBED_CTX = 2048  # tokens one input to embed may have


class Embedder:
    def __init__(self, path: Path, *, declared_pooling: Any, trained_context: int, n_gpu_layers: int,
                 verbose: bool = False) -> None:
        self.path = path
        self.declared_pooling = declared_pooling
        self.n_ctx = min(EMBED_CTX, trained_context)
        self.n_gpu_layers = n_gpu_layers
        self.verbose = verbose
        self._llm: Any = None

    def embed(self, texts: list[str], n_threads: int) -> tuple[list[list[float]], int]:
        """L2-normalised vectors and the token count; ``n_threads`` as the chat context last ran on."""
        import llama_cpp

        if self._llm is None:
            declared = self.declared_pooling
            pooling = declared if isinstance(declared, int) and declared > 0 else llama_cpp.LLAMA_POOLING_TYPE_MEAN
            self._llm = open_llama(self.path, n_ctx=self.n_ctx, n_batch=self.n_ctx, n_ubatch=self.n_ctx,
                                   n_threads=n_threads or None, n_gpu_layers=self.n_gpu_layers, embedding=True,
                                   pooling_type=pooling, verbose=self.verbose, purpose="open for embeddings")
        emb = self._llm
        if n_threads:
            llama_cpp.llama_set_n_threads(emb.ctx, n_threads, n_threads)
        counts = [len(emb.tokenize(t.encode("utf-8"))) for t in texts]
        if counts and max(counts) > emb.n_batch:
            raise ContextTooLong(f"An input to embed is {max(counts)} tokens, more than the {emb.n_batch} "
                                 "this server embeds at once; split it.")
        vectors = [list(map(float, emb.embed(t, normalize=True, truncate=False))) for t in texts]
        return vectors, sum(counts)

    def close(self) -> None:
        if self._llm is not None:
            self._llm.close()
            self._llm = None
