"""Data order and micro-batches.

Each epoch's order is a permutation drawn from (seed, epoch) alone, so a resumed run or another
process computes the same plan with no communication. An optimizer step takes ``batch_size``
examples; they are dealt to ranks by length (longest first, round robin) and each rank groups its
share into length-sorted micro-batches under a token budget, so padding stays small and no
example ever attends to another.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from finetune.template import IGNORE, Encoded


def steps_per_epoch(n_examples: int, batch_size: int) -> int:
    return math.ceil(n_examples / batch_size)


def epoch_order(n_examples: int, seed: int, epoch: int) -> list[int]:
    g = torch.Generator().manual_seed(seed * 100_003 + epoch)
    return torch.randperm(n_examples, generator=g).tolist()


def step_examples(n_examples: int, batch_size: int, seed: int, step: int) -> list[int]:
    """The example indices of global optimizer step ``step`` (counting from 0 over all epochs)."""
    per_epoch = steps_per_epoch(n_examples, batch_size)
    epoch, k = divmod(step, per_epoch)
    return epoch_order(n_examples, seed, epoch)[k * batch_size : (k + 1) * batch_size]


def by_length(indices: list[int], lengths: list[int]) -> list[int]:
    return sorted(indices, key=lambda i: (-lengths[i], i))


def rank_share(indices: list[int], lengths: list[int], rank: int, world: int) -> list[int]:
    return by_length(indices, lengths)[rank::world]


MICRO_BATCH_COST = 128  # a forward pass costs about this many tokens' work beyond its (padded) tokens


def micro_batches(indices: list[int], lengths: list[int], budget: int) -> list[list[int]]:
    """Length-sorted examples split into consecutive micro-batches, each within ``budget`` tokens
    counting the padding to its longest member, choosing the split with the least padded tokens
    plus :data:`MICRO_BATCH_COST` per micro-batch (an exact dynamic programme over the split points)."""
    order = by_length(indices, lengths)
    n = len(order)
    best = [0.0] + [float("inf")] * n  # best[k]: cost of the first k examples
    cut = [0] * (n + 1)
    for end in range(1, n + 1):
        for start in range(end - 1, -1, -1):
            width = lengths[order[start]]  # sorted longest first: the group's longest is its first
            padded = (end - start) * width
            if padded > budget and end - start > 1:
                break
            cost = best[start] + padded + MICRO_BATCH_COST
            if cost < best[end]:
                best[end], cut[end] = cost, start
    out: list[list[int]] = []
    end = n
    while end > 0:
        out.append(order[cut[end] : end])
        end = cut[end]
    return out[::-1]


@dataclass
class StepPlan:
    examples: list[int]  # all ranks' examples of this step
    micro: list[list[int]]  # this rank's micro-batches
    n_micro: int  # the most micro-batches any rank has (every rank runs this many forwards)


def plan_step(
    encoded: list[Encoded], batch_size: int, seed: int, step: int, rank: int, world: int, budget: int
) -> StepPlan:
    lengths = [len(e.input_ids) for e in encoded]
    examples = step_examples(len(encoded), batch_size, seed, step)
    shares = [micro_batches(rank_share(examples, lengths, r, world), lengths, budget) for r in range(world)]
    return StepPlan(examples, shares[rank], max(len(s) for s in shares))


@dataclass
class Batch:
    input_ids: torch.Tensor
    labels: torch.Tensor
    tokens: int  # real tokens
    padded: int  # tokens including padding


def collate(items: list[Encoded], pad_id: int) -> Batch:
    """Pad on the right. No attention mask is needed: causal attention alone keeps every real token
    from seeing a pad (pads come after it), and pad positions carry no label. Without a mask SDPA
    takes its fused causal kernels instead of materialising a (seq x seq) mask per head."""
    width = max(len(e.input_ids) for e in items)
    ids = torch.full((len(items), width), pad_id, dtype=torch.long)
    labels = torch.full((len(items), width), IGNORE, dtype=torch.long)
    for row, e in enumerate(items):
        n = len(e.input_ids)
        ids[row, :n] = torch.tensor(e.input_ids)
        labels[row, :n] = torch.tensor(e.labels)
    return Batch(ids, labels, sum(len(e.input_ids) for e in items), len(items) * width)


def padding_fraction(encoded: list[Encoded], batch_size: int, seed: int, steps: int, world: int, budget: int) -> float:
    """Padding share of all tokens processed over the first ``steps`` optimizer steps."""
    lengths = [len(e.input_ids) for e in encoded]
    real = padded = 0
    for step in range(steps):
        for rank in range(world):
            plan = plan_step(encoded, batch_size, seed, step, rank, world, budget)
            for mb in plan.micro:
                real += sum(lengths[i] for i in mb)
                padded += len(mb) * max(lengths[i] for i in mb)
    return 1 - real / padded if padded else 0.0
