"""Inputs a person can get wrong: one sentence each, a non-zero exit, and nothing left behind."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from assistant.cli import main
from convert.errors import ConvertError, VerifyFailed
from convert.pipeline import ConvertOptions, convert
from models.paths import models_dir


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exc:
        main(["convert", *args])
    err = capsys.readouterr().err
    return int(exc.value.code or 0), err


def error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("Error: ")]
    assert len(lines) == 1, err
    return lines[0]


def assert_nothing_left(*folders: Path) -> None:
    for folder in folders:
        if folder.exists():
            leftovers = [p.name for p in folder.iterdir() if p.name.startswith(".") or p.suffix == ".gguf"]
            assert not leftovers, leftovers


def test_missing_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "ckpt").mkdir()
    code, err = run_cli([str(tmp_path / "ckpt")], capsys)
    assert code == 1 and "has no config.json" in error_line(err)


def test_missing_source(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run_cli([str(tmp_path / "nothing-here")], capsys)
    assert code == 1 and "does not exist" in error_line(err)


def test_unsupported_architecture_lists_the_supported(tiny_checkpoint: Callable[..., Path],
                                                      copy_checkpoint: Callable[[Path], Path],
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    src = copy_checkpoint(tiny_checkpoint("llama", "smollm"))
    cfg = json.loads((src / "config.json").read_text())
    cfg["architectures"] = ["GPTNeoXForCausalLM"]
    (src / "config.json").write_text(json.dumps(cfg))
    code, err = run_cli([str(src)], capsys)
    line = error_line(err)
    assert code == 1 and "GPTNeoXForCausalLM is not supported" in line
    for name in ("LlamaForCausalLM", "MistralForCausalLM", "Qwen2ForCausalLM", "Gemma3ForCausalLM"):
        assert name in line


def test_missing_tokenizer(tiny_checkpoint: Callable[..., Path], copy_checkpoint: Callable[[Path], Path],
                           capsys: pytest.CaptureFixture[str]) -> None:
    src = copy_checkpoint(tiny_checkpoint("llama", "smollm"))
    (src / "tokenizer.json").unlink()
    code, err = run_cli([str(src)], capsys)
    assert code == 1 and "has no tokenizer" in error_line(err)


def test_unknown_pre_tokenizer_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import tiny

    src = tmp_path / "odd"
    tok = tiny.bpe_tokenizer(src, "unknown")
    tiny.model(src, "llama", tok)
    code, err = run_cli([str(src), "--no-verify"], capsys)
    line = error_line(err)
    assert code == 1 and "matches none that llama.cpp knows" in line
    assert_nothing_left(models_dir())


def test_truncated_safetensors(tiny_checkpoint: Callable[..., Path], copy_checkpoint: Callable[[Path], Path],
                               capsys: pytest.CaptureFixture[str]) -> None:
    src = copy_checkpoint(tiny_checkpoint("llama", "smollm"))
    weights = src / "model.safetensors"
    size = weights.stat().st_size
    with open(weights, "r+b") as fh:
        fh.truncate(size - 1000)
    code, err = run_cli([str(src)], capsys)
    assert code == 1 and "is truncated" in error_line(err)
    assert_nothing_left(models_dir())


def test_unwritable_output(tiny_checkpoint: Callable[..., Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if os.geteuid() == 0:
        blocked = Path("/proc/assistant-convert-test")  # not creatable even for root
    else:
        blocked = tmp_path / "ro"
        blocked.mkdir()
        blocked.chmod(0o500)
    code, err = run_cli([str(tiny_checkpoint("llama", "smollm")), "--out", str(blocked / "m.gguf")], capsys)
    assert code == 1 and str(blocked) in error_line(err)


def test_no_chat_template_needs_template_flag(tiny_checkpoint: Callable[..., Path], copy_checkpoint: Callable[[Path], Path],
                                              tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = copy_checkpoint(tiny_checkpoint("llama", "smollm"))
    (src / "chat_template.jinja").unlink()
    tc = json.loads((src / "tokenizer_config.json").read_text())
    tc.pop("chat_template", None)
    (src / "tokenizer_config.json").write_text(json.dumps(tc))
    code, err = run_cli([str(src), "--no-verify"], capsys)
    assert code == 1 and "--template" in error_line(err)

    template = tmp_path / "chatml.jinja"
    import tiny

    template.write_text(tiny.CHATML)
    out = tmp_path / "m.gguf"
    main_ok = ["convert", str(src), "--template", str(template), "--out", str(out), "--quant", "q8_0", "--no-verify"]
    assert main(main_ok) is None
    from models.gguf_file import read_gguf

    info = read_gguf(out)
    assert info.chat_template == tiny.CHATML
    assert info.tokens[info.metadata["tokenizer.ggml.eot_token_id"]] == "<|im_end|>"  # the EOT of --template


def test_bad_param_and_existing_name(tiny_checkpoint: Callable[..., Path], capsys: pytest.CaptureFixture[str]) -> None:
    src = str(tiny_checkpoint("qwen2", "qwen2"))
    code, err = run_cli([src, "--param", "warmth=3"], capsys)
    assert code == 1 and "KEY=VALUE" in error_line(err)
    assert main(["convert", src, "--name", "dup", "--quant", "q8_0", "--no-verify"]) is None
    code, err = run_cli([src, "--name", "dup", "--quant", "q8_0", "--no-verify"], capsys)
    assert code == 1 and "already exists" in error_line(err)


def test_verify_failure_is_an_error_and_stores_nothing(tiny_checkpoint: Callable[..., Path],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """A converter bug (q/k not permuted) must be caught by verify, not shipped."""
    from convert.arch import llama

    monkeypatch.setattr(llama, "permute", lambda w, n: w)
    with pytest.raises(VerifyFailed, match="logits differ"):
        convert(ConvertOptions(src=str(tiny_checkpoint("llama", "llama3", tied=False)), quant="q8_0", name="broken"),
                log=lambda _: None)
    assert not (models_dir() / "broken").exists()
    assert_nothing_left(models_dir())


def test_interrupt_leaves_nothing(tiny_checkpoint: Callable[..., Path], monkeypatch: pytest.MonkeyPatch,
                                  tmp_path: Path) -> None:
    import convert.steps as steps

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(steps, "quantize", interrupted)
    out = tmp_path / "out" / "m.gguf"
    with pytest.raises(KeyboardInterrupt):
        convert(ConvertOptions(src=str(tiny_checkpoint("llama", "smollm")), out=out), log=lambda _: None)
    assert list(out.parent.iterdir()) == []


def test_already_quantized_gguf_is_refused(smollm2_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run_cli([str(smollm2_path), "--quant", "q8_0"], capsys)
    assert code == 1 and "already quantized (Q4_1)" in error_line(err)


def test_bad_option_values() -> None:
    with pytest.raises(ConvertError, match="--quant"):
        convert(ConvertOptions(src="x", quant="q9_9"))


def test_hub_id_offline_is_one_sentence(capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run_cli(["someorg/some-model-that-is-not-cached", "--no-verify"], capsys)
    line = error_line(err)
    assert code == 1 and "someorg/some-model-that-is-not-cached" in line and "offline" in line


def test_verify_that_would_not_fit_is_refused_up_front(tiny_checkpoint: Callable[..., Path],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    import psutil

    class Tiny:
        available = 1000

    monkeypatch.setattr(psutil, "virtual_memory", lambda: Tiny())
    with pytest.raises(ConvertError, match="--no-verify"):
        convert(ConvertOptions(src=str(tiny_checkpoint("llama", "smollm")), name="big"), log=lambda _: None)
    assert_nothing_left(models_dir())


def test_tokenizer_llama_cpp_cannot_reproduce_is_refused_by_verify(tmp_path: Path) -> None:
    """Metaspace with prepend_scheme "first" puts no ▁ after special tokens; llama.cpp always does."""
    import tiny

    src = tmp_path / "metaspace"
    tiny.model(src, "llama", tiny.llama_spm_tokenizer(src, metaspace_first=True))
    with pytest.raises(VerifyFailed, match="tokenizes .* differently from the HF tokenizer"):
        convert(ConvertOptions(src=str(src), quant="q8_0", name="ms"), log=lambda _: None)
    assert_nothing_left(models_dir())
