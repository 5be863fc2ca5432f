"""Ranking the rows that survive: ``longest`` (the longest replies, "Long Is More for Alignment"),
``quality`` (a judge's 1-5 score at or over a threshold, best first, AlpaGasus-style),
``diverse`` (greedy max-min: start from the longest reply, then always take the row whose nearest
chosen row is farthest, DEITA-style, optionally stopping under a distance), and ``random``
(seeded). ``balance="source"`` gives each source a quota in proportion to its share of the
candidates and ranks within each source."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from finetune.curate.pool import Row
from models.progress import progress

METHODS = ("longest", "quality", "diverse", "random")

Chosen = tuple[list[Row], dict[int, str]]  # (chosen rows, line -> why not chosen)


def longest(rows: list[Row], n: int) -> Chosen:
    order = sorted(rows, key=lambda r: (-r.reply_chars, r.line))
    cut = order[n - 1].reply_chars if len(order) >= n else 0
    return order[:n], {r.line: f"not among the {n} longest replies ({r.reply_chars} < {cut} characters)"
                       for r in order[n:]}


def by_chance(rows: list[Row], n: int, seed: int) -> Chosen:
    picked = set(random.Random(seed).sample(range(len(rows)), min(n, len(rows))))
    return ([r for i, r in enumerate(rows) if i in picked],
            {r.line: f"not in the seeded random sample of {n} (seed {seed})" for i, r in enumerate(rows) if i not in picked})


def by_quality(rows: list[Row], n: int, scores: dict[int, dict[str, Any]], min_score: float) -> Chosen:
    why: dict[int, str] = {}
    passing = []
    for r in rows:
        s = scores[r.line]["score"]
        if s is None:
            why[r.line] = f"the judge gave no readable score ({scores[r.line]['raw'][:40]!r})"
        elif s < min_score:
            why[r.line] = f"judge score {s} is under --min-score {min_score:g}"
        else:
            passing.append(r)
    order = sorted(passing, key=lambda r: (-scores[r.line]["score"], -r.reply_chars, r.line))
    for r in order[n:]:
        why[r.line] = f"judge score {scores[r.line]['score']}, not among the {n} best (ties go to longer replies)"
    return order[:n], why


def max_min(rows: list[Row], n: int, vectors: Any, min_distance: float | None = None) -> Chosen:
    """Farthest-point selection on L2-normalised vectors (cosine distance)."""
    import numpy as np

    if not rows:
        return [], {}
    count = len(rows)
    start = min(range(count), key=lambda i: (-rows[i].reply_chars, rows[i].line))
    nearest = np.full(count, np.inf, dtype=np.float64)  # distance to the nearest chosen row
    near_of = np.full(count, -1, dtype=np.int64)
    chosen: list[int] = []
    taken = np.zeros(count, dtype=bool)
    pick = start
    for _ in progress(range(min(n, count)), "diverse", min(n, count)):
        chosen.append(pick)
        taken[pick] = True
        sims = vectors @ vectors[pick].T
        sims = np.asarray(sims.toarray() if hasattr(sims, "toarray") else sims, dtype=np.float64).ravel()
        dist = 1 - sims
        closer = dist < nearest
        nearest = np.where(closer, dist, nearest)
        near_of = np.where(closer, pick, near_of)
        if taken.all():
            break
        masked = np.where(taken, -np.inf, nearest)
        pick = int(masked.argmax())
        if min_distance is not None and masked[pick] < min_distance:
            break
    why = {}
    for i in np.flatnonzero(~taken):
        d, other = float(nearest[i]), rows[int(near_of[i])].line
        if min_distance is not None and d < min_distance:
            why[rows[i].line] = f"too close to line {other} (distance {d:.3f} < --min-distance {min_distance:g})"
        else:
            why[rows[i].line] = f"not among the {n} most diverse (nearest chosen: line {other}, distance {d:.3f})"
    return [rows[i] for i in chosen], why


def quotas(rows: list[Row], n: int) -> dict[str, int]:
    """Seats per source in proportion to its rows (largest remainder), never more than it has."""
    sizes: dict[str, int] = {}
    for r in rows:
        sizes[r.source] = sizes.get(r.source, 0) + 1
    total = sum(sizes.values())
    n = min(n, total)
    exact = {s: n * k / total for s, k in sizes.items()}
    seats = {s: min(int(v), sizes[s]) for s, v in exact.items()}
    for s in sorted(sizes, key=lambda s: (-(exact[s] - int(exact[s])), s)):
        if sum(seats.values()) >= n:
            break
        if seats[s] < sizes[s]:
            seats[s] += 1
    return seats


def rank(rows: list[Row], n: int, choose: Callable[[list[Row], int], Chosen], balance: str | None) -> Chosen:
    if balance != "source":
        return choose(rows, n)
    chosen: list[Row] = []
    why: dict[int, str] = {}
    for source, seats in quotas(rows, n).items():
        group = [r for r in rows if r.source == source]
        c, w = choose(group, seats) if seats else ([], {})
        if not seats:
            w = {r.line: f"source {source or '(none)'} gets no seat of {n} (--balance source)" for r in group}
        chosen += c
        why.update(w)
    return sorted(chosen, key=lambda r: r.line), why
