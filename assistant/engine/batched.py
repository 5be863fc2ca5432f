"""BatchedEngine: the ChatEngine and ServingEngine contracts on the continuous-batching scheduler
(scheduler.py), for a server answering several clients at once.

The model is opened once with ``parallel`` sequences and a unified KV cache of ``n_ctx x parallel``
cells: ``LoadOptions.n_ctx`` is each sequence's share (what ``info.context_length`` reports, what a
prompt must fit). Prompts are built as LlamaEngine builds them (prompt.py: the same template choice,
the replies' own token ids spliced back), so a client that resends its whole chat reuses the prefix
its sequence still holds.

Cancelling: ``stream()`` and ``complete()`` return a ``RequestStream``; its ``cancel()`` (or
``engine.cancel(stream.request_id)``) ends that request alone. ``cancel()`` with no argument ends
every request (the ChatEngine contract: "stop the reply").
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Sequence
from typing import Any

from assistant.engine.base import (
    ContextTooLong,
    FinishReason,
    GenerationParams,
    LoadOptions,
    Message,
    ModelInfo,
)
from assistant.engine.context import fit_to_context
from assistant.engine.embedder import Embedder
from assistant.engine.llama import (
    GENERATION_RESERVE,
    MAX_DEFAULT_CTX,
    gpu_backend,
    physical_cores,
)
from assistant.engine.loading import end_of_generation, model_info, prompter_for
from assistant.engine.memory import check_fits
from assistant.engine.prompt import Prompter, pick_template, require
from assistant.engine.scheduler import DEFAULT_PARALLEL, Scheduler
from assistant.engine.sequence import RequestStream
from assistant.engine.stderr import route_llama_log
from models.errors import AssistantError
from models.gguf_file import read_gguf
from models.llama_open import open_llama
from models.resolve import ResolvedModel, resolve


class BatchedEngine:
    def __init__(self, parallel: int = DEFAULT_PARALLEL, *, step_tokens: int | None = None,
                 kv_cells: int | None = None, n_ubatch: int | None = None) -> None:
        """``parallel`` sequences; ``step_tokens``: tokens per decode (None: the context's batch, 512);
        ``kv_cells``: the KV cache's size (None: n_ctx x parallel; less lets requests defer each other);
        ``n_ubatch``: rows llama.cpp computes at once (None: its default, 512; under 64 with one thread
        makes every sequence's logits independent of the others in its batch: see scheduler.py)."""
        if parallel < 1:
            raise AssistantError(f"--parallel {parallel} is too small; use at least 1.")
        self.parallel = parallel
        self.step_tokens = step_tokens
        self.kv_cells = kv_cells
        self.n_ubatch = n_ubatch
        self.info: ModelInfo | None = None
        self._llm: Any = None
        self._prompter: Prompter | None = None
        self._scheduler: Scheduler | None = None
        self._embedder: Embedder | None = None
        self._embed_lock = threading.Lock()
        self._streams: weakref.WeakValueDictionary[int, RequestStream] = weakref.WeakValueDictionary()
        self._streams_lock = threading.Lock()

    @property
    def template(self) -> Any:
        return self._prompter.template if self._prompter else None

    # -- loading ----------------------------------------------------------------------------------
    def load(self, model: str | ResolvedModel | None, options: LoadOptions | None = None) -> ModelInfo:
        options = options or LoadOptions()
        resolved = model if isinstance(model, ResolvedModel) else resolve(model)
        gguf = read_gguf(resolved.path)
        trained = gguf.context_length
        share = options.n_ctx or min(trained, MAX_DEFAULT_CTX)
        if share < 16:
            raise AssistantError(f"--ctx-size {share} is too small; use at least 256 tokens.")
        cells = max(self.kv_cells or share * self.parallel, share)
        check_fits(gguf, cells, force=options.force)
        backend = gpu_backend()
        n_gpu_layers = options.n_gpu_layers if options.n_gpu_layers is not None else (-1 if backend != "CPU" else 0)
        self.close()
        route_llama_log(options.verbose)
        cores = physical_cores()
        threads = options.n_threads or cores
        llm = open_llama(resolved.path, n_ctx=cells, n_threads=threads, n_gpu_layers=n_gpu_layers,
                         n_batch=min(512, cells), n_ubatch=self.n_ubatch, verbose=options.verbose, n_seq_max=self.parallel, kv_unified=True,
                         **resolved.lora_args(options.lora, options.lora_scale))
        template, warnings = pick_template(gguf, options.chat_template, resolved.path.name, share)
        prompter = prompter_for(llm, gguf, template, resolved)
        eog, eot_texts = end_of_generation(llm, gguf)
        try:
            scheduler = Scheduler(llm, parallel=self.parallel, n_ctx_seq=share, eog=eog, step_tokens=self.step_tokens,
                                  threads=llm.n_threads)
        except BaseException:
            llm.close()
            raise
        self._llm, self._prompter, self._scheduler = llm, prompter, scheduler
        self._embedder = Embedder(resolved.path, declared_pooling=gguf.metadata.get(f"{gguf.arch}.pooling_type"),
                                  trained_context=trained, n_gpu_layers=n_gpu_layers, verbose=options.verbose)
        self.info = model_info(resolved, gguf, template, n_ctx=share, backend=backend, n_gpu_layers=n_gpu_layers,
                               eot_tokens=eot_texts, warnings=warnings, cores=cores, n_threads=llm.n_threads)
        return self.info

    def close(self) -> None:
        scheduler, self._scheduler = self._scheduler, None
        stopped = scheduler.close() if scheduler is not None else True
        if self._embedder is not None:
            self._embedder.close()
            self._embedder = None
        if self._llm is not None and stopped:  # a thread still decoding keeps its context (never freed under it)
            self._llm.close()
        self._llm = None
        self._prompter = None
        self.info = None

    # -- tokens -------------------------------------------------------------------------------------
    def _ready(self) -> tuple[Prompter, Scheduler, ModelInfo]:
        if self._prompter is None or self._scheduler is None or self.info is None:
            raise AssistantError("No model is loaded; load one first.")
        return self._prompter, self._scheduler, self.info

    def check_input(self, messages: Sequence[Message]) -> None:
        """Refuse, untokenized, messages with more text than a sequence's share could hold."""
        prompter, _, info = self._ready()
        chars = sum(len(m.content) for m in messages)
        if chars > info.context_length * prompter.max_token_chars:
            from assistant.engine.context import too_long

            raise too_long(chars, info.context_length)

    def count_tokens(self, messages: Sequence[Message]) -> int:
        self.check_input(messages)
        return len(require(self._prompter).messages(messages))

    def count_text(self, prompt: str) -> int:
        return len(require(self._prompter).text(prompt))

    def tool_format(self) -> Any:
        return require(self._prompter).tools_template()[1]

    # -- generation ---------------------------------------------------------------------------------
    def stream(self, messages: Sequence[Message], params: GenerationParams | None = None) -> RequestStream:
        """Queue a chat reply; the stream starts as soon as a sequence is free. Errors about the prompt
        (too long, no user message, a template's refusal) raise here; a bad grammar from ``next``."""
        params = params or GenerationParams()
        prompter, scheduler, info = self._ready()
        start = time.perf_counter()
        n_ctx = info.context_length
        reserve = min(params.max_tokens or GENERATION_RESERVE, n_ctx // 2)
        tools = params.tools
        _, dropped, prompt = fit_to_context(messages, lambda ms: prompter.messages(ms, tools), n_ctx - reserve,
                                            prompter.max_token_chars)
        return self._submit(scheduler, prompt, params, start, dropped)

    def complete(self, prompt: str, params: GenerationParams | None = None) -> RequestStream:
        """Continue ``prompt`` as it is (no chat template): /v1/completions and Ollama's raw mode."""
        params = params or GenerationParams()
        prompter, scheduler, info = self._ready()
        start = time.perf_counter()
        tokens = prompter.text(prompt)
        if len(tokens) >= info.context_length:
            raise ContextTooLong(f"The prompt is {len(tokens)} tokens, more than the context of {info.context_length}; "
                                 "shorten it or start the server with a larger --ctx-size.")
        return self._submit(scheduler, tokens, params, start, 0)

    def _submit(self, scheduler: Scheduler, prompt: list[int], params: GenerationParams, start: float,
                dropped: int) -> RequestStream:
        prompter = require(self._prompter)

        def finished(ids: list[int], reason: FinishReason) -> None:  # on the scheduler's thread
            prompter.remember_reply(ids)

        stream = scheduler.submit(prompt, params, stops=list(params.stop) + prompter.template.stop, start=start,
                                  dropped=dropped, on_finish=finished)
        with self._streams_lock:
            self._streams[stream.request_id] = stream
        return stream

    def cancel(self, request_id: int | None = None) -> None:
        """End the request ``request_id`` (a stream's ``request_id``), or every request when None."""
        if request_id is None:
            if self._scheduler is not None:
                self._scheduler.cancel_all()
            return
        with self._streams_lock:
            stream = self._streams.get(request_id)
        if stream is not None:
            stream.cancel()

    def busy(self) -> tuple[int, int]:
        """(requests on a sequence, requests waiting for one): for a server's queue and its 503."""
        return self._scheduler.counts() if self._scheduler is not None else (0, 0)

    # -- embeddings ---------------------------------------------------------------------------------
    def embed(self, texts: list[str]) -> tuple[list[list[float]], int]:
        """L2-normalised embeddings (a second context in embedding mode: embedder.py) and the token count."""
        self._ready()
        assert self._embedder is not None and self._llm is not None
        with self._embed_lock:
            return self._embedder.embed(texts, self._llm.n_threads)
