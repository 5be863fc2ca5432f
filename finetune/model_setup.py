"""The model as the loop trains it, by ``method``: the base (fp32 for ``full``; for ``lora`` bf16 where
the run computes in bf16, else fp32; for ``qlora`` 4-bit NF4), its new token rows, the EOT's starting
rows (a new run), peft's adapters on a frozen base (``lora``, ``qlora``), residual dropout and
activation checkpointing, in training mode."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from finetune import distributed, epoch_end
from finetune.prepared import Prepared


@dataclass
class LoadedModel:
    model: Any  # the transformers model (with peft's layers injected when adapters train): what the loop runs
    peft: Any | None  # the PeftModel around it (adapter methods): what checkpoints save
    eot_id: int
    pad_id: int
    eot_record: dict[str, Any] | None
    rates: list[float]  # residual dropout per layer


def _base(p: Prepared, device: torch.device, amp: torch.dtype | None) -> tuple[Any, bool]:
    """(the loaded base, whether its weights are below fp32: then forwards run under autocast)."""
    from finetune.base import load_model

    c = p.config
    if c.method == "qlora":
        from finetune.qlora import load_4bit

        return load_4bit(p.folder, c.attn_implementation, device), True
    if c.method == "lora" and amp is torch.bfloat16:  # a frozen base needs no fp32 master copy
        return load_model(p.folder, c.attn_implementation, torch.bfloat16), True
    return load_model(p.folder, c.attn_implementation), False


def load_for_training(p: Prepared, device: torch.device, amp: torch.dtype | None, world: distributed.World,
                      say: Callable[[str], None]) -> LoadedModel:
    from finetune.eot_init import init_eot_rows
    from finetune.modeling import add_residual_dropout, init_new_token_rows

    c, out = p.config, p.out
    assert c.residual_dropout is not None and c.loss_chunk is not None
    model, low_precision = _base(p, device, amp)
    added_ids = init_new_token_rows(model, p.tokenizer, p.template.added)
    eot_id = int(p.tokenizer.convert_tokens_to_ids(p.template.eot))
    pad_id = p.tokenizer.pad_token_id if p.tokenizer.pad_token_id is not None else eot_id
    placed = c.method == "qlora"  # a 4-bit model is placed as it loads (and refuses .to())
    eot_record = None
    if not p.args.resume:  # a resumed run's weights come from its state, EOT rows included
        if not placed:
            model.to(device)
        eot_record = init_eot_rows(
            model, p.val or p.encoded, mode=c.eot_init, eot_id=eot_id, eot_is_new=p.template.eot in p.template.added,
            original_eos=p.stats["original_eos"], vocab_size=len(p.tokenizer), device=device, pad_id=pad_id,
            chunk=c.loss_chunk, say=say, amp=amp if low_precision else None)
        if world.main:
            epoch_end.update_run_json(out, eot_init=eot_record)
    elif (out / "run.json").is_file():
        import json

        eot_record = json.loads((out / "run.json").read_text()).get("eot_init")
    peft_model = _adapters(p, model, low_precision, added_ids, eot_id, eot_record, world, say) if c.adapters else None
    rates = add_residual_dropout(model, c.residual_dropout)
    if c.gradient_checkpointing:
        kwargs = {"use_reentrant": False}  # non-reentrant: gradients reach adapters whose inputs need none
        if hasattr(model, "activation_checkpointing_enable"):  # transformers >= 5.x
            model.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
        else:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)
        if peft_model is not None:
            model.enable_input_require_grads()  # the embedding's output carries grad into each checkpointed layer
    model.config.use_cache = False
    if not placed:
        model.to(device)
    model.train()
    return LoadedModel(model, peft_model, eot_id, pad_id, eot_record, rates)


def _adapters(p: Prepared, model: Any, low_precision: bool, added_ids: list[int], eot_id: int,
              eot_record: dict[str, Any] | None, world: distributed.World, say: Callable[[str], None]) -> Any:
    """peft's LoRA on the frozen base; the changed token rows through trainable_token_indices; the
    adapter's record in run.json; a line saying how the result can be exported."""
    from finetune.lora import apply_adapters, changed_rows, export_note

    c, plan = p.config, p.adapter
    assert plan is not None
    if low_precision:
        from finetune.qlora import upcast_norms

        upcast_norms(model)
    plan.token_rows = changed_rows(added_ids, eot_id, eot_record)
    peft_model = apply_adapters(model, c, plan, c.seed)
    note = export_note(plan, c)
    if world.main:
        if not p.args.resume:
            epoch_end.update_run_json(p.out, adapter={**plan.record(c), "adapter_export": note is None,
                                                      "adapter_export_reason": note})
        if plan.token_rows:
            say(f"Token rows {plan.token_rows} (the end of turn{' and added tokens' if added_ids else ''}) train "
                "through trainable_token_indices, not the whole embedding.")
        if note:
            say(f"This run can only be exported merged (`assistant convert CHECKPOINT`), not with --adapter: {note}.")
        else:
            say("The adapter can be exported as it is (`assistant convert CHECKPOINT --adapter`) or merged (the default).")
    return peft_model
