"""Adapters a person can get wrong: one sentence each, a non-zero exit, nothing written to the store."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import tiny  # noqa: E402
from lora import make_adapter  # noqa: E402
from test_errors import error_line, run_cli  # noqa: E402

from models.paths import models_dir  # noqa: E402


def assert_refused(args: list[str], capsys: pytest.CaptureFixture[str], *needles: str) -> str:
    code, err = run_cli(args, capsys)
    line = error_line(err)
    assert code == 1, err
    for needle in needles:
        assert needle in line, line
    root = models_dir()
    assert not root.exists() or not list(root.iterdir()), list(root.iterdir())  # nothing half-written
    return line


@pytest.fixture(scope="module")
def base(tiny_checkpoint: Callable[..., Path]) -> Path:
    return tiny_checkpoint("llama", "smollm")  # tied embeddings


@pytest.fixture(scope="module")
def adapter(base: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_adapter(base, tmp_path_factory.mktemp("lora") / "adapter")


@pytest.fixture(scope="module")
def other_bases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Bases the adapter was not trained on: one layer fewer, a narrower model."""
    root = tmp_path_factory.mktemp("others")
    tok = tiny.bpe_tokenizer(root / "tok", "smollm")
    return {"fewer-layers": tiny.model(root / "one-layer", "llama", tok, layers=1),
            "narrower": tiny.model(root / "narrow", "llama", tok, hidden=32)}


@pytest.fixture
def private(adapter: Path, tmp_path: Path) -> Path:
    import shutil

    return Path(shutil.copytree(adapter, tmp_path / "adapter"))


def test_adapter_config_missing(private: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (private / "adapter_config.json").unlink()
    assert_refused([str(private)], capsys, "no adapter_config.json")


def test_adapter_config_malformed(private: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (private / "adapter_config.json").write_text("{\"r\": 4, ")
    assert_refused([str(private)], capsys, "adapter_config.json is not valid JSON")


@pytest.mark.parametrize(("change", "needle"), [
    ({"peft_type": "IA3"}, "describes a IA3 adapter"),
    ({"r": 0}, "has r 0, not a positive number"),
    ({"lora_alpha": "eight"}, "has lora_alpha eight"),
])
def test_adapter_config_wrong(private: Path, capsys: pytest.CaptureFixture[str], change: dict, needle: str) -> None:
    cfg = json.loads((private / "adapter_config.json").read_text())
    (private / "adapter_config.json").write_text(json.dumps({**cfg, **change}))
    assert_refused([str(private)], capsys, needle)


def test_no_weights(private: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (private / "adapter_model.safetensors").rename(private / "adapter_model.bin")
    assert_refused([str(private)], capsys, "adapter_model.bin, not safetensors")


def test_modules_the_base_lacks(adapter: Path, other_bases: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert_refused([str(adapter), "--base", str(other_bases["fewer-layers"])], capsys,
                   "names modules the base", "lacks: model.layers.1.", "--base")


def test_shapes_do_not_match(adapter: Path, other_bases: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert_refused([str(adapter), "--base", str(other_bases["narrower"]), "--adapter"], capsys,
                   "does not fit the base", "is [32, 64] in the base but [64, 128] in the adapter")


def test_architecture_does_not_match(private: Path, tiny_checkpoint: Callable[..., Path],
                                     capsys: pytest.CaptureFixture[str]) -> None:
    cfg = json.loads((private / "adapter_config.json").read_text())
    cfg["auto_mapping"] = {"base_model_class": "LlamaForCausalLM"}
    (private / "adapter_config.json").write_text(json.dumps(cfg))
    qwen = tiny_checkpoint("qwen2", "qwen2")  # the same module names and shapes, another architecture
    assert_refused([str(private), "--base", str(qwen)], capsys, "trained on a LlamaForCausalLM", "Qwen2ForCausalLM")


def test_lora_on_a_tied_output_layer(base: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = make_adapter(base, tmp_path / "head", targets=["q_proj", "lm_head"])
    assert_refused([str(src)], capsys, "lm_head", "ties to the token embedding")


@pytest.mark.parametrize(("how", "needle"), [
    ("provenance", "changed embedding rows (the EOT row was trained)"),
    ("trainable_tokens", "changed embedding rows (trainable_token_indices)"),
    ("dora", "uses DoRA"),
])
def test_adapter_export_refused(base: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], how: str,
                                needle: str) -> None:
    if how == "provenance":
        src = make_adapter(base, tmp_path / "run", provenance={
            "method": "lora", "adapter_export": False, "adapter_export_reason": "the EOT row was trained"})
    elif how == "trainable_tokens":
        src = make_adapter(base, tmp_path / "run", targets=["q_proj"], trainable_token_indices=[2])
    else:
        src = make_adapter(base, tmp_path / "run", targets=["q_proj"], dora=True)
    line = assert_refused([str(src), "--adapter"], capsys, needle)
    assert line.endswith("export it merged instead (drop --adapter).")


def test_run_base_with_another_sha256(adapter: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.models.gguf_samples import write_tiny_gguf

    gguf = write_tiny_gguf(tmp_path / "base.gguf")
    src = tmp_path / "run"
    import shutil

    shutil.copytree(adapter, src)
    (src / "provenance.json").write_text(json.dumps(
        {"method": "lora", "base": {"name": "base", "kind": "gguf", "location": str(gguf), "sha256": "0" * 64}}))
    assert_refused([str(src)], capsys, "but the run was trained on 000000000000")


def test_base_not_found_offline(private: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = json.loads((private / "adapter_config.json").read_text())
    cfg["base_model_name_or_path"] = "nobody-here/not-a-cached-model"
    (private / "adapter_config.json").write_text(json.dumps(cfg))
    assert_refused([str(private)], capsys, "not a folder here nor in the Hugging Face cache", "--base")


def test_adapter_flag_on_a_checkpoint(base: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert_refused([str(base), "--adapter"], capsys, "--adapter is for a LoRA adapter folder")
