"""What every checkpoint's ``provenance.json`` records: the base and its sha256, the data, the fit,
the held-out split, ``eot_init``, the recipe and epoch, the template and EOT, that epoch's stop
diagnostics, and how it trained (``method``). An adapter checkpoint adds ``adapter`` (its settings,
the folder of the base it was trained on, the vocabulary size the base must be resized to when tokens
were added) and ``adapter_export`` (whether ``assistant convert --adapter`` may take it) with
``adapter_export_reason``; convert reads them."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from finetune.curate.record import selection_record
from finetune.prepared import Prepared


def provenance(p: Prepared, epoch: int, step: int, losses: list[float], eot_id: int,
               diag: dict[str, Any], eot_record: dict[str, Any] | None) -> dict[str, Any]:
    fit = p.fit
    record = {
        "base": {"name": p.spec.given, "kind": p.spec.kind, "location": p.spec.location, "sha256": p.spec.sha256},
        "method": p.config.method,
        "dataset": {"source": p.data.origin, "sha256": p.data.sha256, "rows": p.data.rows,
                    "examples_used": len(p.encoded), "single_turn": p.stats["single_turn"],
                    "dialogues": p.stats["dialogues"], "dialogues_included": p.config.dialogues},
        "selection": selection_record(p.data.origin),  # the `assistant data select` report beside the data, if any
        "recipe": p.config.recipe, "epoch": epoch, "epochs": p.config.epochs, "step": step,
        "template": p.template.family, "eot_token": p.template.eot, "eot_token_id": eot_id,
        "added_tokens": p.template.added,
        "fit": {"overlong": fit.policy, "max_length": fit.max_length, "rendered": fit.rendered, "kept": fit.kept,
                "keep_eot": fit.keep_eot, "dropped_lines": fit.dropped, "cut_dialogue_lines": fit.cut_dialogues,
                "truncated_lines": fit.truncated, "no_reply_lines": fit.no_labels},
        "validation": {"examples": len(p.val), "lines": [e.line for e in p.val], "seed": p.config.seed},
        "eot_init": eot_record,
        "metrics": {"train_loss_last_epoch": sum(losses) / len(losses) if losses else None,
                    **{k: v for k, v in diag.items() if k.startswith(("val_", "dev_"))}},
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    if p.adapter is not None:
        record.update(adapter_fields(p))
    return record


def adapter_fields(p: Prepared) -> dict[str, Any]:
    from finetune.lora import export_note

    plan, c = p.adapter, p.config
    assert plan is not None
    note = export_note(plan, c)
    base_vocab = p.model_config.get_text_config().vocab_size
    return {
        "adapter": {**plan.record(c), "files": ["adapter_config.json", "adapter_model.safetensors"],
                    "base_folder": str(p.folder),  # the HF folder the adapter was trained on (a GGUF base: its dequantized copy)
                    "vocab_size": len(p.tokenizer), "base_vocab_size": base_vocab,
                    "resize_embeddings_to": len(p.tokenizer) if len(p.tokenizer) > base_vocab else None},
        "adapter_export": note is None,
        "adapter_export_reason": note,
    }
