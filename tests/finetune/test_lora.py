"""LoRA and QLoRA (peft, bitsandbytes) on tiny models: every adapter matrix moves, the base stays
frozen, changed EOT rows train through trainable_token_indices, the checkpoint is peft's format and
loads with PeftModel.from_pretrained to the same logits, resume is exact, and bad input is one
sentence before any weight loads."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from finetune.errors import FinetuneError
from finetune.prepared import RunArgs
from finetune.run import run

from .conftest import read_metrics

FAST = ["dev_max_new_tokens=4", "dev_temperature=0", "residual_dropout=0", "weight_decay=0"]
LINEAR = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}


def _run(base: Path, data: Path, out: Path, dev: Path, *overrides: str, said: list[str] | None = None,
         **kw: Any) -> dict:
    return run(RunArgs(base=str(base), data=str(data), out=out, dev=dev, overrides=[*FAST, *overrides], **kw),
               say=(said.append if said is not None else lambda _: None))


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The PeftModel a run builds and its adapter weights as they started."""
    from peft import get_peft_model_state_dict

    import finetune.lora

    box: dict[str, Any] = {}
    real = finetune.lora.apply_adapters

    def spy(*a: Any, **k: Any) -> Any:
        model = real(*a, **k)
        box["peft"] = model
        box["start"] = {n: t.detach().clone()
                        for n, t in get_peft_model_state_dict(model, save_embedding_layers=False).items()}
        return model

    monkeypatch.setattr(finetune.lora, "apply_adapters", spy)
    return box


def _saved(ckpt: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(ckpt / "adapter_model.safetensors"))


def _logits(model: Any, vocab: int) -> torch.Tensor:
    ids = torch.tensor([[i % vocab for i in range(3, 40, 3)]])
    model.eval()
    with torch.no_grad():
        return model(input_ids=ids).logits.float()


def _every_matrix_moved(start: dict[str, torch.Tensor], saved: dict[str, torch.Tensor]) -> None:
    assert set(saved) == set(start)
    still = [k for k in saved if torch.equal(saved[k].float(), start[k].float().cpu())]
    assert not still, f"adapter tensors that never moved: {still}"


def test_lora_trains_every_matrix_and_the_eot_row_and_loads_with_peft(
        tiny_chatml: Path, lima_file: Path, dev_file: Path, tmp_path: Path, captured: dict[str, Any]) -> None:
    """Tied embeddings, eot_init=eos: the EOT row trains through trainable_token_indices; recomputed
    activations (non-reentrant) still reach every adapter."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out, said = tmp_path / "run", []
    res = _run(tiny_chatml, lima_file, out, dev_file, "method=lora", "eot_init=eos", "gradient_checkpointing=true",
               "epochs=3", "batch_size=3", "save_epochs=3", "lr=1e-2", "val_examples=0", "precision=fp32", said=said)
    assert res["completed"] and res["checkpoints"] == [str(out / "epoch-03")]
    ckpt = out / "epoch-03"
    names = {p.name for p in ckpt.iterdir()}
    assert {"adapter_config.json", "adapter_model.safetensors", "tokenizer_config.json", "generation_config.json",
            "finetune_config.yaml", "provenance.json", "dev_generations.jsonl"} <= names
    assert "model.safetensors" not in names and "config.json" not in names
    saved = _saved(ckpt)
    _every_matrix_moved(captured["start"], saved)
    assert sum(".lora_A." in k for k in saved) == sum(".lora_B." in k for k in saved) == 2 * len(LINEAR)

    tok = AutoTokenizer.from_pretrained(ckpt)
    eot = tok.convert_tokens_to_ids("<|im_end|>")
    assert tok.eos_token == "<|im_end|>" and "<|im_start|>" in tok.chat_template
    config = json.loads((ckpt / "adapter_config.json").read_text())
    assert set(config["target_modules"]) == LINEAR and config["r"] == 16 and config["lora_alpha"] == 16
    assert config["trainable_token_indices"] == {"embed_tokens": [eot]}
    provenance = json.loads((ckpt / "provenance.json").read_text())
    assert provenance["method"] == "lora" and provenance["adapter_export"] is False
    assert "end-of-turn" in provenance["adapter_export_reason"]
    assert provenance["adapter"]["trainable_token_indices"] == [eot] and provenance["adapter"]["base_folder"] == str(tiny_chatml)
    assert provenance["adapter"]["resize_embeddings_to"] is None and provenance["eot_init"]["action"] == "eos"
    assert json.loads((out / "run.json").read_text())["adapter"]["adapter_export"] is False
    text = "\n".join(said)
    assert "can only be exported merged" in text and "Method: lora" in text and "Training (lora) on cpu" in text
    assert read_metrics(out)[0]["lr"] == pytest.approx(1e-2)

    base = AutoModelForCausalLM.from_pretrained(tiny_chatml)  # the base on disk, untouched by training
    trained = captured["peft"]
    assert torch.equal(trained.get_base_model().model.layers[0].self_attn.q_proj.base_layer.weight,
                       base.model.layers[0].self_attn.q_proj.weight)
    loaded = PeftModel.from_pretrained(base, ckpt)
    assert torch.allclose(_logits(loaded, len(tok)), _logits(trained, len(tok)), atol=1e-5)


def test_added_tokens_on_an_untied_base_train_both_matrices(
        tiny_llama: Path, lima_file: Path, dev_file: Path, tmp_path: Path, captured: dict[str, Any]) -> None:
    """ChatML added to a base without it: its rows train in the embedding and the untied output layer;
    the base is resized to the saved vocabulary before the adapter loads. Precision auto: a bf16 base
    where this CPU computes in bf16."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = tmp_path / "run"
    _run(tiny_llama, lima_file, out, dev_file, "method=lora", "epochs=2", "batch_size=6", "save_epochs=2",
         "lr=1e-2", "val_examples=0", "lora_r=4", "lora_targets=q_proj,v_proj")
    ckpt = out / "epoch-02"
    tok = AutoTokenizer.from_pretrained(ckpt)
    added = sorted(tok.convert_tokens_to_ids(["<|im_start|>", "<|im_end|>"]))
    config = json.loads((ckpt / "adapter_config.json").read_text())
    assert config["trainable_token_indices"] == {"embed_tokens": added, "lm_head": added}
    assert set(config["target_modules"]) == {"q_proj", "v_proj"} and config["r"] == 4
    provenance = json.loads((ckpt / "provenance.json").read_text())
    assert provenance["adapter"]["resize_embeddings_to"] == len(tok) and provenance["adapter_export"] is False
    _every_matrix_moved(captured["start"], _saved(ckpt))
    trained = captured["peft"]
    dtype = trained.get_base_model().model.layers[0].self_attn.q_proj.base_layer.weight.dtype
    base = AutoModelForCausalLM.from_pretrained(tiny_llama, dtype=dtype)
    base.resize_token_embeddings(len(tok))
    loaded = PeftModel.from_pretrained(base, ckpt)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype == torch.bfloat16):
        same = torch.allclose(_logits(loaded, len(tok)), _logits(trained, len(tok)), atol=1e-5)
    assert same


def test_lora_resumes_exactly(tiny_gemma: Path, lima_file: Path, dev_file: Path, tmp_path: Path) -> None:
    """Residual and LoRA dropout on (RNG matters), several micro-batches: stop at step 2, resume to 4;
    the EOT is kept, so the adapter can be exported as it is."""
    cfg = ["method=lora", "eot_init=keep", "epochs=2", "batch_size=3", "max_length=64", "micro_batch_tokens=64",
           "save_epochs=2", "lr=1e-3", "lora_dropout=0.1", "residual_dropout=0.2", "state_every_steps=100",
           "precision=fp32"]
    straight = _run(tiny_gemma, lima_file, tmp_path / "a", dev_file, *cfg)
    first = _run(tiny_gemma, lima_file, tmp_path / "b", dev_file, *cfg, max_steps=2)
    assert not first["completed"] and (tmp_path / "b" / "state" / "trainer.pt").is_file()
    trainer = torch.load(tmp_path / "b" / "state" / "trainer.pt", weights_only=False)
    assert trainer["model"] and all("lora_" in k for k in trainer["model"])  # only the adapters, not the base
    second = run(RunArgs(resume=tmp_path / "b"), say=lambda _: None)
    assert second["start_step"] == 2 and len(straight["losses"]) == 4
    assert first["losses"] + second["losses"] == pytest.approx(straight["losses"], rel=1e-6, abs=0)
    a, b = _saved(tmp_path / "a" / "epoch-02"), _saved(tmp_path / "b" / "epoch-02")
    assert a.keys() == b.keys() and all(torch.allclose(a[k], b[k], rtol=1e-6, atol=0) for k in a)
    provenance = json.loads((tmp_path / "b" / "epoch-02" / "provenance.json").read_text())
    assert provenance["adapter_export"] is True and provenance["adapter_export_reason"] is None
    assert json.loads((tmp_path / "b" / "epoch-02" / "adapter_config.json").read_text())["trainable_token_indices"] is None


def test_qlora_on_this_cpu(tiny_chatml64: Path, lima_file: Path, dev_file: Path, tmp_path: Path,
                           captured: dict[str, Any]) -> None:
    """bitsandbytes runs NF4 on this CPU: the linear layers are 4-bit, the norms alone fp32, the rest bf16;
    every adapter matrix moves and the folder loads on a bf16 base."""
    pytest.importorskip("bitsandbytes")
    from bitsandbytes.nn import Linear4bit
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    out, said = tmp_path / "run", []
    res = _run(tiny_chatml64, lima_file, out, dev_file, "method=qlora", "eot_init=keep", "epochs=3", "batch_size=6",
               "save_epochs=3", "lr=1e-2", "val_examples=0", said=said)
    assert res["completed"] and any("Training (qlora) on cpu with bf16 autocast" in s for s in said)
    model = captured["peft"].get_base_model()
    layer = model.model.layers[0]
    assert isinstance(layer.self_attn.q_proj.base_layer, Linear4bit) and layer.self_attn.q_proj.base_layer.weight.dtype == torch.uint8
    assert layer.input_layernorm.weight.dtype == torch.float32 and model.model.norm.weight.dtype == torch.float32
    assert model.get_input_embeddings().weight.dtype == torch.bfloat16
    assert layer.self_attn.q_proj.lora_A["default"].weight.dtype == torch.float32
    ckpt = out / "epoch-03"
    _every_matrix_moved(captured["start"], _saved(ckpt))
    provenance = json.loads((ckpt / "provenance.json").read_text())
    assert provenance["method"] == "qlora" and provenance["adapter"]["base_quantization"].startswith("nf4")
    loaded = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_chatml64, dtype=torch.bfloat16), ckpt)
    assert torch.isfinite(_logits(loaded, 100)).all()


def test_bad_adapter_input_is_one_sentence_before_any_weight_loads(
        tiny_llama: Path, tiny_chatml: Path, lima_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import finetune.base
    import finetune.qlora

    def forbidden(*a: object, **k: object) -> None:
        raise AssertionError("weights loaded before the input was checked")

    monkeypatch.setattr(finetune.base, "load_model", forbidden)
    monkeypatch.setattr(finetune.qlora, "load_4bit", forbidden)
    out = tmp_path / "o"
    cases = [
        (tiny_llama, ["method=lora", "lora_targets=q_proj,q_projx"], "names q_projx, which LlamaForCausalLM has no linear layer"),
        (tiny_chatml, ["method=lora", "lora_targets=q_proj,lm_head"], "output layer is tied to its input embedding"),
        (tiny_chatml, ["method=lora", "lora_targets=embed_tokens"], "output layer is tied to its input embedding"),
        (tiny_llama, ["method=lora", "lora_targets=lm_head"], "the output layer and the embeddings are never LoRA targets"),
        (tiny_llama, ["method=lora", "lora_targets=q proj"], "lora_targets must be all-linear or comma-separated"),
        (tiny_llama, ["method=lora", "lora_r=0"], "lora_r must be a whole number of at least 1, not 0"),
        (tiny_llama, ["method=lora", "lora_r=-8"], "lora_r must be a whole number of at least 1, not -8"),
        (tiny_llama, ["method=lora", "lora_r=2.5"], "The config key lora_r cannot be '2.5'"),
        (tiny_llama, ["method=lora", "lora_r=many"], "The config key lora_r cannot be 'many'"),
        (tiny_llama, ["method=lora", "lora_r=64"], "lora_r=64 is wider than the narrowest targeted layer"),
        (tiny_llama, ["method=lora", "lora_alpha=0"], "lora_alpha must be positive"),
        (tiny_llama, ["method=lora", "lora_dropout=1"], "lora_dropout must be in [0, 1)"),
        (tiny_llama, ["method=dora"], "method must be full, lora or qlora, not 'dora'"),
        (tiny_llama, ["method=lora", "sharding=fsdp"], "sharding=fsdp is for method=full"),
        (tiny_llama, ["method=qlora", "precision=fp32"], "method=qlora computes in bf16"),
    ]
    for base, overrides, fragment in cases:
        with pytest.raises(FinetuneError) as err:
            run(RunArgs(base=str(base), data=str(lima_file), out=out, overrides=overrides), say=lambda _: None)
        assert fragment in str(err.value) and "\n" not in str(err.value), (overrides, str(err.value))
        assert not out.exists()


def test_qlora_where_bitsandbytes_cannot_run_is_one_sentence_first(
        tiny_llama: Path, lima_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Checked before the base is even located (a GGUF base would be dequantized first)."""
    import sys

    import finetune.base
    import finetune.qlora

    def forbidden(*a: object, **k: object) -> None:
        raise AssertionError("the base was touched before bitsandbytes was checked")

    monkeypatch.setattr(finetune.base, "local_folder", forbidden)
    args = RunArgs(base=str(tiny_llama), data=str(lima_file), out=tmp_path / "o", overrides=["method=qlora"])

    def no_backend(bnb: object, device: object) -> None:
        raise RuntimeError("No kernel registered for 4-bit matmul on this device")

    monkeypatch.setattr(finetune.qlora, "_probe", no_backend)
    with pytest.raises(FinetuneError) as err:
        run(args, say=lambda _: None)
    text = str(err.value)
    assert text.startswith("bitsandbytes ") and "cannot run 4-bit NF4 on this CPU" in text and "use method=lora" in text
    assert "No kernel registered" in text and "\n" not in text
    monkeypatch.setitem(sys.modules, "bitsandbytes", None)  # not installed
    with pytest.raises(FinetuneError, match=r"method=qlora needs bitsandbytes, which cannot be imported here .*method=lora"):
        run(args, say=lambda _: None)
    assert not (tmp_path / "o").exists()


def test_method_sets_the_recipe_rate_unless_given() -> None:
    from finetune.config import build_config

    assert (build_config().lr, build_config().lr_end) == (1e-5, 1e-6)
    lora = build_config(overrides=["method=lora"])
    assert (lora.lr, lora.lr_end, lora.gradient_checkpointing) == (1e-4, 1e-5, False)
    assert lora.lora_r == 16 and lora.lora_alpha is None and lora.lora_targets == "all-linear" and lora.lora_dropout == 0
    assert build_config(overrides=["method=lora", "lr=3e-4"]).lr == 3e-4
    qlora = build_config(overrides=["method=qlora"])
    assert qlora.gradient_checkpointing and qlora.lr == 1e-4
    assert not build_config(overrides=["method=qlora", "gradient_checkpointing=false"]).gradient_checkpointing


def _llama_config(hidden: int, layers: int, inter: int, heads: int, tied: bool) -> Any:
    from transformers import LlamaConfig

    return LlamaConfig(vocab_size=128256, hidden_size=hidden, intermediate_size=inter, num_hidden_layers=layers,
                       num_attention_heads=heads, num_key_value_heads=8, tie_word_embeddings=tied)


def test_memory_estimates_by_method_against_torchtunes_8b_figures() -> None:
    """Llama-3.1-8B at 2,048 tokens, batch 2, activations recomputed, bf16 (torchtune's README table:
    QLoRA 7.4 GiB, LoRA 16.2 GiB; full fine-tuning with fp32 AdamW state is far beyond one GPU)."""
    import dataclasses

    from finetune.config import FinetuneConfig
    from finetune.estimate import peak_memory_bytes
    from finetune.lora import plan_adapter

    config = _llama_config(4096, 32, 14336, 32, tied=False)
    n = 8_030_261_248
    base = FinetuneConfig(max_length=2048, micro_batch_tokens=4096, gradient_checkpointing=True).resolve(n, "cuda", 128256)
    gib = {}
    for method in ("full", "lora", "qlora"):
        c = dataclasses.replace(base, method=method)
        gib[method] = peak_memory_bytes(n, config, c, 1, 0, plan_adapter(c, config), bf16=True) / 2**30
    assert 6 < gib["qlora"] < 10 and 14 < gib["lora"] < 20 and gib["full"] > 100, gib


def test_dry_run_states_each_method_and_refuses_a_plan_that_does_not_fit(
        tiny_gemma: Path, lima_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import finetune.estimate

    lines: list[str] = []
    res = run(RunArgs(base=str(tiny_gemma), data=str(lima_file), dry_run=True, overrides=["method=lora"]), say=lines.append)
    text = "\n".join(lines)
    assert "Method: lora (LoRA on a frozen base): r 16, alpha 16" in text and "with method=lora" in text
    assert set(res["dry_run"]["memory_by_method"]) == {"full", "lora", "qlora"}
    monkeypatch.setattr(finetune.estimate, "available_memory", lambda device: 1000)
    with pytest.raises(FinetuneError, match=r"This plan needs about .* per process but cpu has 0 MiB free; use method=qlora"):
        run(RunArgs(base=str(tiny_gemma), data=str(lima_file), dry_run=True, overrides=["method=lora"]), say=lambda _: None)


def test_method_option_of_the_command_line(tiny_gemma: Path, lima_file: Path) -> None:
    from click.testing import CliRunner

    from finetune.cli import main, run_args, to_argv

    args = run_args({"method": "qlora", "overrides": ("lora_r=8",)})
    assert args.overrides == ["method=qlora", "lora_r=8"] and to_argv(args)[-2:] == ["method=qlora", "lora_r=8"]
    res = CliRunner().invoke(main, ["--base", str(tiny_gemma), "--data", str(lima_file), "--dry-run", "--method", "lora",
                                    "lora_r=4"])
    assert res.exit_code == 0, res.output
    assert "Method: lora" in res.output and "r 4, alpha 4" in res.output


def test_lima_mini_with_lora_plans_its_runs_beside_the_full_ones(lima_train: Path, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from assistant.cli import cli
    from assistant.eval.lima_mini import SCHEDULES

    out, s = tmp_path / "mini", SCHEDULES["cpu"]
    res = CliRunner().invoke(cli, ["eval", "lima-mini", "--data", str(lima_train), "--out", str(out), "--schedule", "cpu",
                                   "--method", "lora", "--dry-run"])
    assert res.exit_code == 0, res.output
    assert f"lr {s['lr'] * 10:g} -> {s['lr_end'] * 10:g}" in res.output
    cmds = [line for line in res.output.splitlines() if line.startswith("assistant finetune")]
    assert len(cmds) == 2 and all("--method lora" in c and f"lr={s['lr'] * 10:g}" in c for c in cmds)
    assert str(out / "finetune-single-lora") in cmds[0] and str(out / "finetune-dialogues-lora") in cmds[1]
    again = CliRunner().invoke(cli, ["eval", "lima-mini", "--data", str(lima_train), "--out", str(out), "--schedule",
                                     "cpu", "--dry-run"])  # the full runs share the folder, its data and schedule
    assert again.exit_code == 0 and "--method" not in again.output
    assert json.loads((out / "run.json").read_text())["names"]["single-lora"].endswith("-single-lora-q8_0")
