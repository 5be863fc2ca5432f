"""Write an HF checkpoint that ``assistant convert`` takes as is: safetensors, config, tokenizer
with the training chat template and the EOT as eos, generation config (EOT first among the eos
ids, LIMA's sampling), the resolved training config and provenance.json. An adapter run writes
peft's adapter files in place of the weights and config (:func:`save_adapter_checkpoint`)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from finetune.config import FinetuneConfig
from finetune.template import ChatTemplate


def eos_ids(tokenizer: Any, eot_id: int, original_eos: int | list[int] | None) -> list[int]:
    ids = [eot_id]
    for i in original_eos if isinstance(original_eos, list) else [original_eos]:
        if i is not None and i not in ids:
            ids.append(int(i))
    return ids


def _generation_config(tokenizer: Any, ids: list[int], config: FinetuneConfig) -> Any:
    from transformers import GenerationConfig

    return GenerationConfig(
        bos_token_id=tokenizer.bos_token_id, eos_token_id=ids, pad_token_id=tokenizer.pad_token_id,
        do_sample=True, temperature=config.dev_temperature or 1.0, top_p=config.dev_top_p,
        repetition_penalty=config.dev_repetition_penalty,
    )


def _fresh(folder: Path) -> Path:
    tmp = folder.with_name(f".{folder.name}.tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    return tmp


def _finish(tmp: Path, folder: Path, tokenizer: Any, template: ChatTemplate, config: FinetuneConfig,
            provenance: dict[str, Any]) -> Path:
    """The tokenizer with the training template and the EOT as eos, the config and provenance; then
    the rename that makes the checkpoint appear whole."""
    tokenizer.chat_template = template.jinja
    tokenizer.eos_token = template.eot
    tokenizer.save_pretrained(tmp)
    config.save(tmp / "finetune_config.yaml")
    (tmp / "provenance.json").write_text(json.dumps(provenance, indent=2, ensure_ascii=False) + "\n")
    if folder.exists():
        shutil.rmtree(folder)
    os.replace(tmp, folder)
    return folder


def save_checkpoint(
    folder: Path, model: Any, state_dict: dict, tokenizer: Any, template: ChatTemplate, eot_id: int,
    original_eos: int | list[int] | None, config: FinetuneConfig, provenance: dict[str, Any],
) -> Path:
    """Written into a temporary folder beside ``folder`` and renamed, so no half checkpoint remains."""
    tmp = _fresh(folder)
    ids = eos_ids(tokenizer, eot_id, original_eos)
    model.config.eos_token_id = eot_id
    model.config.use_cache = True
    if tokenizer.pad_token_id is not None:
        model.config.pad_token_id = tokenizer.pad_token_id
    model.generation_config = _generation_config(tokenizer, ids, config)
    model.save_pretrained(tmp, state_dict=state_dict, safe_serialization=True)
    return _finish(tmp, folder, tokenizer, template, config, provenance)


def save_adapter_checkpoint(
    folder: Path, peft_model: Any, tokenizer: Any, template: ChatTemplate, eot_id: int,
    original_eos: int | list[int] | None, config: FinetuneConfig, provenance: dict[str, Any],
) -> Path:
    """An adapter checkpoint in peft's format (``adapter_config.json`` + ``adapter_model.safetensors``,
    what ``PeftModel.from_pretrained(base, folder)`` loads; the changed token rows ride in it as
    trainable-token deltas), beside the same tokenizer, generation config, config and provenance as a
    full checkpoint. Written into a temporary folder and renamed."""
    tmp = _fresh(folder)
    peft_model.save_pretrained(tmp, safe_serialization=True, save_embedding_layers=False)
    (tmp / "README.md").unlink(missing_ok=True)  # peft's model card template, empty for a local run
    _generation_config(tokenizer, eos_ids(tokenizer, eot_id, original_eos), config).save_pretrained(tmp)
    return _finish(tmp, folder, tokenizer, template, config, provenance)
