"""The generation runner: one reply per prompt through a ChatEngine, appended to the run as it
completes, so a run that is interrupted continues where it stopped.

The interface mirrors finetune's dev-set generations (``finetune/evaluate.py``, which generates
with torch during training and cannot import this package): the same prompt-set format
(:mod:`assistant.eval.promptset`), LIMA's sampling, one record per prompt keyed by ``id`` with the
reply and how it ended, and ``eval stats`` reads both kinds of records.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from assistant.engine.base import ChatEngine, GenerationParams, Message, collect
from assistant.eval.promptset import PromptSet
from assistant.eval.runs import GENERATIONS, append_jsonl, now, read_jsonl, read_meta, write_meta
from models.errors import AssistantError

# LIMA, section 4: nucleus sampling p = 0.9, temperature 0.7, repetition penalty 1.2, at most
# 2,048 tokens. No top-k or min-p cut (the paper names none).
LIMA_SAMPLING: dict[str, Any] = {"temperature": 0.7, "top_p": 0.9, "top_k": 0, "min_p": 0.0,
                                 "repeat_penalty": 1.2, "max_tokens": 2048, "seed": 0}
# Settings that must match for a run to be resumed (the rest, like threads, may differ).
_RESUME_KEYS = ("temperature", "top_p", "top_k", "min_p", "repeat_penalty", "max_tokens", "seed", "system")

Progress = Callable[[dict[str, Any], int, int], None]


def lima_params(**overrides: Any) -> GenerationParams:
    values = {**LIMA_SAMPLING, **{k: v for k, v in overrides.items() if v is not None}}
    return GenerationParams(**{k: values[k] for k in LIMA_SAMPLING})


def prompt_seed(seed: int, prompt_id: str) -> int:
    """Each prompt gets its own seed, so a resumed run samples exactly what an unbroken one would."""
    return (seed + zlib.crc32(prompt_id.encode("utf-8"))) & 0x7FFFFFFF


def settings_of(params: GenerationParams, system: str | None, **extra: Any) -> dict[str, Any]:
    data = {k: v for k, v in asdict(params).items() if k in _RESUME_KEYS}
    return {**data, "system": system, **extra}


def model_record(engine: ChatEngine, resolved: Any = None) -> dict[str, Any]:
    """What identifies the model in a run: the engine's view plus the store's manifest, if any."""
    info = engine.info
    record: dict[str, Any] = {}
    if info is not None:
        record = {"name": info.name, "path": str(info.path), "arch": info.arch, "n_params": info.n_params,
                  "quant": info.quant, "n_ctx": info.context_length, "backend": info.backend,
                  "template_origin": info.template_origin, "eot_tokens": list(info.eot_tokens)}
    if resolved is not None:
        record["name"] = resolved.name
        record["source"] = resolved.source
        manifest = resolved.manifest
        if manifest is not None:
            record["sha256"] = manifest.sha256
            record["license"] = manifest.license
    return record


def _check_resumable(out: Path, model: dict[str, Any], settings: dict[str, Any]) -> dict[str, Any] | None:
    if out.exists() and not out.is_dir():
        raise AssistantError(f"{out} is a file; pass a folder to --out.")
    if not (out / "run.json").exists():
        if out.exists() and any(out.iterdir()):
            raise AssistantError(f"{out} exists and is not an eval run; pass another --out.")
        return None
    meta = read_meta(out)
    if meta.get("kind") != "generate":
        raise AssistantError(f"{out} holds a {meta.get('kind')!r} run; pass another --out for generations.")
    old_model = meta.get("model", {})
    if (old_model.get("name"), old_model.get("path")) != (model.get("name"), model.get("path")):
        raise AssistantError(f"{out} holds replies of {old_model.get('name')!r}; to resume it pass --model "
                             f"{old_model.get('name')}, or pass another --out for {model.get('name')!r}.")
    old = {k: meta.get("settings", {}).get(k) for k in _RESUME_KEYS}
    new = {k: settings.get(k) for k in _RESUME_KEYS}
    if old != new:
        diff = ", ".join(f"{k} {old[k]!r} (now {new[k]!r})" for k in _RESUME_KEYS if old[k] != new[k])
        raise AssistantError(f"{out} was generated with {diff}; resume it with the same settings, or pass another --out.")
    return meta


def run_generation(
    engine: ChatEngine, prompts: PromptSet, out: Path, *, params: GenerationParams, model: dict[str, Any],
    provenance: dict[str, Any] | None = None, system: str | None = None, label: str | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Generate every prompt not yet in ``out/generations.jsonl``; returns the run's metadata."""
    settings = settings_of(params, system)
    old = _check_resumable(out, model, settings)
    out.mkdir(parents=True, exist_ok=True)
    done_rows = read_jsonl(out / GENERATIONS, repair=True)
    done = {str(r["id"]) for r in done_rows}
    meta: dict[str, Any] = old or {"kind": "generate", "created": now()}
    meta.update({"label": label or meta.get("label") or model.get("name"), "model": model,
                 "provenance": provenance, "settings": settings, "complete": False,
                 "prompts": {"file": prompts.source, "sha256": prompts.sha256, "count": len(prompts.prompts)}})
    write_meta(out, meta)
    todo = [p for p in prompts.prompts if p.id not in done]
    base_seed = params.seed or 0
    for n, prompt in enumerate(todo, 1):
        messages = list(prompt.messages)
        if system and not any(m["role"] == "system" for m in messages):
            messages.insert(0, {"role": "system", "content": system})
        p = params.with_overrides(seed=prompt_seed(base_seed, prompt.id))
        text, last = collect(engine.stream([Message(m["role"], m["content"]) for m in messages], p))
        row = {"id": prompt.id, "messages": messages, "reply": text, "finish_reason": last.finish_reason,
               "stats": last.stats.as_dict() if last.stats else {}, "seed": p.seed,
               **({"meta": prompt.meta} if prompt.meta else {})}
        append_jsonl(out / GENERATIONS, row)
        if progress:
            progress(row, n, len(todo))
    all_ids = {str(r["id"]) for r in read_jsonl(out / GENERATIONS)}
    meta["complete"] = all(p.id in all_ids for p in prompts.prompts)
    meta["replies"] = len(all_ids)
    write_meta(out, meta)
    return meta
