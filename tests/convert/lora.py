"""LoRA adapters over the tiny checkpoints, made with plain peft (not our finetune): LoraConfig +
get_peft_model, lora_B perturbed so the adapter changes the model's output, save_pretrained."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model", "special_tokens_map.json",
                   "chat_template.jinja")


def make_adapter(base: Path, out: Path, *, targets: Any = "all-linear", r: int = 4, alpha: int = 8,
                 rslora: bool = False, dora: bool = False, seed: int = 1, std: float = 0.3,
                 with_tokenizer: bool = False, provenance: dict[str, Any] | None = None, **config: Any) -> Path:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(base), dtype=torch.float32)
    cfg = LoraConfig(r=r, lora_alpha=alpha, target_modules=targets, use_rslora=rslora, use_dora=dora,
                     task_type="CAUSAL_LM", **config)
    peft_model = get_peft_model(model, cfg)
    torch.manual_seed(seed)
    with torch.no_grad():
        for name, p in peft_model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, std)
    peft_model.save_pretrained(str(out))
    if with_tokenizer:  # as our finetune's run folders hold it (the training template and EOT)
        for name in TOKENIZER_FILES:
            if (base / name).is_file():
                shutil.copyfile(base / name, out / name)
    if provenance is not None:
        (out / "provenance.json").write_text(json.dumps(provenance))
    return out
