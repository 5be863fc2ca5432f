"""The LIMA base model: Gemma 3 270M (bundled GGUF) dequantized into an HF folder whose tokenizer is
the SentencePiece-style tokenizer.json transformers saves (no tokenizer.model), as a fine-tune of it
would be. It has no chat template, so --template is required; then it converts and verifies."""

from __future__ import annotations

from pathlib import Path

import pytest

from convert.errors import ConvertError
from convert.pipeline import ConvertOptions, convert
from models.gguf_file import read_gguf

pytestmark = pytest.mark.slow

GEMMA_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}{% set role = 'model' if message['role'] == 'assistant' "
    "else message['role'] %}{{ '<start_of_turn>' + role + '\\n' + message['content'] | trim + '<end_of_turn>\\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<start_of_turn>model\\n' }}{% endif %}"
)


@pytest.fixture(scope="module")
def gemma_hf(shared_cache: Path) -> Path:
    from convert.hf_from_gguf import cached
    from models.bundled import gemma3_path

    return cached(gemma3_path(), root=shared_cache)


def test_gemma3_270m_needs_a_template_then_verifies(gemma_hf: Path, tmp_path: Path) -> None:
    assert not (gemma_hf / "tokenizer.model").exists()
    with pytest.raises(ConvertError, match="--template"):
        convert(ConvertOptions(src=str(gemma_hf), quant="q8_0", name="g"), log=lambda _: None)
    template = tmp_path / "gemma.jinja"
    template.write_text(GEMMA_TEMPLATE)
    result = convert(ConvertOptions(src=str(gemma_hf), quant="q8_0", name="g", template=template), log=lambda _: None)
    report = result.verify
    assert report and report["passed"] and report["tokenization"]["chats"] >= 3
    assert report["logits"]["nmse"] < 1e-4 and report["perplexity"]["ratio"] <= 1.01
    md = read_gguf(result.path).metadata
    tokens = md["tokenizer.ggml.tokens"]
    assert tokens[md["tokenizer.ggml.eot_token_id"]] == "<end_of_turn>"
    assert tokens[md["tokenizer.ggml.eos_token_id"]] == "<eos>" and md["tokenizer.ggml.add_bos_token"] is True
    assert md["tokenizer.chat_template"] == GEMMA_TEMPLATE
