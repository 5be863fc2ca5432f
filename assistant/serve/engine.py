"""What a server needs from the llama.cpp engine beyond chat: raw-text completions, a grammar (JSON
mode, JSON schema), presence/frequency penalties and embeddings. Rendering, the end-of-generation
tokens, stop strings and prefix reuse are LlamaEngine's own; this subclass only adds to its sampler
chain and feeds its decode loop a prompt that is not a conversation."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

from assistant.engine.base import Chunk, GenerationParams, LoadOptions, ModelInfo
from assistant.engine.llama import PENALTY_LAST_N, LlamaEngine
from assistant.serve.errors import ContextTooLong, bad_request
from models.errors import AssistantError
from models.resolve import ResolvedModel

EMBED_CTX = 2048  # tokens one input to embed may have


@dataclass
class ServeParams(GenerationParams):
    grammar: str | None = None  # GBNF, root rule "root"
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    reply_repeat_penalty: float = 1.0  # a repeat penalty over the reply only (set with a grammar)

    @classmethod
    def of(cls, base: GenerationParams, **extra: Any) -> ServeParams:
        data = {k: v for k, v in asdict(base).items() if k in GenerationParams.__dataclass_fields__}
        return cls(**data, **extra)


def json_grammar(schema: dict[str, Any] | None) -> str:
    """GBNF for any JSON object (``None``) or for a JSON schema, through llama-cpp-python's converter."""
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    try:
        return json_schema_to_gbnf(json.dumps(schema if schema is not None else {"type": "object"}))
    except Exception as exc:  # the converter raises bare exceptions for schemas it cannot express
        raise bad_request(f"The JSON schema cannot be turned into a grammar ({exc}); simplify it.",
                          param="response_format") from exc


class ServeEngine(LlamaEngine):
    def __init__(self) -> None:
        super().__init__()
        self._embedder: Any = None
        self._options = LoadOptions()

    def load(self, model: str | ResolvedModel | None, options: LoadOptions | None = None) -> ModelInfo:
        self._options = options or LoadOptions()
        return super().load(model, options)

    def close(self) -> None:
        if self._embedder is not None:
            self._embedder.close()
            self._embedder = None
        super().close()

    # -- sampling -----------------------------------------------------------------------------
    def _make_sampler(self, llm: Any, params: GenerationParams) -> Any:
        import llama_cpp

        base = super()._make_sampler(llm, params)
        if not isinstance(params, ServeParams):
            return base
        penalties = params.presence_penalty or params.frequency_penalty or params.reply_repeat_penalty != 1.0
        if not (params.grammar or penalties):
            return base
        chain = llama_cpp.llama_sampler_chain_init(llama_cpp.llama_sampler_chain_default_params())
        if params.grammar:
            vocab = llama_cpp.llama_model_get_vocab(llm.model)
            grammar = llama_cpp.llama_sampler_init_grammar(vocab, params.grammar.encode("utf-8"), b"root")
            if not grammar:
                llama_cpp.llama_sampler_free(base)
                llama_cpp.llama_sampler_free(chain)
                raise bad_request("llama.cpp could not parse the grammar made from response_format.",
                                  param="response_format")
            llama_cpp.llama_sampler_chain_add(chain, grammar)
        if penalties:
            llama_cpp.llama_sampler_chain_add(chain, llama_cpp.llama_sampler_init_penalties(
                llm.n_vocab(), PENALTY_LAST_N, params.reply_repeat_penalty, params.frequency_penalty, params.presence_penalty))
        llama_cpp.llama_sampler_chain_add(chain, base)  # a chain is a sampler: ours runs after the grammar
        return chain

    def stream(self, messages: Any, params: GenerationParams | None = None) -> Iterator[Chunk]:
        return super().stream(messages, _grammar_safe(params))

    # -- raw text -----------------------------------------------------------------------------
    def complete(self, prompt: str, params: GenerationParams | None = None) -> Iterator[Chunk]:
        """Continue ``prompt`` as it is (no chat template): /v1/completions and Ollama's raw mode."""
        params = _grammar_safe(params) or GenerationParams()
        llm = self._require()
        assert self.info is not None
        n_ctx = self.info.context_length
        with self._lock:
            self._cancel.clear()
            start = time.perf_counter()
            tokens = llm.tokenize(prompt.encode("utf-8"), add_bos=self._wants_bos(prompt), special=True)
            if len(tokens) >= n_ctx:
                raise ContextTooLong(f"The prompt is {len(tokens)} tokens, more than the context of {n_ctx}; "
                                     "shorten it or start the server with a larger --ctx-size.")
            yield from self._generate(llm, tokens, params, n_ctx, start, 0)

    def count_text(self, prompt: str) -> int:
        llm = self._require()
        return len(llm.tokenize(prompt.encode("utf-8"), add_bos=self._wants_bos(prompt), special=True))

    # -- embeddings ---------------------------------------------------------------------------
    def embed(self, texts: list[str]) -> tuple[list[list[float]], int]:
        """L2-normalised embeddings (the model's pooling, else the mean over tokens) and the token count."""
        import llama_cpp

        self._require()
        assert self.info is not None and self._gguf is not None
        with self._lock:
            if self._embedder is None:
                declared = self._gguf.metadata.get(f"{self.info.arch}.pooling_type")
                pooling = declared if isinstance(declared, int) and declared > 0 else llama_cpp.LLAMA_POOLING_TYPE_MEAN
                n_ctx = min(EMBED_CTX, self.info.trained_context)
                gpu_layers = self._options.n_gpu_layers
                if gpu_layers is None:
                    gpu_layers = -1 if self.info.backend != "CPU" else 0
                try:
                    self._embedder = llama_cpp.Llama(
                        model_path=str(self.info.path), embedding=True, n_ctx=n_ctx, n_batch=n_ctx, n_ubatch=n_ctx,
                        n_threads=self._n_threads or None, n_threads_batch=self._n_threads or None,
                        n_gpu_layers=gpu_layers,
                        pooling_type=pooling, verbose=self._options.verbose,
                    )
                except (ValueError, RuntimeError, OSError) as exc:
                    raise AssistantError(f"llama.cpp could not open {self.info.path.name} for embeddings ({exc}).") from exc
            emb = self._embedder
            if self._n_threads:  # as many threads as the last reply ran on (the engine picks them per reply)
                llama_cpp.llama_set_n_threads(emb.ctx, self._n_threads, self._n_threads)
            counts = [len(emb.tokenize(t.encode("utf-8"))) for t in texts]
            if counts and max(counts) > emb.n_batch:
                raise ContextTooLong(f"An input to embed is {max(counts)} tokens, more than the {emb.n_batch} "
                                     "this server embeds at once; split it.")
            vectors = [list(map(float, emb.embed(t, normalize=True, truncate=False))) for t in texts]
        return vectors, sum(counts)


def _grammar_safe(params: GenerationParams | None) -> GenerationParams | None:
    """The engine feeds the prompt to the sampler chain for the repeat penalty; a grammar must not see
    the prompt, so with a grammar the repeat penalty covers the reply only (as a penalties sampler)."""
    if isinstance(params, ServeParams) and params.grammar and params.repeat_penalty != 1.0:
        return dataclasses.replace(params, repeat_penalty=1.0, reply_repeat_penalty=params.repeat_penalty)
    return params
