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
