"""The llama.cpp implementation of the ChatEngine and ServingEngine contracts.

``llama_cpp.Llama`` loads the model and context; replies are decoded by a lean loop over the
binding's low-level API (one-token batches, a native sampler chain), so the per-token Python cost
stays small next to llama.cpp's own. The context's token list is kept, and each reply's sampled
token ids are spliced back into later prompts, so turn k evaluates only its new tokens.
"""

from __future__ import annotations

import codecs
import ctypes
import hashlib
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assistant.engine.base import (
    Chunk,
    ContextTooLong,
    FinishReason,
    GenerationParams,
    LoadOptions,
    Message,
    ModelInfo,
    Stats,
)
from assistant.engine.context import fit_to_context, too_long
from assistant.engine.embedder import Embedder
from assistant.engine.kv_state import Identity, StateStore
from assistant.engine.loading import end_of_generation, model_info, prompter_for
from assistant.engine.memory import check_fits
from assistant.engine.prompt import Prompter, pick_template, require
from assistant.engine.sampling import PENALTY_LAST_N, feeds_prompt, make_sampler
from assistant.engine.stderr import route_llama_log
from assistant.engine.stops import StopMatcher
from assistant.engine.template import ChatTemplate
from assistant.engine.threads import ThreadPicker
from models.errors import AssistantError
from models.gguf_file import GGUFInfo, read_gguf
from models.llama_open import open_llama
from models.resolve import ResolvedModel, resolve

if TYPE_CHECKING:
    from assistant.tools.formats import ToolFormat

MAX_DEFAULT_CTX = 8192
GENERATION_RESERVE = 512  # tokens kept free for the reply when trimming a long history


def physical_cores() -> int:
    import os

    import psutil

    return psutil.cpu_count(logical=False) or os.cpu_count() or 1


def gpu_backend() -> str:
    """Which backend this llama.cpp build offloads to: "CUDA", "Metal", "Vulkan", ... or "CPU"."""
    import llama_cpp

    if not llama_cpp.llama_supports_gpu_offload():
        return "CPU"
    info = llama_cpp.llama_print_system_info().decode("utf-8", "replace").upper()
    for name, label in (("CUDA", "CUDA"), ("METAL", "Metal"), ("VULKAN", "Vulkan"), ("HIP", "ROCm"), ("SYCL", "SYCL")):
        if name in info:
            return label
    return "GPU"


class LlamaEngine:
    def __init__(self) -> None:
        self.info: ModelInfo | None = None
        self.template: ChatTemplate | None = None
        self._llm: Any = None
        self._gguf: GGUFInfo | None = None
        self._eog: set[int] = set()
        self._ctx_tokens: list[int] = []  # what the KV cache holds, in order
        self._prompter: Prompter | None = None  # messages -> prompt ids (prompt.py, shared with BatchedEngine)
        self._prompt_logits: tuple[list[int], Any] | None = None  # last prompt and the logits after it
        self._cancel = threading.Event()
        self._lock = threading.Lock()
        self._threads: ThreadPicker | None = None  # None: the person fixed the count (--threads)
        self._n_threads = 0
        self._embedder: Embedder | None = None  # opened on the first embed()
        self._states = StateStore()  # conversations' KV state on disk
        self._identity: Identity | None = None
        self._manifest_sha256: str | None = None
        self._lora: tuple[Path, float] | None = None

    # -- loading ----------------------------------------------------------------------------
    def load(self, model: str | ResolvedModel | None, options: LoadOptions | None = None) -> ModelInfo:
        options = options or LoadOptions()
        resolved = model if isinstance(model, ResolvedModel) else resolve(model)
        gguf = read_gguf(resolved.path)
        trained = gguf.context_length
        n_ctx = options.n_ctx or min(trained, MAX_DEFAULT_CTX)
        if n_ctx < 16:
            raise AssistantError(f"--ctx-size {n_ctx} is too small; use at least 256 tokens.")
        check_fits(gguf, n_ctx, force=options.force)

        backend = gpu_backend()
        n_gpu_layers = options.n_gpu_layers if options.n_gpu_layers is not None else (-1 if backend != "CPU" else 0)
        self.close()
        route_llama_log(options.verbose)
        cores = physical_cores()
        threads = options.n_threads or cores
        llm = open_llama(resolved.path, n_ctx=n_ctx, n_threads=threads, n_gpu_layers=n_gpu_layers,
                         verbose=options.verbose, **resolved.lora_args(options.lora, options.lora_scale))
        self._llm = llm
        self._gguf = gguf
        self._embedder = Embedder(resolved.path, declared_pooling=gguf.metadata.get(f"{gguf.arch}.pooling_type"),
                                  trained_context=trained, n_gpu_layers=n_gpu_layers, verbose=options.verbose)
        self._ctx_tokens = []
        self._prompt_logits = None
        self._n_threads = llm.n_threads
        # On a GPU the CPU threads matter little; on the CPU they are picked per reply (threads.py).
        self._threads = ThreadPicker(self._n_threads) if options.n_threads is None and backend == "CPU" else None
        self.template, warnings = pick_template(gguf, options.chat_template, resolved.path.name, n_ctx)
        manifest = resolved.manifest
        self._prompter = prompter_for(llm, gguf, self.template, resolved)
        self._eog, eot_texts = end_of_generation(llm, gguf)
        self._identity = None
        self._manifest_sha256 = manifest.sha256 if manifest and manifest.sha256 else None
        self._lora = (options.lora, options.lora_scale) if options.lora else None
        self.info = model_info(resolved, gguf, self.template, n_ctx=n_ctx, backend=backend, n_gpu_layers=n_gpu_layers,
                               eot_tokens=eot_texts, warnings=warnings, cores=cores, n_threads=self._n_threads)
        return self.info

    def close(self) -> None:
        if self._embedder is not None:
            self._embedder.close()
            self._embedder = None
        if self._llm is not None:
            self._llm.close()
        self._llm = None
        self._prompter = None
        self.info = None

    # -- tokens -----------------------------------------------------------------------------
    def _require(self) -> Any:
        if self._llm is None or self.template is None:
            raise AssistantError("No model is loaded; load one first.")
        return self._llm

    def tool_format(self) -> ToolFormat:
        """How this model writes tool calls: the manifest's ``tool_format``, else detected from the
        template; ToolsUnsupported (one sentence) when no template of the model has a tools section."""
        return self._prompt().tools_template()[1]

    def _prompt(self) -> Prompter:
        self._require()
        return require(self._prompter)

    def _tokenize_prompt(self, messages: Sequence[Message], tools: list[dict[str, Any]] | None = None) -> list[int]:
        return self._prompt().messages(messages, tools)

    def check_input(self, messages: Sequence[Message]) -> None:
        """Refuse, untokenized, messages with more text than the whole context could hold."""
        if self.info is not None:
            chars = sum(len(m.content) for m in messages)
            if chars > self.info.context_length * self._prompt().max_token_chars:
                raise too_long(chars, self.info.context_length)

    def count_tokens(self, messages: Sequence[Message]) -> int:
        self.check_input(messages)
        return len(self._tokenize_prompt(messages))

    def cancel(self) -> None:
        self._cancel.set()

    # -- generation -------------------------------------------------------------------------
    def stream(self, messages: Sequence[Message], params: GenerationParams | None = None) -> Iterator[Chunk]:
        params = params or GenerationParams()
        llm = self._require()
        assert self.info is not None and self.template is not None
        n_ctx = self.info.context_length
        with self._lock:
            self._cancel.clear()
            start = time.perf_counter()
            reserve = min(params.max_tokens or GENERATION_RESERVE, n_ctx // 2)
            tokenize = self._tokenize_prompt if not params.tools else (lambda ms: self._tokenize_prompt(ms, params.tools))
            _, dropped, prompt = fit_to_context(messages, tokenize, n_ctx - reserve, self._prompt().max_token_chars)
            yield from self._generate(llm, prompt, params, n_ctx, start, dropped)

    # -- conversation state on disk (kv_state.py) ------------------------------------------------
    def _state_identity(self) -> Identity:
        from assistant.engine.kv_state import Identity, model_sha256

        assert self.info is not None and self.template is not None
        if self._identity is None:
            sha = model_sha256(self.info.path, self._manifest_sha256)
            adapter = f"{self._lora[0]}:{self._lora[1]}" if self._lora else ""
            template = hashlib.sha256(self.template.source.encode("utf-8")).hexdigest()
            self._identity = Identity(sha, adapter, self.info.context_length, True, "f16/f16", template)
        return self._identity

    def save_state(self, key: str) -> None:
        """Keep what the KV cache holds for this conversation (written in the background)."""
        import llama_cpp

        llm = self._require()
        with self._lock:
            if not self._ctx_tokens:
                return
            size = llama_cpp.llama_state_seq_get_size(llm.ctx, 0)
            buf = (ctypes.c_uint8 * size)()
            n = llama_cpp.llama_state_seq_get_data(llm.ctx, buf, size, 0)
            tokens = list(self._ctx_tokens)
        if n:
            self._states.save(key, self._state_identity(), tokens, bytes(memoryview(buf)[:n]))

    def restore_state(self, key: str) -> bool:
        """Put back the KV cache saved for this conversation; False (and the history is evaluated as
        before) when there is none or it does not fit this model, adapter, context or build."""
        import llama_cpp

        llm = self._require()
        found = self._states.load(key, self._state_identity())
        if found is None:
            return False
        tokens, payload = found
        with self._lock:
            mem = llama_cpp.llama_get_memory(llm.ctx)
            llama_cpp.llama_memory_clear(mem, True)
            self._ctx_tokens, self._prompt_logits = [], None
            buf = (ctypes.c_uint8 * len(payload)).from_buffer_copy(payload)
            ok = len(tokens) <= self.info.context_length if self.info else False
            ok = ok and llama_cpp.llama_state_seq_set_data(llm.ctx, buf, len(payload), 0) == len(payload)
            ok = ok and llama_cpp.llama_memory_seq_pos_max(mem, 0) + 1 == len(tokens)
            if not ok:
                llama_cpp.llama_memory_clear(mem, True)
                self._states.forget(key)
                return False
            self._ctx_tokens = tokens
        return True

    # -- serving: raw text and embeddings (the ServingEngine contract) --------------------------
    def complete(self, prompt: str, params: GenerationParams | None = None) -> Iterator[Chunk]:
        """Continue ``prompt`` as it is (no chat template): /v1/completions and Ollama's raw mode."""
        params = params or GenerationParams()
        llm = self._require()
        assert self.info is not None
        n_ctx = self.info.context_length
        with self._lock:
            self._cancel.clear()
            start = time.perf_counter()
            tokens = self._prompt().text(prompt)
            if len(tokens) >= n_ctx:
                raise ContextTooLong(f"The prompt is {len(tokens)} tokens, more than the context of {n_ctx}; "
                                     "shorten it or start the server with a larger --ctx-size.")
            yield from self._generate(llm, tokens, params, n_ctx, start, 0)

    def count_text(self, prompt: str) -> int:
        return len(self._prompt().text(prompt))

    def embed(self, texts: list[str]) -> tuple[list[list[float]], int]:
        """L2-normalised embeddings (the model's pooling, else the mean over tokens) and the token count."""
        self._require()
        assert self._embedder is not None
        with self._lock:
            return self._embedder.embed(texts, self._n_threads)

    def _generate(
        self, llm: Any, prompt: list[int], params: GenerationParams, n_ctx: int, start: float, dropped: int
    ) -> Iterator[Chunk]:
        import llama_cpp

        ctx = llm.ctx
        if self._threads is not None:
            n = self._threads.pick()
            if n != self._n_threads:
                llama_cpp.llama_set_n_threads(ctx, n, n)
                self._n_threads = n
        evaluated = self._evaluate_prompt(llm, prompt)
        sampler = make_sampler(llm, params, self._eog)
        if feeds_prompt(params):
            for tok in prompt[-PENALTY_LAST_N:]:
                llama_cpp.llama_sampler_accept(sampler, tok)
        vocab = llama_cpp.llama_model_get_vocab(llm.model)
        stop = StopMatcher(list(params.stop) + self.template.stop if self.template else list(params.stop))
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        token_buf = (llama_cpp.llama_token * 1)()
        piece_buf = ctypes.create_string_buffer(256)
        limit = n_ctx - len(self._ctx_tokens)
        if params.max_tokens is not None:
            limit = min(limit, params.max_tokens)
        sampled: list[int] = []
        finish: FinishReason = "length"
        first_at = 0.0
        try:
            while len(sampled) < limit:
                if self._cancel.is_set():
                    finish = "cancelled"
                    break
                token = llama_cpp.llama_sampler_sample(sampler, ctx, -1)
                if not sampled:
                    first_at = time.perf_counter()
                if token in self._eog and not params.ignore_eos:
                    finish = "eot"
                    break
                sampled.append(token)
                n = llama_cpp.llama_token_to_piece(vocab, token, piece_buf, len(piece_buf), 0, False)
                text = decoder.decode(piece_buf.raw[: max(n, 0)])
                emit, hit = stop.feed(text)
                if emit:
                    yield Chunk(emit)
                if hit:
                    finish = "stop"
                    break
                if len(sampled) >= limit:
                    break
                token_buf[0] = token
                if llama_cpp.llama_decode(ctx, llama_cpp.llama_batch_get_one(token_buf, 1)) != 0:
                    raise AssistantError("llama.cpp failed to decode a token; the context may be full (try --ctx-size).")
                self._ctx_tokens.append(token)
            if finish != "stop":
                tail = stop.flush() + decoder.decode(b"", final=True)
                if tail:
                    yield Chunk(tail)
        finally:
            llama_cpp.llama_sampler_free(sampler)
            if self._threads is not None:
                self._threads.restart()
        end = time.perf_counter()
        if finish != "stop" and self._prompter is not None:
            self._prompter.remember_reply(sampled)
        decode_time = end - first_at if first_at else 0.0
        stats = Stats(
            prompt_tokens=len(prompt),
            prompt_evaluated=evaluated,
            completion_tokens=len(sampled),
            tokens_per_second=(len(sampled) - 1) / decode_time if len(sampled) > 1 and decode_time > 0 else 0.0,
            time_to_first_token=(first_at - start) if first_at else 0.0,
            total_seconds=end - start,
            dropped_turns=dropped,
            n_ctx=n_ctx,
            context_used=len(self._ctx_tokens),
            threads=self._n_threads,
        )
        yield Chunk("", finish_reason=finish, stats=stats)

    def _evaluate_prompt(self, llm: Any, prompt: list[int]) -> int:
        """Reuse the longest cached prefix, evaluate the rest; returns llama.cpp's count of evaluated tokens."""
        import llama_cpp

        ctx = llm.ctx
        common = 0
        for a, b in zip(self._ctx_tokens, prompt):
            if a != b:
                break
            common += 1
        mem = llama_cpp.llama_get_memory(ctx)
        if common == len(prompt) and self._restore_prompt_logits(llm, prompt, mem):
            return 0  # the same prompt again (a retry): identical logits, nothing to evaluate
        if common == len(prompt):
            common -= 1  # re-evaluate the last token to get fresh logits
        if not llama_cpp.llama_memory_seq_rm(mem, -1, common, -1):
            llama_cpp.llama_memory_clear(mem, True)
            common = 0
        self._ctx_tokens = self._ctx_tokens[:common]
        llama_cpp.llama_synchronize(ctx)  # llama.cpp updates its counters when it synchronizes
        before = llama_cpp.llama_perf_context(ctx)
        n_before = before.n_p_eval + before.n_eval
        todo = prompt[common:]
        n_batch = llm.n_batch
        for i in range(0, len(todo), n_batch):
            part = todo[i : i + n_batch]
            arr = (llama_cpp.llama_token * len(part))(*part)
            if llama_cpp.llama_decode(ctx, llama_cpp.llama_batch_get_one(arr, len(part))) != 0:
                llama_cpp.llama_memory_clear(mem, True)
                self._prompt_logits = None
                self._ctx_tokens = []
                raise AssistantError("llama.cpp failed to evaluate the prompt; try a larger --ctx-size.")
            self._ctx_tokens.extend(part)
        llama_cpp.llama_synchronize(ctx)
        after = llama_cpp.llama_perf_context(ctx)
        self._save_prompt_logits(llm, prompt)
        return int(after.n_p_eval + after.n_eval - n_before)

    def _save_prompt_logits(self, llm: Any, prompt: list[int]) -> None:
        import llama_cpp
        import numpy as np

        ptr = llama_cpp.llama_get_logits_ith(llm.ctx, -1)
        self._prompt_logits = (list(prompt), np.ctypeslib.as_array(ptr, shape=(llm.n_vocab(),)).copy())

    def _restore_prompt_logits(self, llm: Any, prompt: list[int], mem: Any) -> bool:
        """Rewind the KV cache to the end of ``prompt`` and put back the logits saved there.

        Re-evaluating the last prompt token alone would give slightly different logits (a one-token
        batch takes other kernels than the prompt batch did), so a greedy retry would not repeat itself.
        """
        import llama_cpp

        if self._prompt_logits is None or self._prompt_logits[0] != prompt:
            return False
        if not llama_cpp.llama_memory_seq_rm(mem, -1, len(prompt), -1):
            return False
        self._ctx_tokens = self._ctx_tokens[: len(prompt)]
        logits = self._prompt_logits[1]
        ctypes.memmove(llama_cpp.llama_get_logits_ith(llm.ctx, -1), logits.ctypes.data, logits.nbytes)
        return True


def model_path_of(engine: LlamaEngine) -> Path | None:
    return engine.info.path if engine.info else None
