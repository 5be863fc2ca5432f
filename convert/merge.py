"""Merge a LoRA adapter into its base with peft (``merge_and_unload``) and save the result as an HF
checkpoint that the ordinary path converts. A run that added tokens has the base's embeddings (and
an untied output layer) resized first, to the adapter's saved embedding or to what its
``provenance.json`` says (``adapter.resize_embeddings_to``). The base is loaded in float32 (or bf16 when float32
would not fit), never in 4 bits, and the merged weights are saved in the base's own precision.

The same loader gives verify its reference: the base in float32 with the adapter applied, unmerged.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from convert.adapter_source import PROVENANCE_FILE, AdapterSource
from convert.errors import ConvertError

SIDE_FILES = ("generation_config.json", "finetune_config.yaml")


def _embedding_rows(src: AdapterSource) -> int | None:
    """Rows of a whole embedding saved with the adapter (peft saves it when the vocabulary was resized)."""
    from convert.safetensors_lazy import read_header

    for ref in read_header(src.weights):
        if ref.name.endswith("embed_tokens.weight") and len(ref.shape) == 2:
            return int(ref.shape[0])
    return None


def resize_to(src: AdapterSource) -> int | None:
    """The rows the base needs before peft loads the adapter: those of a whole embedding saved with
    it, else our run's ``provenance.json`` ``adapter.resize_embeddings_to`` (tokens were added and only
    their rows were saved, through ``trainable_token_indices``), else None."""
    rows = _embedding_rows(src)
    if rows is not None:
        return rows
    adapter = src.provenance.get("adapter")
    value = adapter.get("resize_embeddings_to") if isinstance(adapter, dict) else None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        return None
    return value


def load_peft(src: AdapterSource, base: Path, dtype: str = "float32") -> Any:
    """The base with the adapter applied (peft's ``PeftModel``), in ``dtype``, for inference."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(base), dtype=getattr(torch, dtype))
    rows = resize_to(src)
    if rows is not None and rows != int(model.get_input_embeddings().weight.shape[0]):  # type: ignore[index]
        # the input rows and an untied output layer's; the new rows are overwritten by the adapter
        # (its saved embedding, or its trainable token rows)
        torch.manual_seed(0)
        model.resize_token_embeddings(rows, mean_resizing=False)
    try:
        peft_model = PeftModel.from_pretrained(model, str(src.folder), is_trainable=False)
    except (ValueError, RuntimeError, KeyError) as exc:
        raise ConvertError(f"peft cannot apply the adapter {src.display_name} to its base ({str(exc).splitlines()[0][:160]}); "
                           "pass the base it was trained on with --base.") from exc
    return peft_model.eval()


def _load_dtype(stored: str, n_bytes_f32: int) -> str:
    """float32 when the base is float32 or float32 fits in free memory; else the base's 16-bit type."""
    import psutil

    if stored == "f32" or n_bytes_f32 * 2.5 < psutil.virtual_memory().available:
        return "float32"
    return {"bf16": "bfloat16", "f16": "float16"}.get(stored, "float32")


def merge(src: AdapterSource, base: Path, out: Path, stored: str, n_params: int) -> Path:
    """``out``: the merged checkpoint (config, safetensors, the tokenizer, provenance) in ``stored`` precision."""
    import torch

    model = load_peft(src, base, _load_dtype(stored, n_params * 4))
    merged = model.merge_and_unload()
    merged = merged.to({"f32": torch.float32, "bf16": torch.bfloat16, "f16": torch.float16}[stored])
    out.mkdir(parents=True)
    merged.save_pretrained(out, safe_serialization=True)
    del merged, model
    tok_from = src.folder if src.has_tokenizer else base
    from convert.adapter_base import TOKENIZER_FILES

    for name in TOKENIZER_FILES:
        if (tok_from / name).is_file():
            shutil.copyfile(tok_from / name, out / name)
    for name in SIDE_FILES:
        if (src.folder / name).is_file():
            shutil.copyfile(src.folder / name, out / name)
    if (src.folder / PROVENANCE_FILE).is_file():
        shutil.copyfile(src.folder / PROVENANCE_FILE, out / PROVENANCE_FILE)
    return out
