"""Vectors for diversity: embeddings from a local GGUF through llama.cpp (``Llama(embedding=True)``),
or TF-IDF (numpy/scipy, sublinear tf, smoothed idf) when no model is given; rows are L2-normalised
so a dot product is the cosine similarity."""

from __future__ import annotations

import math
from typing import Any

from finetune.curate.pool import Row, words
from models.progress import progress

TEXT_CHARS = 4000


def row_text(row: Row) -> str:
    return (row.prompt + "\n" + "\n".join(row.replies))[:TEXT_CHARS]


def tfidf(rows: list[Row]) -> Any:
    """A CSR matrix, one L2-normalised TF-IDF row per input row."""
    import numpy as np
    from scipy.sparse import csr_matrix

    vocab: dict[str, int] = {}
    indptr: list[int] = [0]
    indices: list[int] = []
    values: list[float] = []
    for row in progress(rows, "tf-idf", len(rows)):
        counts: dict[int, int] = {}
        for w in words(row_text(row)):
            j = vocab.setdefault(w, len(vocab))
            counts[j] = counts.get(j, 0) + 1
        indices += counts.keys()
        values += [1 + math.log(c) for c in counts.values()]
        indptr.append(len(indices))
    m = csr_matrix((np.array(values, dtype=np.float32), np.array(indices, dtype=np.int64), np.array(indptr)),
                   shape=(len(rows), max(len(vocab), 1)))
    df = np.bincount(m.indices, minlength=m.shape[1])
    idf = np.log((1 + len(rows)) / (1 + df)) + 1
    m = m.multiply(idf.astype(np.float32)).tocsr()
    norms = np.sqrt(np.asarray(m.multiply(m).sum(axis=1)).ravel())
    norms[norms == 0] = 1
    from scipy.sparse import diags

    return (diags(1 / norms) @ m).tocsr()


def gguf_embeddings(model: str, rows: list[Row], n_ctx: int = 512, threads: int | None = None) -> Any:
    """An (n, d) array of L2-normalised embeddings (mean-pooled when the model gives one per token)."""
    import numpy as np

    from models.llama_open import open_llama
    from models.resolve import resolve

    path = resolve(model).path
    llm = open_llama(path, n_ctx=n_ctx, n_batch=n_ctx, n_ubatch=n_ctx, n_threads=threads, embedding=True,
                     flash_attn=False, purpose="embed")
    try:
        out = []
        for row in progress(rows, f"embed ({path.name})", len(rows)):
            vec = np.asarray(llm.embed(row_text(row), truncate=True), dtype=np.float32)
            if vec.ndim == 2:
                vec = vec.mean(axis=0)
            out.append(vec / (np.linalg.norm(vec) or 1.0))
    finally:
        llm.close()
    return np.stack(out) if out else np.zeros((0, 1), dtype=np.float32)
