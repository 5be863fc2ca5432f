"""Continuous batching: one thread owns a llama.cpp context with several sequences and a unified KV
cache, and runs every request on it at once.

Each step (``_step``): cancelled requests end; waiting requests take free sequences (the one whose
cached tokens share the longest prefix with the prompt, else the least recently used; the rest of
its cache is removed with ``llama_memory_seq_rm``); one batch is built (slots.py): the next token of
every generating sequence, plus prefill chunks of the others (shortest first) up to the step's
token budget; one ``llama_decode``; then each sequence that asked for logits is sampled by its own
chain (``llama_sampler_sample(chain, ctx, i)``) and its text, stop strings, end of generation,
max_tokens and context share are handled for it alone (sequence.py).

KV accounting: the cache has ``pool`` cells; a sequence holds one per token (its share, ``n_ctx_seq``,
caps it). Cached prefixes of idle sequences are evicted first (least recently used); a waiting
request is admitted only when its tokens fit; when generating sequences outgrow the pool the
youngest request is taken off its sequence and re-queued (its prompt and reply are evaluated again
when room returns: deferred, not failed). With the default pool (share x sequences) none of this
triggers. A prompt longer than a sequence's share is refused at ``submit`` with one sentence.

Every call on the context (decode, memory, samplers, logits) happens on the scheduler's thread;
callers only tokenize (the vocabulary is read-only) and read their ``RequestStream``.

Batch invariance. llama.cpp's CPU flash attention picks its kernel from the shape of the whole
ubatch: 64 or more query rows take a tiled kernel, a single row over 512+ cells a split-KV kernel
(one chunk per thread), anything else a per-row kernel; they round differently. So a sequence's
logits can depend on what shares its batch. With ``n_ubatch`` under 64 and one thread every row
takes the per-row kernel and a greedy reply is the same token for token, alone or beside others,
as long as its KV cells are in position order (the per-row kernel sums in cell order; cells freed
by another sequence's trim or deferral can be reused out of order). The defaults (n_ubatch 512,
all threads) favour speed: a reply can then part from a lone run after some tokens.
"""

from __future__ import annotations

import ctypes
import logging
import threading
from collections import deque
from typing import Any

from assistant.engine.base import ContextTooLong, FinishReason, GenerationParams
from assistant.engine.sampling import PENALTY_LAST_N, feeds_prompt, make_sampler
from assistant.engine.sequence import OnFinish, Request, RequestStream
from assistant.engine.slots import Plan, Slot, Slots, fill_batch
from models.errors import AssistantError

log = logging.getLogger("assistant.engine")
DEFAULT_PARALLEL = 4


class Scheduler:
    """Runs requests on ``llm``'s context (opened with ``n_seq_max >= parallel``, ``kv_unified``)."""

    def __init__(self, llm: Any, *, parallel: int, n_ctx_seq: int, eog: set[int], step_tokens: int | None = None,
                 threads: int = 0) -> None:
        self.llm = llm
        self.parallel = parallel
        self.n_ctx_seq = n_ctx_seq
        self.eog = set(eog)
        self.threads = threads
        self.step_tokens = step_tokens or 0  # 0: the context's n_batch
        self._slots = Slots(parallel)  # the sequences and their KV cells
        self._waiting: deque[Request] = deque()
        self._admitting: list[Request] = []
        self._cond = threading.Condition()
        self._stopping = False
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="engine-scheduler", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            raise self._error

    # -- any thread ---------------------------------------------------------------------------
    def submit(self, prompt: list[int], params: GenerationParams, *, stops: list[str] | None = None,
               start: float | None = None, dropped: int = 0, on_finish: OnFinish | None = None) -> RequestStream:
        """Queue a request; it starts as soon as a sequence is free. Its chunks come from the stream."""
        if len(prompt) >= self.n_ctx_seq:
            raise ContextTooLong(f"The prompt is {len(prompt)} tokens, more than a sequence's share of the context "
                                 f"({self.n_ctx_seq}); shorten it or use a larger --ctx-size.")
        if not prompt:
            raise AssistantError("The prompt is empty; give the model some text to continue.")
        limit = self.n_ctx_seq - len(prompt)
        if params.max_tokens is not None:
            limit = min(limit, params.max_tokens)
        request = Request(list(prompt), params, list(stops or []), limit, self.n_ctx_seq, dropped=dropped,
                          on_finish=on_finish)
        if start is not None:
            request.start = start
        request.threads = self.threads
        with self._cond:
            if self._stopping:
                raise AssistantError("The engine is closed; load the model again.")
            self._waiting.append(request)
            self._cond.notify_all()
        return RequestStream(request, self.cancel)

    def cancel(self, request: Request) -> None:
        """End one request: at once while it waits, else at the scheduler's next step."""
        with self._cond:
            request.cancelled = True
            if request.sampler is None and request in self._waiting:  # never ran: nothing to free
                self._waiting.remove(request)
                request.finish("cancelled", 0)
            self._cond.notify_all()

    def cancel_all(self) -> None:
        with self._cond:
            for request in [*self._waiting, *self._admitting]:
                request.cancelled = True
            for slot in self._slots.running():
                if slot.request is not None:
                    slot.request.cancelled = True
            self._cond.notify_all()

    def counts(self) -> tuple[int, int]:
        """(requests on a sequence, requests waiting for one)."""
        with self._cond:
            return len(self._slots.running()), len(self._waiting) + len(self._admitting)

    def close(self, timeout: float = 30.0) -> bool:
        """Cancel everything and stop the thread; False when it did not stop in time (the context stays)."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._thread.join(timeout)
        return not self._thread.is_alive()

    # -- the scheduler thread -----------------------------------------------------------------
    def _run(self) -> None:
        import llama_cpp

        try:
            ctx = self.llm.ctx
            if llama_cpp.llama_n_seq_max(ctx) < self.parallel:
                raise AssistantError(f"The context was opened for {llama_cpp.llama_n_seq_max(ctx)} sequences, "
                                     f"not {self.parallel}; open it with n_seq_max={self.parallel}.")
            n_batch = llama_cpp.llama_n_batch(ctx)
            if n_batch < self.parallel:
                raise AssistantError(f"The context's batch ({n_batch} tokens) is smaller than its {self.parallel} "
                                     "sequences; open it with a larger n_batch.")
            # every generating sequence's next token always fits a step; llama_decode takes n_batch at most
            self.step_tokens = min(max(self.step_tokens or n_batch, self.parallel), n_batch)
            self._slots.pool = llama_cpp.llama_n_ctx(ctx)
            self._slots.mem = llama_cpp.llama_get_memory(ctx)
            self._vocab = llama_cpp.llama_model_get_vocab(self.llm.model)
            self._piece = ctypes.create_string_buffer(256)
            self._batch = llama_cpp.llama_batch_init(self.step_tokens, 0, 1)
            llama_cpp.llama_memory_clear(self._slots.mem, True)
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        try:
            while self._next_work():
                self._step()
        except BaseException as exc:  # a bug or a fatal llama.cpp error: every request hears of it
            log.exception("the scheduler stopped")
            error = exc if isinstance(exc, AssistantError) else AssistantError(
                f"The engine's scheduler failed ({type(exc).__name__}: {exc}); load the model again.")
            with self._cond:
                self._stopping = True
            self._end_everything(error)
        else:
            self._end_everything(None)
        finally:
            llama_cpp.llama_batch_free(self._batch)

    def _next_work(self) -> bool:
        """Wait for something to do; hand the requests free sequences can take (and cancelled ones,
        whose samplers this thread frees) to admission."""
        with self._cond:
            while not self._stopping:
                free = self._slots.n_free()
                kept: deque[Request] = deque()
                for request in self._waiting:
                    if request.cancelled or free > len(self._admitting):
                        self._admitting.append(request)
                    else:
                        kept.append(request)
                self._waiting = kept
                if self._admitting or free < self.parallel:
                    return True
                self._cond.wait()
            return False

    def _end_everything(self, error: BaseException | None) -> None:
        import llama_cpp

        with self._cond:
            pending = [*self._admitting, *self._waiting]
            self._admitting.clear()
            self._waiting.clear()
        for slot in self._slots.all:
            if slot.request is not None:
                pending.append(slot.request)
                slot.request = None
        for request in pending:
            if error is not None:
                request.fail(error)
            else:
                request.finish("cancelled", 0)
            if request.sampler is not None:
                llama_cpp.llama_sampler_free(request.sampler)
                request.sampler = None

    def _step(self) -> None:
        self._slots.step += 1
        for slot in self._slots.running():
            if slot.request is not None and slot.request.cancelled:
                self._end(slot, "cancelled")
        self._admit()
        work = self._slots.running()
        if work:
            self._decode_and_sample(work)

    # -- admission ------------------------------------------------------------------------------
    def _admit(self) -> None:
        import llama_cpp

        with self._cond:
            admitting, self._admitting = self._admitting, []
        claimed = len(self._slots.running())  # the next token of each running request
        for i, request in enumerate(admitting):
            if request.cancelled:
                self._drop(request, "cancelled")
                continue
            chosen = self._slots.choose(request.context())
            if chosen is not None:
                slot, common = chosen
                need = len(request.context()) - common
            if chosen is None or (need > self._slots.room(slot, common, claimed) and claimed):
                with self._cond:  # deferred: back to the head of the queue, in order, until room returns
                    self._waiting.extendleft(reversed([r for r in admitting[i:] if not r.cancelled]))
                    self._admitting.extend(r for r in admitting[i:] if r.cancelled)
                return
            if request.limit <= 0:
                self._drop(request, "length")
                continue
            if request.sampler is None:
                try:
                    request.sampler = make_sampler(self.llm, request.params, self.eog)
                except BaseException as exc:  # BadGrammar: this request alone
                    request.fail(exc)
                    continue
                if feeds_prompt(request.params):
                    for tok in request.prompt[-PENALTY_LAST_N:]:
                        llama_cpp.llama_sampler_accept(request.sampler, tok)
                request.evaluated = max(0, len(request.prompt) - common)
            self._slots.take(slot, request, common)
            claimed += need

    def _drop(self, request: Request, reason: FinishReason) -> None:
        import llama_cpp

        request.finish(reason, 0)
        if request.sampler is not None:
            llama_cpp.llama_sampler_free(request.sampler)
            request.sampler = None

    def _defer_youngest(self, work: list[Slot]) -> bool:
        """KV cache full: take the youngest request that holds cells off its sequence and re-queue it
        (its prompt and reply so far are evaluated again when it gets a sequence back)."""
        slot = self._slots.youngest_holder(work)
        if slot is None or slot.request is None:
            return False
        request = slot.request
        self._slots.clear(slot)
        slot.request = None
        work.remove(slot)
        with self._cond:
            self._waiting.appendleft(request)
        log.info("KV cache full: request %d waits for room (%d tokens to evaluate again)", request.id,
                 len(request.context()))
        return True

    # -- one decode ---------------------------------------------------------------------------------
    def _decode_and_sample(self, work: list[Slot]) -> None:
        import llama_cpp

        prefill = True
        while True:
            plan = self._slots.plan(work, self.step_tokens, prefill, self._defer_youngest)
            if not plan:
                return
            rc = self._decode(plan)
            if rc == 0:
                break
            if rc == 1:  # no KV slot for the batch despite the accounting: shrink it, then defer
                if prefill and any(len(t) > 1 or not want for _, t, want in plan):
                    prefill = False
                    continue
                if self._defer_youngest(work):
                    continue
                slot = plan[0][0]
                assert slot.request is not None
                slot.request.fail(AssistantError(
                    f"llama.cpp found no room in the KV cache for this reply ({len(slot.tokens)} tokens); "
                    "retry it, or start with a larger --ctx-size or fewer --parallel sequences."))
                self._release(slot)
                work.remove(slot)
                continue
            for slot, _, _ in plan:  # a fatal decode error fails the requests in this batch
                assert slot.request is not None
                slot.request.fail(AssistantError(f"llama.cpp failed to decode (error {rc}); retry the request."))
                self._slots.clear(slot)
                self._release(slot)
            return
        ctx = self.llm.ctx
        index = 0
        for slot, tokens, wants in plan:
            slot.tokens.extend(tokens)
            index += len(tokens)
            request = slot.request
            if not wants or request is None:
                continue
            token = llama_cpp.llama_sampler_sample(request.sampler, ctx, index - 1)
            n = llama_cpp.llama_token_to_piece(self._vocab, token, self._piece, len(self._piece), 0, False)
            reason = request.accept(token, self._piece.raw[: max(n, 0)], self.eog)
            if reason is not None:
                self._end(slot, reason)

    def _decode(self, plan: Plan) -> int:
        import llama_cpp

        fill_batch(self._batch, plan)
        return int(llama_cpp.llama_decode(self.llm.ctx, self._batch))

    def _end(self, slot: Slot, reason: FinishReason) -> None:
        request = slot.request
        assert request is not None
        request.finish(reason, len(slot.tokens))
        self._release(slot)

    def _release(self, slot: Slot) -> None:
        import llama_cpp

        request = slot.request
        if request is not None and request.sampler is not None:
            llama_cpp.llama_sampler_free(request.sampler)
            request.sampler = None
        slot.request = None
        slot.used_at = self._slots.step
        with self._cond:
            self._cond.notify_all()
