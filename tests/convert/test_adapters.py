"""LoRA adapters made by plain peft over tiny llama / qwen2 / gemma3 checkpoints, exported both ways
(merged into the base, and as a GGUF LoRA adapter over a base in the store), verified against peft's
model, and run through llama.cpp with the adapter applied."""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from lora import make_adapter  # noqa: E402

from convert.pipeline import ConvertOptions, convert  # noqa: E402
from models.gguf_file import read_gguf  # noqa: E402
from models.resolve import resolve  # noqa: E402
from models.store import Store  # noqa: E402


def greedy_reply(model: str, lora: Path | None = None) -> str:
    """A short greedy reply through the chat engine (llama.cpp), as `assistant ask` gets it."""
    from assistant.engine.base import GenerationParams, LoadOptions, Message
    from assistant.engine.llama import LlamaEngine

    engine = LlamaEngine()
    try:
        engine.load(model, LoadOptions(n_ctx=256, lora=lora))
        params = GenerationParams(temperature=0.0, max_tokens=12)
        return "".join(c.text for c in engine.stream([Message("user", "Hello, who are you?")], params))
    finally:
        engine.close()


def check_report(report: dict | None, *, adapter_gguf: bool) -> None:
    assert report is not None and report["passed"], report
    assert report["logits"]["nmse"] < 1e-3 and "peft" in report["logits"]["against"]
    assert report["adapter"]["passed"] and report["adapter"]["differs_from_base"] >= 1
    assert report["adapter"]["base_from"].startswith("llama.cpp" if adapter_gguf else "transformers")
    assert report["template"]["passed"] and report["template"]["eot_token_id"] is not None
    assert "chat" in report


def nothing_left() -> None:
    root = Store().root
    assert not [p.name for p in root.iterdir() if p.name.startswith(".")], list(root.iterdir())


def test_llama_adapter_then_merged_over_the_stored_base(tiny_checkpoint: Callable[..., Path], tmp_path: Path) -> None:
    base = tiny_checkpoint("llama", "llama3", tied=False)
    src = make_adapter(base, tmp_path / "run" / "final", with_tokenizer=True,
                       provenance={"method": "lora", "base": {"name": str(base), "kind": "hf", "location": str(base)}})
    lines: list[str] = []
    result = convert(ConvertOptions(src=str(src), quant="q8_0", adapter=True, modelfile=True), log=lines.append)
    check_report(result.verify, adapter_gguf=True)
    assert result.name == "run-final-lora" and result.base_name

    info = read_gguf(result.path)
    md = info.metadata
    assert md["general.type"] == "adapter" and md["adapter.type"] == "lora" and md["adapter.lora.alpha"] == 8.0
    names = {t.name for t in info.tensors}
    assert {"blk.0.attn_q.weight.lora_a", "blk.0.attn_q.weight.lora_b", "blk.1.ffn_down.weight.lora_b"} <= names
    base_model = Store().get(result.base_name)
    assert base_model.manifest.verify and base_model.manifest.verify["passed"]  # the base is verified too
    manifest = Store().get(result.name).manifest
    assert manifest.base == {"name": result.base_name, "sha256": base_model.manifest.sha256}
    assert manifest.adapter and manifest.adapter["rank"] == 4 and manifest.adapter["alpha"] == 8.0
    assert md["assistant.adapter.base_sha256"] == base_model.manifest.sha256
    resolved = resolve(result.name)
    assert resolved.path == base_model.gguf_path and resolved.adapter == result.path
    modelfile = (result.path.parent / "Modelfile").read_text()
    assert f"FROM {base_model.gguf_path}" in modelfile and f"ADAPTER ./{result.path.name}" in modelfile
    assert any(line.startswith("  adapter       ok") for line in lines)

    # chat through llama.cpp: the adapter model, and the base with --lora, answer alike and unlike the base
    with_adapter = greedy_reply(result.name)
    assert with_adapter == greedy_reply(result.base_name, lora=result.path)
    assert with_adapter != greedy_reply(result.base_name)

    # a second adapter export finds the base in the store instead of storing it again
    again = convert(ConvertOptions(src=str(src), quant="q8_0", adapter=True, name="second", verify=False),
                    log=lines.append)
    assert again.base_name == result.base_name
    assert len([m for m in Store().list() if not m.manifest.is_adapter]) == 1

    # merged, over the stored base GGUF (dequantized for transformers, merged in float32)
    merged = convert(ConvertOptions(src=str(src), quant="q8_0", base=result.base_name, name="merged"), log=lines.append)
    check_report(merged.verify, adapter_gguf=False)
    assert Store().get("merged").manifest.provenance["adapter"]["export"] == "merged"
    nothing_left()


def test_qwen2_rslora_with_an_alpha_pattern(tiny_checkpoint: Callable[..., Path], tmp_path: Path) -> None:
    """rsLoRA's alpha / sqrt(r) is folded into adapter.lora.alpha; a module with its own alpha into its lora_b."""
    base = tiny_checkpoint("qwen2", "qwen2")
    src = make_adapter(base, tmp_path / "qwen-lora", r=8, alpha=4, rslora=True, alpha_pattern={"v_proj": 16})
    result = convert(ConvertOptions(src=str(src), quant="f16", adapter=True, base=str(base)), log=lambda _: None)
    check_report(result.verify, adapter_gguf=True)
    alpha = read_gguf(result.path).metadata["adapter.lora.alpha"]
    assert math.isclose(alpha, 4 * math.sqrt(8), rel_tol=1e-6)
    assert greedy_reply(result.name) != greedy_reply(str(result.base_name))
    nothing_left()


@pytest.fixture(scope="module")
def gemma_base(tiny_checkpoint: Callable[..., Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny Gemma 3 with its embedding scaled down (x0.25): Gemma multiplies it by sqrt(hidden) and
    normalizes each layer's output, so at full size the tiny model only echoes its last token and no
    adapter could change its greedy output."""
    import shutil

    import torch
    from transformers import AutoModelForCausalLM

    folder = tmp_path_factory.mktemp("gemma-base") / "gemma-base"
    shutil.copytree(tiny_checkpoint("gemma3", "spm"), folder)
    model = AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32)
    with torch.no_grad():
        model.get_input_embeddings().weight.mul_(0.25)
    model.save_pretrained(str(folder))
    return folder


@pytest.mark.parametrize("mode", ["adapter", "merged"])
def test_gemma3_both_ways(gemma_base: Path, tmp_path: Path, mode: str) -> None:
    from transformers import AutoTokenizer

    eot = AutoTokenizer.from_pretrained(str(gemma_base)).convert_tokens_to_ids("<end_of_turn>")
    src = make_adapter(gemma_base, tmp_path / "gemma-lora", with_tokenizer=True, provenance={"eot_token_id": eot},
                       targets=["q_proj", "k_proj", "v_proj", "o_proj", "down_proj"])
    result = convert(ConvertOptions(src=str(src), quant="q8_0", adapter=mode == "adapter"), log=lambda _: None)
    check_report(result.verify, adapter_gguf=mode == "adapter")
    assert result.verify and result.verify["template"]["eot_token"] == "<end_of_turn>"
    nothing_left()
