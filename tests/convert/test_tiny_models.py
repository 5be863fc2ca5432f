"""Convert tiny random checkpoints of every architecture and check the GGUF against transformers
(verify runs in each conversion: tokenization parity, logits NMSE, perplexity ratio)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from convert.pipeline import ConvertOptions, convert
from models.gguf_file import TOKEN_TYPE_CONTROL, read_gguf
from models.store import Store

CASES = [
    # arch, tokenizer, tied, checkpoint dtype, outtype, quant, expected pre
    ("llama", "smollm", True, "float32", "f16", "q8_0", "smollm"),
    ("llama", "llama3", False, "bfloat16", None, "q4_k_m", "llama-bpe"),
    ("mistral", "llama3", False, "float32", "f16", "q4_0", "llama-bpe"),
    ("mistral", "llama-spm", False, "float32", "f16", "q8_0", None),
    ("qwen2", "qwen2", True, "float32", None, "q6_k", "qwen2"),
    ("gemma3", "spm", True, "float32", "f16", "q5_k_m", None),
    ("gemma3", "spm-json", True, "float32", "f16", "q8_0", None),
]


@pytest.mark.parametrize(("arch", "tok", "tied", "dtype", "outtype", "quant", "pre"), CASES,
                         ids=[f"{c[0]}-{c[1]}-{c[5]}" for c in CASES])
def test_convert_verify_store(
    tiny_checkpoint: Callable[..., Path], arch: str, tok: str, tied: bool, dtype: str, outtype: str | None,
    quant: str, pre: str | None,
) -> None:
    src = tiny_checkpoint(arch, tok, tied=tied, dtype=dtype)
    lines: list[str] = []
    result = convert(ConvertOptions(src=str(src), quant=quant, outtype=outtype, name=f"t-{arch}"), log=lines.append)

    report = result.verify
    assert report is not None and report["passed"], report
    assert report["tokenization"]["texts"] >= 50 and report["tokenization"]["chats"] >= 3
    assert report["tokenization"]["identical"] == report["tokenization"]["texts"]
    assert report["logits"]["nmse"] < 1e-3
    assert report["perplexity"]["ratio"] <= report["perplexity"]["ratio_max"]
    expected_outtype = outtype or {"float32": "f32", "bfloat16": "bf16"}[dtype]  # the source precision
    assert report["logits"]["against"].startswith(expected_outtype)

    info = read_gguf(result.path)
    md = info.metadata
    assert info.arch == ("gemma3" if arch == "gemma3" else "qwen2" if arch == "qwen2" else "llama")
    assert info.quant == quant.upper()
    assert md.get("tokenizer.ggml.pre") == pre
    spm = tok in ("spm", "spm-json", "llama-spm")
    assert md["tokenizer.ggml.model"] == ("llama" if spm else "gpt2")
    tokens, types = md["tokenizer.ggml.tokens"], md["tokenizer.ggml.token_type"]
    eot = "<end_of_turn>" if arch == "gemma3" else "<|im_end|>"
    assert tokens[md["tokenizer.ggml.eot_token_id"]] == eot
    assert types[tokens.index(eot)] == TOKEN_TYPE_CONTROL
    assert md["tokenizer.chat_template"]
    assert md["tokenizer.ggml.add_bos_token"] is spm  # what these HF tokenizers do
    names = {t.name for t in info.tensors}
    assert ("output.weight" in names) is (not tied)
    assert md["general.name"] == f"t-{arch}" and md["general.size_label"]

    stored = Store().get(f"t-{arch}")
    assert stored.manifest.verify == report
    assert stored.manifest.quant == quant.upper()
    assert stored.manifest.provenance["convert"]["quant"] == quant
    assert eot in stored.manifest.eot_tokens
    assert any("tokenization" in line for line in lines)
    assert not [p for p in Store().root.iterdir() if p.name.startswith(".")]  # no work folder left


def test_gemma3_norms_are_shifted_and_window_pattern_written(tiny_checkpoint: Callable[..., Path], tmp_path: Path) -> None:
    """Gemma's RMSNorm weight w is applied as 1 + w: the file must hold 1 + w (checked on the data)."""
    import gguf
    import numpy as np
    from safetensors.numpy import load_file

    src = tiny_checkpoint("gemma3", "spm")
    out = tmp_path / "g.gguf"
    convert(ConvertOptions(src=str(src), quant="f32", out=out, verify=False), log=lambda _: None)
    reader = gguf.GGUFReader(out)
    norm = next(t for t in reader.tensors if t.name == "blk.0.attn_norm.weight")
    hf = load_file(str(src / "model.safetensors"))["model.layers.0.input_layernorm.weight"]
    assert np.allclose(np.asarray(norm.data), hf + 1.0)
    pattern = reader.get_field("gemma3.attention.sliding_window_pattern")
    assert pattern is not None and list(pattern.contents()) == [True, False]
