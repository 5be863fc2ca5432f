"""The CUDA path: bf16 autocast, the same loop. Skipped without a CUDA GPU (`make test-gpu`)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from finetune.prepared import RunArgs
from finetune.run import run

from .conftest import read_metrics

pytestmark = pytest.mark.gpu


def test_cuda_bf16_overfits_and_says_so(tiny_llama: Path, lima_file: Path, dev_file: Path, tmp_path: Path) -> None:
    said: list[str] = []
    out = tmp_path / "run"
    res = run(RunArgs(base=str(tiny_llama), data=str(lima_file), out=out, dev=dev_file,
                      overrides=["device=cuda", "epochs=40", "batch_size=6", "lr=1e-2", "lr_end=2e-3",
                                 "residual_dropout=0", "weight_decay=0", "save_epochs=40",
                                 "dev_max_new_tokens=8", "dev_temperature=0"]), say=said.append)
    assert torch.cuda.is_available()
    assert any("Training on cuda with bf16 autocast" in line for line in said), said
    losses = res["losses"]
    assert all(x == x for x in losses) and 1 - losses[-1] / losses[0] >= 0.8, losses  # finite, and it learns
    assert read_metrics(out)[-1]["peak_memory_bytes"] > 0
    assert (out / "epoch-40" / "model.safetensors").is_file()


@pytest.mark.parametrize("method", ["lora", "qlora"])
def test_cuda_adapters_train_in_bf16_and_export_peft_folders(method: str, tiny_chatml64: Path, lima_file: Path,
                                                             dev_file: Path, tmp_path: Path) -> None:
    """LoRA on a bf16 base and QLoRA on an NF4 base: real steps on CUDA, every adapter matrix moves, and
    the checkpoint is a peft folder that loads onto the base."""
    import json

    from peft import PeftModel
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    said: list[str] = []
    out = tmp_path / "run"
    res = run(RunArgs(base=str(tiny_chatml64), data=str(lima_file), out=out, dev=dev_file,
                      overrides=["device=cuda", f"method={method}", "epochs=3", "batch_size=6", "lr=1e-2",
                                 "residual_dropout=0", "save_epochs=3", "eot_init=keep", "val_examples=0",
                                 "dev_max_new_tokens=8", "dev_temperature=0"]), say=said.append)
    assert any(f"Training ({method}) on cuda with bf16 autocast" in line for line in said), said
    assert all(x == x for x in res["losses"]) and read_metrics(out)[-1]["peak_memory_bytes"] > 0
    ckpt = out / "epoch-03"
    assert (ckpt / "adapter_config.json").is_file() and not (ckpt / "model.safetensors").exists()
    saved = load_file(str(ckpt / "adapter_model.safetensors"))
    assert saved and all(bool(t.abs().sum() > 0) for k, t in saved.items() if ".lora_B." in k)  # B starts at zero
    provenance = json.loads((ckpt / "provenance.json").read_text())
    assert provenance["method"] == method and provenance["adapter_export"] is True
    base = AutoModelForCausalLM.from_pretrained(tiny_chatml64, dtype=torch.bfloat16).to("cuda")
    loaded = PeftModel.from_pretrained(base, ckpt).eval()
    with torch.no_grad():
        logits = loaded(input_ids=torch.tensor([[1, 5, 9, 13]], device="cuda")).logits
    assert torch.isfinite(logits).all()
