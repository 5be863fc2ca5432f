"""llama.cpp sampler chains from GenerationParams: grammar, penalties, end-of-generation ban, then
greedy or top-k / top-p / min-p / temperature / a seeded draw.

A grammar is lazy when ``grammar_triggers`` are set: llama.cpp leaves the text free until one of the
patterns matches, then constrains from the match on (tool calls: the format's opening marker).

The repeat penalty normally looks back over the prompt too (the engine feeds the prompt's last
tokens to the chain). A grammar must not see the prompt, so with a grammar the repeat penalty
covers the reply only, in the same penalties sampler as OpenAI's presence/frequency penalties."""

from __future__ import annotations

import re
from typing import Any

from assistant.engine.base import BadGrammar, GenerationParams

PENALTY_LAST_N = 64  # tokens the repetition penalty looks back over (llama.cpp's default)


def feeds_prompt(params: GenerationParams) -> bool:
    """Whether the prompt's last tokens go to the chain before sampling (for the repeat penalty)."""
    return params.repeat_penalty != 1.0 and not params.grammar


def make_sampler(llm: Any, params: GenerationParams, eog: set[int]) -> Any:
    """A new chain for one reply; the caller frees it with ``llama_sampler_free``."""
    import llama_cpp

    for pattern in params.grammar_triggers or []:  # std::regex aborts the process on a pattern it cannot compile
        try:
            re.compile(pattern)
        except re.error as exc:
            raise BadGrammar(f"The grammar trigger {pattern!r} is not a valid regular expression ({exc}).") from None
    chain = llama_cpp.llama_sampler_chain_init(llama_cpp.llama_sampler_chain_default_params())
    add = llama_cpp.llama_sampler_chain_add
    reply_repeat = params.repeat_penalty if params.grammar else 1.0
    if params.grammar:
        grammar = _grammar_sampler(llm, params.grammar, params.grammar_triggers)
        if not grammar:
            llama_cpp.llama_sampler_free(chain)
            raise BadGrammar("llama.cpp could not parse the grammar; check its GBNF (root rule \"root\").")
        add(chain, grammar)
    if params.presence_penalty or params.frequency_penalty or reply_repeat != 1.0:
        add(chain, llama_cpp.llama_sampler_init_penalties(
            llm.n_vocab(), PENALTY_LAST_N, reply_repeat, params.frequency_penalty, params.presence_penalty))
    if params.ignore_eos and eog:
        biases = (llama_cpp.llama_logit_bias * len(eog))()
        for i, tok in enumerate(sorted(eog)):
            biases[i].token = tok  # type: ignore[assignment]
            biases[i].bias = float("-inf")
        add(chain, llama_cpp.llama_sampler_init_logit_bias(llm.n_vocab(), len(eog), biases))
    if feeds_prompt(params):
        # The binding takes n_vocab first (it sizes backend sampling buffers only).
        add(chain, llama_cpp.llama_sampler_init_penalties(llm.n_vocab(), PENALTY_LAST_N, params.repeat_penalty, 0.0, 0.0))
    if params.temperature <= 0:
        add(chain, llama_cpp.llama_sampler_init_greedy())
        return chain
    if params.top_k > 0:
        add(chain, llama_cpp.llama_sampler_init_top_k(params.top_k))
    if params.top_p < 1.0:
        add(chain, llama_cpp.llama_sampler_init_top_p(params.top_p, 1))
    if params.min_p > 0:
        add(chain, llama_cpp.llama_sampler_init_min_p(params.min_p, 1))
    add(chain, llama_cpp.llama_sampler_init_temp(params.temperature))
    seed = params.seed if params.seed is not None else llama_cpp.LLAMA_DEFAULT_SEED
    add(chain, llama_cpp.llama_sampler_init_dist(seed & 0xFFFFFFFF))
    return chain


def _grammar_sampler(llm: Any, gbnf: str, triggers: list[str] | None) -> Any:
    """The grammar sampler: from the first token, or lazy (from the first match of a trigger pattern)."""
    import ctypes

    import llama_cpp

    vocab = llama_cpp.llama_model_get_vocab(llm.model)
    if not triggers:
        return llama_cpp.llama_sampler_init_grammar(vocab, gbnf.encode("utf-8"), b"root")
    encoded = [p.encode("utf-8") for p in triggers]
    patterns = (ctypes.c_char_p * len(encoded))(*encoded)
    return llama_cpp.llama_sampler_init_grammar_lazy_patterns(
        vocab, gbnf.encode("utf-8"), b"root", patterns, len(encoded), None, 0)
