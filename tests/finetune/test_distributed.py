"""``torchrun --nproc_per_node 2 -m finetune`` on CPU (gloo) against one process with the same global
batch: the same losses, step by step, for full fine-tuning (DDP, FSDP2) and for LoRA (DDP)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from finetune.prepared import RunArgs
from finetune.run import run

from .conftest import read_metrics

REPO = Path(__file__).resolve().parents[2]
CFG = ["epochs=5", "batch_size=4", "max_length=64", "micro_batch_tokens=64", "residual_dropout=0", "lr=1e-3",
       "save_epochs=99", "dev_max_new_tokens=4", "dev_temperature=0", "precision=fp32"]


def _torchrun(base: Path, data: Path, dev: Path, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "finetune",
           "--base", str(base), "--data", str(data), "--dev", str(dev), "--out", str(out), "--max-steps", "5",
           *CFG, *extra]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize(("sharding", "method"), [("ddp", "full"), ("fsdp", "full"), ("ddp", "lora")])
def test_two_gloo_processes_match_one(sharding: str, method: str, tiny_llama: Path, lima_file: Path, dev_file: Path,
                                      tmp_path: Path) -> None:
    """Full fine-tuning with DDP or FSDP2; LoRA adapters (and the added ChatML rows through
    trainable_token_indices) with DDP."""
    extra = [f"method={method}"] + (["eot_init=keep"] if method != "full" else [])
    single = run(RunArgs(base=str(tiny_llama), data=str(lima_file), dev=dev_file, out=tmp_path / "one",
                         overrides=[*CFG, *extra], max_steps=5), say=lambda _: None)
    proc = _torchrun(tiny_llama, lima_file, dev_file, tmp_path / "two", f"sharding={sharding}", *extra)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"Training{' (lora)' if method == 'lora' else ''} on cpu x2 ({sharding})" in proc.stdout
    rows = read_metrics(tmp_path / "two")
    assert len(rows) == 5 == len(single["losses"])
    assert [r["loss"] for r in rows] == pytest.approx(single["losses"], rel=1e-4)
    assert [r["tokens"] for r in rows] == [r["tokens"] for r in read_metrics(tmp_path / "one")]
