"""A stopgap for the llama.cpp binding: builds whose ``llama_sampler_init_penalties`` takes
``n_vocab`` first (5 arguments) reject the engine's 4-argument call, so any repetition penalty
other than 1.0 fails with a TypeError. LIMA's sampling uses 1.2, so eval installs this adapter.

It only fills in ``n_vocab`` when the call lacks it (which llama.cpp uses for backend sampling
only, not for the CPU sampler chain the engine builds); a 5-argument call passes through, so it
is harmless once assistant/engine/llama.py passes ``llm.n_vocab()`` itself, and can be deleted then.
"""

from __future__ import annotations

from typing import Any

_VOCAB_BOUND = 1 << 20  # an upper bound on vocabulary sizes; only sizes backend buffers


def fix_penalties_signature() -> bool:
    """Install the adapter if this binding needs it; True when installed (now or before)."""
    import llama_cpp

    original = llama_cpp.llama_sampler_init_penalties
    if getattr(original, "_assistant_adapter", False):
        return True
    argtypes = getattr(original, "argtypes", None)
    if argtypes is None or len(argtypes) != 5:
        return False

    def adapter(*args: Any) -> Any:
        if len(args) == 4:
            args = (_VOCAB_BOUND, *args)
        return original(*args)

    adapter._assistant_adapter = True  # type: ignore[attr-defined]
    llama_cpp.llama_sampler_init_penalties = adapter
    return True
