"""Write an HF checkpoint that ``assistant convert`` takes as is: safetensors, config, tokenizer
with the training chat template and the EOT as eos, generation config (EOT first among the eos
ids, LIMA's sampling), the resolved training config and provenance.json."""

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


def save_checkpoint(
    folder: Path, model: Any, state_dict: dict, tokenizer: Any, template: ChatTemplate, eot_id: int,
    original_eos: int | list[int] | None, config: FinetuneConfig, provenance: dict[str, Any],
) -> Path:
    """Written into a temporary folder beside ``folder`` and renamed, so no half checkpoint remains."""
    from transformers import GenerationConfig

    tmp = folder.with_name(f".{folder.name}.tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    ids = eos_ids(tokenizer, eot_id, original_eos)
    model.config.eos_token_id = eot_id
    model.config.use_cache = True
    if tokenizer.pad_token_id is not None:
        model.config.pad_token_id = tokenizer.pad_token_id
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id, eos_token_id=ids, pad_token_id=tokenizer.pad_token_id,
        do_sample=True, temperature=config.dev_temperature or 1.0, top_p=config.dev_top_p,
        repetition_penalty=config.dev_repetition_penalty,
    )
    model.save_pretrained(tmp, state_dict=state_dict, safe_serialization=True)
    tokenizer.chat_template = template.jinja
    tokenizer.eos_token = template.eot
    tokenizer.save_pretrained(tmp)
    config.save(tmp / "finetune_config.yaml")
    (tmp / "provenance.json").write_text(json.dumps(provenance, indent=2, ensure_ascii=False) + "\n")
    if folder.exists():
        shutil.rmtree(folder)
    os.replace(tmp, folder)
    return folder
