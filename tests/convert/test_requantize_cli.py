"""The CLI end to end on a tiny model: --out, --modelfile, then re-quantize that GGUF."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from assistant.cli import main
from models.gguf_file import read_gguf
from models.store import Store


def test_cli_out_modelfile_then_requantize(tiny_checkpoint: Callable[..., Path], tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    src = tiny_checkpoint("llama", "smollm")
    f16 = tmp_path / "tiny-f16.gguf"
    assert main(["convert", str(src), "--quant", "f16", "--out", str(f16), "--modelfile",
                 "--system", "Be brief.", "--param", "temperature=0.3", "--param", "top_k=20"]) is None
    captured = capsys.readouterr()
    assert captured.out.strip() == str(f16)
    assert "tokenization  ok" in captured.err and "logits        ok" in captured.err
    md = read_gguf(f16).metadata
    assert md["general.file_type"] == 1 and abs(md["general.sampling.temp"] - 0.3) < 1e-6
    assert md["general.sampling.top_k"] == 20
    modelfile = (tmp_path / "Modelfile").read_text()
    assert f"FROM ./{f16.name}" in modelfile and 'SYSTEM """Be brief."""' in modelfile
    assert "PARAMETER stop <|im_end|>" in modelfile and "PARAMETER temperature 0.3" in modelfile

    assert main(["convert", str(f16), "--quant", "q8_0", "--name", "tiny-q8", "--param", "top_p=0.9"]) is None
    err = capsys.readouterr().err
    assert "perplexity    ok" in err
    stored = Store().get("tiny-q8")
    assert stored.manifest.quant == "Q8_0"
    assert stored.manifest.verify and stored.manifest.verify["perplexity"]["passed"]
    assert stored.manifest.defaults.top_p == pytest.approx(0.9)
    assert read_gguf(stored.gguf_path).metadata["tokenizer.chat_template"] == md["tokenizer.chat_template"]
