"""Generations for a dev prompt set at each checkpoint, written as JSONL and as Markdown for a
person to read (LIMA picked its checkpoints by hand the same way)."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import torch

from finetune.config import FinetuneConfig
from finetune.data import Turn
from finetune.errors import FinetuneError
from finetune.template import ChatTemplate


def load_prompts(path: Path | None) -> list[dict[str, str]]:
    """The default set (``finetune/dev_prompts.json``) or a JSON array / JSONL file of strings or
    objects with a ``prompt`` (and optional ``id`` and ``system``)."""
    if path is None:
        text = (Path(__file__).parent / "dev_prompts.json").read_text()
        where = "the built-in dev prompts"
    else:
        if not path.is_file():
            raise FinetuneError(f"The dev prompt file {path} does not exist; pass a JSON or JSONL file of prompts.")
        text, where = path.read_text(), str(path)
    try:
        rows = json.loads(text) if text.lstrip().startswith("[") else [json.loads(x) for x in text.splitlines() if x.strip()]
    except json.JSONDecodeError as exc:
        raise FinetuneError(f"{where} is not valid JSON/JSONL ({exc.msg} at line {exc.lineno}).") from exc
    prompts = []
    for i, row in enumerate(rows, 1):
        row = {"prompt": row} if isinstance(row, str) else row
        if not isinstance(row, dict) or not isinstance(row.get("prompt"), str) or not row["prompt"].strip():
            raise FinetuneError(f"Dev prompt {i} in {where} needs a non-empty 'prompt' string.")
        prompts.append({"id": str(row.get("id", i)), "prompt": row["prompt"], "system": row.get("system") or ""})
    if not prompts:
        raise FinetuneError(f"{where} holds no prompts.")
    return prompts


DEV_BATCH = 16  # prompts generated together (left-padded): on a CPU a batch costs little more than one


@torch.no_grad()
def generate(
    model: Any, tokenizer: Any, template: ChatTemplate, prompts: list[dict[str, str]], config: FinetuneConfig,
    device: torch.device, eot_id: int, seed: int, amp: torch.dtype | None = None,
) -> list[dict[str, Any]]:
    """One reply per prompt, sampled as LIMA did (nucleus 0.9, temperature 0.7, repetition penalty
    1.2; greedy when dev_temperature is 0), on a private RNG so training randomness is untouched.
    Prompts go through ``generate`` in left-padded batches; under ``amp`` autocast where the model's
    weights are not all one dtype (an adapter's base in bf16 or 4-bit with fp32 norms)."""
    was_training = model.training
    model.eval()
    out = []
    devices = [device.index or 0] if device.type == "cuda" else []
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eot_id
    sample = config.dev_temperature > 0
    autocast = torch.autocast(device.type, dtype=amp) if amp else contextlib.nullcontext()
    with torch.random.fork_rng(devices=devices), autocast:
        torch.manual_seed(seed)
        for start in range(0, len(prompts), DEV_BATCH):
            group = prompts[start : start + DEV_BATCH]
            encoded = []
            for p in group:
                turns = ([Turn("system", p["system"])] if p["system"] else []) + [Turn("user", p["prompt"])]
                encoded.append(tokenizer(template.prompt(turns), add_special_tokens=False).input_ids)
            width = max(len(x) for x in encoded)
            ids = torch.tensor([[pad_id] * (width - len(x)) + x for x in encoded], device=device)
            mask = torch.tensor([[0] * (width - len(x)) + [1] * len(x) for x in encoded], device=device)
            gen = model.generate(
                ids, attention_mask=mask, max_new_tokens=config.dev_max_new_tokens,
                do_sample=sample, temperature=config.dev_temperature if sample else None,
                top_p=config.dev_top_p if sample else None, top_k=None,
                repetition_penalty=config.dev_repetition_penalty, eos_token_id=eot_id, pad_token_id=pad_id,
            )[:, width:].tolist()
            for p, row in zip(group, gen):
                stopped = eot_id in row
                row = row[: row.index(eot_id) + 1] if stopped else row
                reply = tokenizer.decode(row[:-1] if stopped else row, skip_special_tokens=False)
                out.append({"id": p["id"], "prompt": p["prompt"], "reply": reply, "tokens": len(row), "stopped": stopped})
    model.train(was_training)
    return out


def write(results: list[dict[str, Any]], folder: Path, title: str) -> None:
    with open(folder / "dev_generations.jsonl", "w") as fh:
        for r in results:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    stopped = sum(r["stopped"] for r in results)
    lines = [f"# {title}", "", f"{stopped} of {len(results)} replies ended with the end-of-turn token.", ""]
    for r in results:
        lines += [f"## {r['id']}", "", "**Prompt**", "", r["prompt"], "", "**Reply**"
                  + ("" if r["stopped"] else f" (no end of turn after {r['tokens']} tokens)"), "", r["reply"].strip() or "_(empty)_", ""]
    (folder / "dev_generations.md").write_text("\n".join(lines))
