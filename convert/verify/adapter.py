"""The checks an adapter's conversion adds, with peft's model (the base plus the adapter) as reference:

- ``adapter``: the export changes greedy output against the bare base (an adapter that is not applied,
  or that never trained, leaves it as it was);
- ``chat``: where the reference model ends a short chat turn on its own, llama.cpp ends it on the same
  token and that token is one the GGUF stops on (a tiny random model never ends a turn: not applicable);
- ``template``: the chat template and the end-of-turn id the adapter was trained with are in the GGUF
  that chat runs.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from convert.verify.checks import PROMPTS, llama
from models.eot import end_of_generation_tokens
from models.gguf_file import read_gguf

GREEDY_TOKENS = 24
CHAT_TOKENS = 64
CHAT = [{"role": "user", "content": "What is the capital of France? Answer in one short sentence."}]


def greedy_torch(model: Any, ids: list[int], n: int, stop: set[int] | None = None) -> list[int]:
    """``n`` greedy tokens after ``ids`` (fewer when a ``stop`` token comes), with the KV cache."""
    import inspect

    import torch

    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    key = "cache" if "cache" in inspect.signature(inner.forward).parameters else "past_key_values"  # transformers 5.x
    out: list[int] = []
    with torch.no_grad():
        result = model(input_ids=torch.tensor([ids]), use_cache=True)
        for _ in range(n):
            nxt = int(result.logits[0, -1].argmax())
            out.append(nxt)
            if stop and nxt in stop:
                break
            past = getattr(result, key, None)
            result = model(input_ids=torch.tensor([[nxt]]), use_cache=True, **{key: past})
    return out


def greedy_llama(llm: Any, ids: list[int], n: int) -> list[int]:
    llm.reset()
    llm.eval(ids)
    out: list[int] = []
    for _ in range(n):
        nxt = int(np.argmax(llm.scores[llm.n_tokens - 1]))
        out.append(nxt)
        llm.eval([nxt])
    return out


def _prompt_ids(tok: Any) -> list[list[int]]:
    ids = [list(tok(p, add_special_tokens=True)["input_ids"])[:64] for p in PROMPTS]
    if getattr(tok, "chat_template", None):
        ids.append(_chat_ids(tok))
    return ids


def _chat_ids(tok: Any) -> list[int]:
    text = tok.apply_chat_template(CHAT, tokenize=False, add_generation_prompt=True)
    return list(tok(str(text), add_special_tokens=False)["input_ids"])


def applied(export: Path, lora: Path | None, model: Any, tok: Any) -> dict[str, Any]:
    """Greedy continuations: the export's against the bare base's (llama.cpp without the adapter when
    the export is an adapter; transformers with peft's adapter disabled when it is merged)."""
    prompts = _prompt_ids(tok)
    llm = llama(export, lora=lora)
    ours = [greedy_llama(llm, ids, GREEDY_TOKENS) for ids in prompts]
    del llm
    peft_on = [greedy_torch(model, ids, GREEDY_TOKENS) for ids in prompts]
    with model.disable_adapter():
        peft_off = [greedy_torch(model, ids, GREEDY_TOKENS) for ids in prompts]
    if lora is not None:
        bare_llm = llama(export)
        bare = [greedy_llama(bare_llm, ids, GREEDY_TOKENS) for ids in prompts]
        del bare_llm
        base_from = "llama.cpp without the adapter"
    else:
        bare, base_from = peft_off, "transformers with the adapter disabled"
    moves = sum(a != b for a, b in zip(peft_on, peft_off))
    differs = sum(a != b for a, b in zip(ours, bare))
    return {
        "prompts": len(prompts),
        "tokens": GREEDY_TOKENS,
        "base_from": base_from,
        "differs_from_base": differs,
        "moves_in_transformers": moves,
        "matches_peft": sum(a == b for a, b in zip(ours, peft_on)),
        "passed": differs > 0 and moves > 0,
    }


def chat_stop(export: Path, lora: Path | None, chat_gguf: Path, model: Any, tok: Any) -> dict[str, Any]:
    """Does a short chat end on its own end of turn, in llama.cpp as in the reference?"""
    eog = {i for i, _ in end_of_generation_tokens(read_gguf(chat_gguf))}
    stop = eog | ({tok.eos_token_id} if isinstance(tok.eos_token_id, int) else set())
    if not getattr(tok, "chat_template", None):
        return {"applicable": False, "reason": "no chat template", "passed": True}
    ids = _chat_ids(tok)
    gen = greedy_torch(model, ids, CHAT_TOKENS, stop)
    if not gen or gen[-1] not in stop:
        return {"applicable": False, "max_tokens": CHAT_TOKENS, "passed": True,
                "reason": f"the peft model does not end its turn within {CHAT_TOKENS} tokens"}
    llm = llama(export, lora=lora)
    llm.reset()
    llm.eval(ids + gen[:-1])
    scores = np.array(llm.scores[len(ids) - 1: len(ids) + len(gen) - 1], dtype=np.float32)
    del llm
    last = scores[-1]
    top2 = np.argsort(last)[-2:][::-1]
    gap = float(last[top2[0]] - last[top2[1]])
    sure = gap > 0.05 * float(last.std())
    ends = int(top2[0]) == gen[-1] or (not sure and gen[-1] in top2.tolist())
    token = tok.convert_ids_to_tokens(gen[-1])
    return {
        "applicable": True,
        "after": len(gen),
        "token": str(token),
        "agree": float(np.mean(scores.argmax(1) == np.array(gen))),
        "stops_on_it": gen[-1] in eog,
        "passed": bool(ends and gen[-1] in eog),
    }


def template_eot(chat_gguf: Path, template: str | None, eot_id: int | None) -> dict[str, Any]:
    """The GGUF that chat runs carries the adapter's chat template and stops on its end-of-turn id."""
    info = read_gguf(chat_gguf)
    eog = dict(end_of_generation_tokens(info))
    same = template is None or (info.chat_template or "") == template
    return {
        "gguf": chat_gguf.name,
        "expected": template is not None,
        "template_same": same,
        "eot_token_id": eot_id,
        "eot_token": eog.get(eot_id) if eot_id is not None else None,
        "passed": bool(same and info.chat_template and (eot_id is None or eot_id in eog)),
    }


def checks(export: Path, lora: Path | None, chat_gguf: Path, template: str | None,
           eot_id: int | None) -> Callable[[Any, Any], dict[str, Any]]:
    """``extra`` for ``verify.run``: the three sections, run with the reference model and tokenizer."""

    def run(model: Any, tok: Any) -> dict[str, Any]:
        eot = eot_id if eot_id is not None else (tok.eos_token_id if isinstance(tok.eos_token_id, int) else None)
        return {
            "adapter": applied(export, lora, model, tok),
            "chat": chat_stop(export, lora, chat_gguf, model, tok),
            "template": template_eot(chat_gguf, template, eot),
        }

    return run
