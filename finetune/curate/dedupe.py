"""Duplicates: exact ones on normalised text (the whole conversation, case and whitespace folded),
and near-duplicate prompts with MinHash LSH (``datasketch``) on word shingles of the normalised
user turns (punctuation dropped). Rows are taken in file order; the first of each group is kept
and every later one names the line it duplicates."""

from __future__ import annotations

import hashlib
import zlib
from dataclasses import dataclass, field
from typing import Any

from finetune.curate.pool import Row, normalise, words
from models.progress import progress

THRESHOLD = 0.7  # Jaccard similarity of the prompts' shingle sets (LSH finds candidates, the sets decide)
SHINGLE = 1  # words per shingle
NUM_PERM = 128


@dataclass
class Duplicates:
    exact: dict[int, int] = field(default_factory=dict)  # line -> the line it repeats
    near: dict[int, tuple[int, float]] = field(default_factory=dict)  # line -> (line, Jaccard of the shingles)

    def reason(self, line: int) -> str | None:
        if line in self.exact:
            return f"exact duplicate of line {self.exact[line]}"
        if line in self.near:
            other, sim = self.near[line]
            return f"near-duplicate prompt of line {other} (similarity {sim:.2f})"
        return None

    def groups(self) -> tuple[dict[int, list[int]], dict[int, list[int]]]:
        """(exact, near): the kept line -> the lines that repeat it."""
        out: tuple[dict[int, list[int]], dict[int, list[int]]] = ({}, {})
        for line, first in self.exact.items():
            out[0].setdefault(first, []).append(line)
        for line, (first, _) in self.near.items():
            out[1].setdefault(first, []).append(line)
        return out


def exact_key(row: Row) -> str:
    assert row.example is not None
    text = "\x1e".join(f"{t.role}\x1f{normalise(t.content)}" for t in row.example.turns)
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def shingles(text: str, size: int = SHINGLE) -> set[bytes]:
    w = words(text)
    if len(w) <= size:
        return {" ".join(w).encode("utf-8")} if w else set()
    return {" ".join(w[i:i + size]).encode("utf-8") for i in range(len(w) - size + 1)}


def _hashes(text: str, size: int) -> Any:
    import numpy as np

    sh = shingles(text, size)
    return np.unique(np.fromiter((zlib.crc32(x) for x in sh), dtype=np.uint64, count=len(sh)))


def signatures(sets: list[Any], num_perm: int, chunk: int = 1 << 16) -> tuple[Any, Any]:
    """MinHash signatures of many rows at once (datasketch's "legacy" permutations, in numpy):
    (rows x num_perm array, the permutations)."""
    import numpy as np
    from datasketch import MinHash

    perms = MinHash(num_perm=num_perm, seed=1, scheme="legacy").permutations
    a, b = perms
    prime, max_hash = np.uint64((1 << 61) - 1), np.uint64((1 << 32) - 1)
    sigs = np.full((len(sets), num_perm), max_hash, dtype=np.uint64)
    i = 0
    while i < len(sets):
        j, total = i, 0
        while j < len(sets) and (total == 0 or total + len(sets[j]) <= chunk):
            total += len(sets[j])
            j += 1
        block = [k for k in range(i, j) if len(sets[k])]
        if block:
            flat = np.concatenate([sets[k] for k in block])
            starts = np.cumsum([0] + [len(sets[k]) for k in block[:-1]])
            with np.errstate(over="ignore"):
                phv = np.bitwise_and((flat[:, None] * a + b) % prime, max_hash)
            sigs[block] = np.minimum.reduceat(phv, starts, axis=0)
        i = j
    return sigs, perms


def find_duplicates(rows: list[Row], *, near: bool = True, threshold: float = THRESHOLD,
                    shingle: int = SHINGLE, num_perm: int = NUM_PERM) -> Duplicates:
    """Exact duplicates first, then near-duplicate prompts among what is left (good rows only)."""
    import numpy as np
    from datasketch import MinHash, MinHashLSH

    if not 0 < threshold <= 1:
        raise ValueError("threshold must be in (0, 1]")
    dup = Duplicates()
    seen: dict[str, int] = {}
    left: list[Row] = []
    for row in progress(rows, "exact duplicates", len(rows)):
        if not row.ok:
            continue
        key = exact_key(row)
        if key in seen:
            dup.exact[row.line] = seen[key]
        else:
            seen[key] = row.line
            left.append(row)
    if not near:
        return dup
    sets = [_hashes(row.prompt, shingle) for row in progress(left, "shingles", len(left))]
    sigs, perms = signatures(sets, num_perm)
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    kept: dict[int, Any] = {}  # line -> sorted shingle hashes, for the exact Jaccard of each candidate
    for i, row in enumerate(progress(left, "near-duplicate prompts", len(left))):
        hashes = sets[i]
        if not len(hashes):
            continue
        m = MinHash(num_perm=num_perm, seed=1, hashvalues=sigs[i], permutations=perms, scheme="legacy")
        best: tuple[float, int] | None = None
        for other in lsh.query(m):
            both = len(np.intersect1d(hashes, kept[other], assume_unique=True))
            sim = both / (len(hashes) + len(kept[other]) - both)
            if sim >= threshold and (best is None or (sim, -other) > (best[0], -best[1])):
                best = (sim, other)
        if best is not None:
            dup.near[row.line] = (best[1], best[0])
        else:
            lsh.insert(row.line, m)
            kept[row.line] = hashes
    return dup
