"""The real base model: gemma3-270m (GGUF, dequantized) for a few steps on a LIMA subset, then
converted; the GGUF must declare the trained end-of-turn token as ending generation."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_gemma3_270m_lima_subset_then_convert(lima_train: Path, tmp_path: Path) -> None:
    rows = lima_train.read_text().splitlines()
    subset = tmp_path / "lima16.jsonl"
    subset.write_text("\n".join(rows[:14] + [r for r in rows if '"multi_turn"' in r][:2]) + "\n")
    dev = tmp_path / "dev.json"
    dev.write_text(json.dumps(["What is the capital of France?", "Write a haiku about rain."]))
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, "-m", "assistant", "finetune", "--base", "gemma3-270m", "--data", str(subset), "--out", str(out),
         "--dev", str(dev), "epochs=1", "batch_size=8", "max_length=256", "save_epochs=1", "dev_max_new_tokens=8"],
        capture_output=True, text=True, env=env, cwd=REPO, timeout=1800,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Mix: 14 single-turn examples + 2 multi-turn dialogues" in proc.stdout
    assert "Template: gemma (EOT <end_of_turn>, reused from the base vocabulary)" in proc.stdout
    ckpt = out / "epoch-01"
    provenance = json.loads((ckpt / "provenance.json").read_text())
    assert provenance["base"]["kind"] == "gguf" and provenance["base"]["name"] == "gemma3-270m"
    assert provenance["eot_token"] == "<end_of_turn>" and len(provenance["base"]["sha256"]) == 64
    losses = [json.loads(x)["loss"] for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert len(losses) == 2 and all(0 < v < 20 for v in losses)
    generation = json.loads((ckpt / "generation_config.json").read_text())
    assert generation["eos_token_id"][0] == provenance["eot_token_id"]

    if importlib.util.find_spec("convert.pipeline") is None:
        pytest.skip("the convert package is not available; the finetune half passed")
    from convert.pipeline import ConvertOptions, convert
    from models.eot import end_of_generation_tokens
    from models.gguf_file import read_gguf

    result = convert(ConvertOptions(src=str(ckpt), quant="q8_0", name="gemma-lima-test"), log=lambda _: None)
    info = read_gguf(result.path)
    stops = dict(end_of_generation_tokens(info))
    assert stops.get(provenance["eot_token_id"]) == "<end_of_turn>"
    assert info.chat_template == (ckpt / "chat_template.jinja").read_text()
