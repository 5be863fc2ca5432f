"""The three checks: tokenization parity, logits against transformers, perplexity ratio."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from convert.verify.texts import HELD_OUT, build
from models.llama_open import open_llama

NMSE_MAX = 1e-3
TOP1_MIN = 0.98
# quantized / unquantized perplexity, at most
PPL_RATIO_MAX: dict[str, float] = {
    "q8_0": 1.01, "q6_k": 1.02, "q5_k_m": 1.04, "q5_k_s": 1.05, "q5_0": 1.05,
    "q4_k_m": 1.10, "q4_k_s": 1.12, "q4_0": 1.15, "q3_k_m": 1.25, "q2_k": 1.6,
}
PROMPTS = (
    "The capital of France is Paris. The capital of Germany is Berlin. The capital of Italy is",
    "def add(a, b):\n    \"\"\"Return the sum of a and b.\"\"\"\n    return a + b\n\nprint(add(2, 3))",
    "Once upon a time, in a small village by the sea, there lived an old fisherman who",
)


def llama(path: Path, *, vocab_only: bool = False, n_ctx: int = 1024, lora: Path | None = None) -> Any:
    """``path`` in llama.cpp for the checks (with the GGUF LoRA adapter ``lora`` applied, if given)."""
    return open_llama(path, n_ctx=n_ctx, n_batch=n_ctx, vocab_only=vocab_only, logits_all=not vocab_only,
                      flash_attn=False, purpose="verify", lora_path=str(lora) if lora else None)


def tokenization(gguf_path: Path, hf_tok: Any, special_tokens: list[str]) -> dict[str, Any]:
    """llama.cpp and the HF tokenizer must give the same ids for every text."""
    llm = llama(gguf_path, vocab_only=True)
    render = None
    if getattr(hf_tok, "chat_template", None):
        def render(messages: list[dict[str, str]]) -> str:
            return str(hf_tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True))
    texts = build(special_tokens, render)
    mismatches = []
    for text, rendered in texts:
        ours = llm.tokenize(text.encode("utf-8"), add_bos=not rendered, special=True)
        theirs = list(hf_tok(text, add_special_tokens=not rendered)["input_ids"])
        if ours != theirs:
            mismatches.append({"text": text[:80], "llama.cpp": ours[:16], "transformers": theirs[:16]})
    n_chats = sum(1 for _, r in texts if r)
    return {
        "texts": len(texts),
        "chats": n_chats,
        "identical": len(texts) - len(mismatches),
        "mismatches": mismatches[:3],
        "passed": not mismatches,
    }


def _llama_logits(llm: Any, ids: list[int]) -> np.ndarray:
    llm.reset()
    llm.eval(ids)
    return np.array(llm.scores[: len(ids)], dtype=np.float32)


def logits(gguf_path: Path, hf_model: Any, hf_tok: Any, outtype: str, *, lora: Path | None = None,
           against: str | None = None) -> dict[str, Any]:
    """NMSE and top-1 agreement of the unquantized GGUF (plus ``lora``) against transformers (float32)."""
    import torch

    llm = llama(gguf_path, lora=lora)
    num = den = 0.0
    agree = total = decisive = decisive_agree = 0
    for prompt in PROMPTS:
        ids = list(hf_tok(prompt, add_special_tokens=True)["input_ids"])[:256]
        with torch.no_grad():
            ref = hf_model(torch.tensor([ids])).logits[0].float().numpy()
        ours = _llama_logits(llm, ids)
        n = min(ref.shape[1], ours.shape[1])
        ref, ours = ref[:, :n], ours[:, :n]
        num += float(np.sum((ours.astype(np.float64) - ref) ** 2))
        den += float(np.sum(ref.astype(np.float64) ** 2))
        top_ref, top_ours = ref.argmax(1), ours.argmax(1)
        agree += int(np.sum(top_ref == top_ours))
        total += len(ids)
        part = np.partition(ref, -2, axis=1)
        gap = part[:, -1] - part[:, -2]
        sure = gap > 0.05 * ref.std(axis=1)  # positions a rounding error cannot flip
        decisive += int(sure.sum())
        decisive_agree += int(np.sum((top_ref == top_ours) & sure))
    nmse = num / den if den else math.inf
    top1 = agree / total if total else 0.0
    top1_decisive = decisive_agree / decisive if decisive else None
    top1_ok = top1_decisive is None or decisive < 10 or top1_decisive >= TOP1_MIN
    return {
        "against": against or f"{outtype} GGUF vs transformers float32",
        "prompts": len(PROMPTS),
        "tokens": total,
        "nmse": nmse,
        "nmse_max": NMSE_MAX,
        "top1": top1,
        "top1_decisive": top1_decisive,
        "decisive_tokens": decisive,
        "top1_min": TOP1_MIN,
        "passed": nmse < NMSE_MAX and top1_ok,
    }


def _nll(llm: Any, ids: list[int]) -> float:
    scores = _llama_logits(llm, ids).astype(np.float64)
    logz = np.log(np.sum(np.exp(scores - scores.max(1, keepdims=True)), axis=1)) + scores.max(1)
    logp = scores[np.arange(len(ids) - 1), ids[1:]] - logz[:-1]
    return float(-logp.mean())


def perplexity(unquantized: Path, quantized: Path, quant: str, *, lora: Path | None = None) -> dict[str, Any]:
    """Perplexity of both files (each with ``lora``, if given) on the held-out passage (tokenized by llama.cpp)."""
    base = llama(unquantized, lora=lora)
    ids = base.tokenize(HELD_OUT.encode("utf-8"), add_bos=True, special=False)[:1024]
    ppl_base = math.exp(_nll(base, ids))
    del base
    q = llama(quantized, lora=lora)
    ppl_q = math.exp(_nll(q, ids))
    del q
    ratio = ppl_q / ppl_base
    limit = PPL_RATIO_MAX.get(quant, 1.10)
    return {
        "tokens": len(ids),
        "unquantized": ppl_base,
        "quantized": ppl_q,
        "ratio": ratio,
        "ratio_max": limit,
        "passed": ratio <= limit,
    }
