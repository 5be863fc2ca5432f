"""A LoRA run that added tokens (ChatML's turn tokens, to a base without them): its provenance says
``adapter.resize_embeddings_to`` and its adapter holds only the changed rows (peft's
``trainable_token_indices``, the whole embedding not saved), so the base is resized before peft
loads the adapter, and ``assistant convert RUN`` merges it."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from convert.adapter_source import open_adapter  # noqa: E402
from convert.merge import load_peft  # noqa: E402

ADDED = ["<|turn_open|>", "<|turn_shut|>"]  # not in the tiny vocabulary


def make_resized_adapter(base: Path, out: Path, *, provenance: bool = True) -> tuple[Path, list[int], list[list[float]]]:
    """As our finetune's LoRA runs save it: tokens added, rows resized, the new rows trained through
    ``trainable_token_indices`` (input and untied output rows), ``save_embedding_layers=False``."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(base))
    base_vocab = len(tok)
    tok.add_special_tokens({"additional_special_tokens": ADDED})
    ids: list[int] = [tok.convert_tokens_to_ids(t) for t in ADDED]  # type: ignore[misc]
    model = AutoModelForCausalLM.from_pretrained(str(base), dtype=torch.float32)
    tied = bool(model.config.tie_word_embeddings)
    model.resize_token_embeddings(len(tok), mean_resizing=False)
    indices = {"embed_tokens": ids} if tied else {"embed_tokens": ids, "lm_head": ids}
    cfg = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "down_proj"], task_type="CAUSAL_LM",
                     trainable_token_indices=indices)
    torch.manual_seed(0)
    peft_model = get_peft_model(model, cfg)
    with torch.no_grad():
        for name, p in peft_model.named_parameters():
            if "lora_B" in name or "trainable_tokens_delta" in name:
                p.normal_(0, 0.3)
    peft_model.save_pretrained(str(out), save_embedding_layers=False)
    tok.save_pretrained(str(out))
    if provenance:
        record = {"method": "lora", "base": {"name": str(base), "kind": "hf", "location": str(base)},
                  "adapter": {"base_folder": str(base), "vocab_size": len(tok), "base_vocab_size": base_vocab,
                              "resize_embeddings_to": len(tok)},
                  "adapter_export": False, "adapter_export_reason": "the added token rows changed"}
        (out / "provenance.json").write_text(json.dumps(record))
    peft_model.eval()
    probe = torch.tensor([[1, 2, ids[0], 3, ids[1]]])
    with torch.no_grad():
        logits = peft_model(input_ids=probe).logits[0].tolist()
    return out, ids, logits


@pytest.mark.parametrize("tied", [False, True], ids=["untied", "tied"])
def test_the_base_is_resized_before_peft_loads_the_adapter(tiny_checkpoint: Callable[..., Path], tmp_path: Path,
                                                           tied: bool) -> None:
    import torch

    base = tiny_checkpoint("llama", "llama3", tied=tied)
    src, ids, want = make_resized_adapter(base, tmp_path / "run" / "final")
    model = load_peft(open_adapter(str(src)), base)
    rows = int(model.get_input_embeddings().weight.shape[0])
    assert rows == max(ids) + 1 and int(model.get_output_embeddings().weight.shape[0]) == rows
    with torch.no_grad():
        got = model(input_ids=torch.tensor([[1, 2, ids[0], 3, ids[1]]])).logits[0]
    assert torch.allclose(got, torch.tensor(want), atol=1e-5)


def test_convert_merges_a_run_that_added_tokens(tiny_checkpoint: Callable[..., Path], tmp_path: Path) -> None:
    from convert.pipeline import ConvertOptions, convert
    from models.gguf_file import read_gguf

    base = tiny_checkpoint("llama", "llama3", tied=False)
    src, ids, _ = make_resized_adapter(base, tmp_path / "run" / "final")
    result = convert(ConvertOptions(src=str(src), quant="f16", base=str(base), name="resized"), log=lambda _: None)
    assert result.verify is not None and result.verify["passed"], result.verify
    info = read_gguf(result.path)
    tokens = info.metadata["tokenizer.ggml.tokens"]
    assert len(tokens) == max(ids) + 1 and [tokens[i] for i in ids] == ADDED
