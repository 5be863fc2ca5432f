"""LoRA through peft (``method=lora`` and ``qlora``): which modules get adapters, checked on the base's
config before any weight loads (:func:`plan_adapter`); the adapters put on the loaded base
(:func:`apply_adapters`), with the end-of-turn rows that ``eot_init`` changed trained through peft's
``trainable_token_indices`` rather than the whole embedding; and whether the result can be exported
as an adapter or only merged (:func:`export_note`).

The adapters are peft's own layers; nothing here computes LoRA itself.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from typing import Any

from finetune.config import ALL_LINEAR, FinetuneConfig
from finetune.errors import FinetuneError

NF4_BYTES = 4.127 / 8  # 4-bit NF4 with double quantization: ~0.127 bits a parameter of block constants
MERGED_ONLY_ROWS = ("the end-of-turn or added token rows changed (trained with trainable_token_indices), "
                    "and a GGUF LoRA adapter cannot carry embedding rows")
MERGED_ONLY_DORA = "DoRA (lora_dora=true) has no GGUF adapter form"


@dataclass
class AdapterPlan:
    """What the adapters will be, from the config alone (the model built on the meta device)."""

    method: str
    targets: list[str]  # module names as peft matches them (the last part of a module's path)
    modules: int  # linear layers that get an adapter
    adapter_params: int  # LoRA (and DoRA magnitude) parameters
    linear_params: int  # parameters of the decoder's linear layers: the part QLoRA stores in 4-bit
    embed_name: str  # the input embedding's module name (embed_tokens)
    head_name: str  # the output layer's (lm_head)
    tied: bool  # the output layer shares the input embedding's matrix
    token_rows: list[int] = field(default_factory=list)  # rows trained with trainable_token_indices (set at load)

    def record(self, config: FinetuneConfig) -> dict[str, Any]:
        """The adapter's settings as run.json and provenance.json keep them."""
        return {"method": self.method, "format": "peft", "r": config.lora_r, "alpha": lora_alpha(config),
                "dropout": config.lora_dropout, "targets": self.targets, "rslora": config.lora_rslora,
                "dora": config.lora_dora, "modules": self.modules, "adapter_params": self.adapter_params,
                "trainable_token_indices": self.token_rows,
                "base_quantization": "nf4, double quantization, bf16 compute" if self.method == "qlora" else None}


def lora_alpha(config: FinetuneConfig) -> int:
    return config.lora_alpha if config.lora_alpha is not None else config.lora_r


def quiet_bitsandbytes() -> None:
    """bitsandbytes (imported by peft) logs a warning on CPUs where an optional kernel download fails;
    its own fallback runs, so the line only alarms."""
    logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)


def _leaf(name: str) -> str:
    return name.rsplit(".", 1)[-1]


def plan_adapter(config: FinetuneConfig, model_config: Any) -> AdapterPlan | None:
    """The adapter plan for an adapter method (None for ``full``). Refuses, in one sentence, targets the
    base lacks, the output layer or the embeddings, and a rank wider than a targeted layer."""
    if not config.adapters:
        return None
    import torch
    from torch import nn
    from transformers import AutoModelForCausalLM

    from finetune.modeling import decoder_layers

    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(model_config)
    names = {id(m): n for n, m in model.named_modules()}
    embed, head = model.get_input_embeddings(), model.get_output_embeddings()
    embed_name, head_name = _leaf(names[id(embed)]), _leaf(names[id(head)]) if head is not None else "lm_head"
    tied = head is not None and head.weight is embed.weight
    linears: dict[str, list[nn.Linear]] = {}
    for layer in decoder_layers(model):
        for name, module in layer.named_modules():
            if isinstance(module, nn.Linear):
                linears.setdefault(_leaf(name), []).append(module)
    arch = type(model).__name__
    if config.lora_targets.strip() == ALL_LINEAR:
        targets = list(linears)
    else:
        targets = [t.strip() for t in config.lora_targets.split(",") if t.strip()]
        _check_targets(targets, linears, embed_name, head_name, tied, arch)
    chosen = [m for t in targets for m in linears[t]]
    r = config.lora_r
    narrowest = min(min(m.in_features, m.out_features) for m in chosen)
    if r > narrowest:
        raise FinetuneError(f"lora_r={r} is wider than the narrowest targeted layer of {arch} ({narrowest}); "
                            f"use lora_r={narrowest} or less.")
    params = sum(r * (m.in_features + m.out_features) + (m.out_features if config.lora_dora else 0) for m in chosen)
    linear_params = sum(m.weight.numel() for ms in linears.values() for m in ms)
    return AdapterPlan(config.method, targets, len(chosen), params, linear_params, embed_name, head_name, tied)


def _check_targets(targets: list[str], linears: dict[str, Any], embed_name: str, head_name: str, tied: bool,
                   arch: str) -> None:
    if head_name in targets or embed_name in targets:
        which = head_name if head_name in targets else embed_name
        if tied:
            raise FinetuneError(
                f"lora_targets names {which}, but {arch}'s output layer is tied to its input embedding: an adapter "
                "there would change both, and the output layer is never a LoRA target; the end-of-turn rows are "
                "trained through trainable_token_indices instead (drop it from lora_targets).")
        raise FinetuneError(f"lora_targets names {which}; the output layer and the embeddings are never LoRA targets "
                            "(the end-of-turn rows train through trainable_token_indices); drop it from lora_targets.")
    unknown = [t for t in targets if t not in linears]
    if unknown:
        raise FinetuneError(f"lora_targets names {', '.join(unknown)}, which {arch} has no linear layer called; "
                            f"its decoder's linear layers are {', '.join(linears)} (or use lora_targets=all-linear).")


def changed_rows(added_ids: list[int], eot_id: int, eot_record: dict[str, Any] | None) -> list[int]:
    """Token rows this run changes in the embedding (and untied output layer): rows of added tokens,
    and the EOT's when ``eot_init`` seeded it."""
    rows = set(added_ids)
    if eot_record and eot_record.get("action") in ("eos", "mean"):
        rows.add(eot_id)
    return sorted(rows)


def apply_adapters(model: Any, config: FinetuneConfig, plan: AdapterPlan, seed: int) -> Any:
    """peft's LoRA on ``plan.targets`` of the loaded base (frozen), plus ``plan.token_rows`` of the
    embedding (and of the output layer when untied) through ``trainable_token_indices``; returns the
    PeftModel (its layers are injected into ``model``, which stays what the loop runs). The adapter
    weights start from ``seed``, so every process and every run starts them alike."""
    import torch

    quiet_bitsandbytes()
    from peft import LoraConfig, get_peft_model

    indices: dict[str, list[int]] | None = None
    if plan.token_rows:
        indices = {plan.embed_name: plan.token_rows}
        if not plan.tied:
            indices[plan.head_name] = plan.token_rows
    lora = LoraConfig(
        r=config.lora_r, lora_alpha=lora_alpha(config), lora_dropout=config.lora_dropout,
        target_modules=plan.targets, use_rslora=config.lora_rslora, use_dora=config.lora_dora, bias="none",
        task_type="CAUSAL_LM", trainable_token_indices=indices,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        peft_model = get_peft_model(model, lora, autocast_adapter_dtype=True)
    return peft_model


def export_note(plan: AdapterPlan, config: FinetuneConfig) -> str | None:
    """Why this run can only be exported merged, or None when ``convert --adapter`` can take it."""
    reasons = ([MERGED_ONLY_ROWS] if plan.token_rows else []) + ([MERGED_ONLY_DORA] if config.lora_dora else [])
    return "; ".join(reasons) or None


def describe(plan: AdapterPlan, config: FinetuneConfig, n_params: int) -> str:
    scale = "alpha/sqrt(r)" if config.lora_rslora else "alpha/r"
    return (f"Method: {plan.method} ({'LoRA on a 4-bit NF4 base' if plan.method == 'qlora' else 'LoRA on a frozen base'}"
            f"{', DoRA' if config.lora_dora else ''}): r {config.lora_r}, alpha {lora_alpha(config):g} ({scale}), "
            f"dropout {config.lora_dropout:g}, on {', '.join(plan.targets)} ({plan.modules} layers): "
            f"{plan.adapter_params:,} trainable parameters ({plan.adapter_params / max(n_params, 1):.2%} of the base)")


def plan_dict(plan: AdapterPlan | None) -> dict[str, Any] | None:
    return asdict(plan) if plan else None
