"""The scheduler's sequences (scheduler.py) and the KV cells they hold.

Each ``Slot`` is one llama.cpp sequence id: the tokens its cells hold, in order, and the request
running on it (None: idle, its tokens kept as a cache for a prompt that starts the same way).
``Slots`` does the accounting on the unified cache of ``pool`` cells (one per token per sequence),
picks the sequence for a new request, and plans each step's batch. Called on the scheduler's
thread only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from assistant.engine.sequence import Request

Plan = list[tuple["Slot", list[int], bool]]  # (sequence, tokens it adds, whether its last one wants logits)


@dataclass(eq=False)
class Slot:
    seq: int
    tokens: list[int] = field(default_factory=list)
    request: Request | None = None
    used_at: int = 0  # the step it last ran a request (least recently used goes first)
    admitted_at: int = 0  # the step its request took it (the youngest is deferred first)


def common_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


class Slots:
    def __init__(self, n: int) -> None:
        self.all = [Slot(i) for i in range(n)]
        self.pool = 0  # KV cells (llama_n_ctx)
        self.mem: Any = None  # llama_memory_t
        self.step = 0

    def running(self) -> list[Slot]:
        return [s for s in self.all if s.request is not None]

    def n_free(self) -> int:
        return sum(1 for s in self.all if s.request is None)

    def used(self) -> int:
        return sum(len(s.tokens) for s in self.all)

    def evictable(self, keep: Slot | None = None) -> int:
        return sum(len(s.tokens) for s in self.all if s.request is None and s is not keep)

    def clear(self, slot: Slot) -> None:
        import llama_cpp

        llama_cpp.llama_memory_seq_rm(self.mem, slot.seq, -1, -1)
        slot.tokens = []

    def evict_idle(self, cells: int) -> int:
        """Forget idle sequences' caches, least recently used first, until ``cells`` are free."""
        freed = 0
        for slot in sorted((s for s in self.all if s.request is None and s.tokens), key=lambda s: s.used_at):
            if freed >= cells:
                break
            freed += len(slot.tokens)
            self.clear(slot)
        return freed

    def choose(self, context: list[int]) -> tuple[Slot, int] | None:
        """The free sequence caching the longest prefix of ``context`` (ties: least recently used) and
        how much of it to keep (never all: the last token is evaluated again for its logits)."""
        free = [s for s in self.all if s.request is None]
        if not free:
            return None
        slot = max(free, key=lambda s: (common_prefix(s.tokens, context), -s.used_at))
        return slot, min(common_prefix(slot.tokens, context), len(context) - 1)

    def room(self, slot: Slot, common: int, claimed: int) -> int:
        """Cells a request on ``slot`` keeping ``common`` tokens may take, ``claimed`` being promised."""
        return self.pool - self.used() + (len(slot.tokens) - common) + self.evictable(slot) - claimed

    def take(self, slot: Slot, request: Request, common: int) -> None:
        """Put ``request`` on ``slot``, dropping what it caches beyond the first ``common`` tokens."""
        import llama_cpp

        if not llama_cpp.llama_memory_seq_rm(self.mem, slot.seq, common, -1):
            llama_cpp.llama_memory_seq_rm(self.mem, slot.seq, -1, -1)
            common = 0
        del slot.tokens[common:]
        slot.request = request
        slot.admitted_at = self.step

    def youngest_holder(self, work: list[Slot]) -> Slot | None:
        """The most recently admitted of two or more running requests that hold cells."""
        holders = [s for s in work if s.request is not None and s.tokens]
        return max(holders, key=lambda s: (s.admitted_at, s.seq)) if len(holders) > 1 else None

    def plan(self, work: list[Slot], step_tokens: int, prefill: bool, defer: Callable[[list[Slot]], bool]) -> Plan:
        """What each running sequence adds this step: every generating one's next token first, then
        prefill chunks, shortest first, within ``step_tokens`` and the free cells (idle caches evicted for
        them); ``defer`` takes a request off its sequence when even the next tokens do not fit."""
        while True:
            todo = [(s, s.request.todo(len(s.tokens))) for s in work if s.request is not None]
            decodes = [(s, t) for s, t in todo if len(t) == 1]
            free = self.pool - self.used()
            if free < len(decodes):
                free += self.evict_idle(len(decodes) - free)
            if free < len(decodes) and defer(work):
                continue
            plan: Plan = [(s, t, True) for s, t in decodes]
            budget = step_tokens - len(plan)
            free -= len(plan)
            prefills = sorted(((s, t) for s, t in todo if len(t) > 1), key=lambda st: len(st[1]))
            for slot, tokens in prefills if prefill else []:
                want = min(len(tokens), budget)
                if want > free:
                    free += self.evict_idle(want - free)
                take = min(want, free)
                if take > 0:
                    plan.append((slot, tokens[:take], take == len(tokens)))
                    budget -= take
                    free -= take
            if not plan and prefills and defer(work):  # every prefill waits for cells: make some
                continue
            return plan


def fill_batch(batch: Any, plan: Plan) -> None:
    """Write ``plan`` into a ``llama_batch`` (one sequence id per token, logits where asked)."""
    n = 0
    for slot, tokens, wants in plan:
        base = len(slot.tokens)
        last = len(tokens) - 1
        for j, tok in enumerate(tokens):
            batch.token[n] = tok
            batch.pos[n] = base + j
            batch.n_seq_id[n] = 1
            batch.seq_id[n][0] = slot.seq
            batch.logits[n] = 1 if wants and j == last else 0
            n += 1
    batch.n_tokens = n
