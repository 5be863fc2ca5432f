"""The loop end to end on tiny models: it learns to answer and to stop, resumes exactly, and
writes a checkpoint that carries the end-of-turn contract."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from finetune.config import FinetuneConfig
from finetune.errors import FinetuneError
from finetune.prepared import RunArgs
from finetune.run import run

from .conftest import CONVERSATIONS, read_metrics, write_jsonl

FAST = ["dev_max_new_tokens=8", "dev_temperature=0", "precision=fp32"]  # fp32: exact comparisons


def _run(base: Path, data: Path, out: Path, dev: Path, *overrides: str, **kw: object) -> dict:
    return run(RunArgs(base=str(base), data=str(data), out=out, dev=dev, overrides=[*FAST, *overrides], **kw),  # type: ignore[arg-type]
               say=lambda _: None)


def test_overfits_and_learns_to_stop(tiny_llama: Path, lima_file: Path, dev_file: Path, tmp_path: Path) -> None:
    """A base with no turn tokens: <|im_end|> is added, trained, and becomes the eos everywhere."""
    from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig

    out = tmp_path / "run"
    res = _run(tiny_llama, lima_file, out, dev_file, "epochs=60", "batch_size=6", "lr=1e-2", "lr_end=2e-3",
               "residual_dropout=0", "weight_decay=0", "save_epochs=30", "val_examples=0")
    losses = res["losses"]
    assert len(losses) == 60 and 1 - losses[-1] / losses[0] >= 0.9
    assert res["checkpoints"] == [str(out / "epoch-30"), str(out / "epoch-60")]
    ckpt = out / "epoch-60"
    tok = AutoTokenizer.from_pretrained(ckpt)
    model = AutoModelForCausalLM.from_pretrained(ckpt).eval()
    eot: int = tok.convert_tokens_to_ids("<|im_end|>")  # type: ignore[assignment]
    assert tok.eos_token == "<|im_end|>" and "<|im_start|>" in tok.chat_template
    assert GenerationConfig.from_pretrained(ckpt).eos_token_id[0] == eot == model.config.eos_token_id
    probs = []
    for conv in CONVERSATIONS:
        messages = [{"role": "user" if i % 2 == 0 else "assistant", "content": t} for i, t in enumerate(conv)]
        ids = torch.tensor([tok.apply_chat_template(messages, tokenize=True, return_dict=False)])
        with torch.no_grad():
            p = model(ids).logits.softmax(-1)[0]
        ends = torch.nonzero(torch.eq(ids[0], eot)).flatten().tolist()[1::2]  # the EOT after each assistant turn
        probs += [float(p[i - 1, eot]) for i in ends]
    assert len(probs) == 7 and min(probs) > 0.9, probs

    provenance = json.loads((ckpt / "provenance.json").read_text())
    assert provenance["dataset"]["rows"] == 6 and provenance["dataset"]["dialogues"] == 1
    assert provenance["recipe"] == "lima" and provenance["epoch"] == 60 and provenance["eot_token_id"] == eot
    assert len(provenance["dataset"]["sha256"]) == 64 and provenance["base"]["kind"] == "hf"
    assert FinetuneConfig.load(ckpt / "finetune_config.yaml").epochs == 60
    gens = [json.loads(x) for x in (ckpt / "dev_generations.jsonl").read_text().splitlines()]
    assert [g["id"] for g in gens] == ["add", "2"] and "What is two plus two?" in (ckpt / "dev_generations.md").read_text()
    assert (ckpt / "model.safetensors").is_file() and (out / "loss.png").stat().st_size > 1000
    rows = read_metrics(out)
    assert [r["step"] for r in rows] == list(range(1, 61)) and rows[0]["lr"] == pytest.approx(1e-2)
    assert not (out / "state").exists()  # finished: nothing to resume


def test_resume_gives_the_same_losses(tiny_gemma: Path, lima_file: Path, dev_file: Path, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Dropout on, several micro-batches per step, a checkpoint in between: stop at step 2, resume to 5."""
    cfg = ["epochs=3", "batch_size=3", "max_length=64", "micro_batch_tokens=64", "save_epochs=1", "residual_dropout=0.2",
           "lr=1e-3", "state_every_steps=100"]
    straight = _run(tiny_gemma, lima_file, tmp_path / "a", dev_file, *cfg, max_steps=5)
    first = _run(tiny_gemma, lima_file, tmp_path / "b", dev_file, *cfg, max_steps=2)
    assert not first["completed"] and (tmp_path / "b" / "state" / "trainer.pt").is_file()
    second = run(RunArgs(resume=tmp_path / "b", max_steps=5), say=lambda _: None)
    assert second["start_step"] == 2
    assert first["losses"] + second["losses"] == pytest.approx(straight["losses"], rel=1e-6, abs=0)
    assert [r["loss"] for r in read_metrics(tmp_path / "b")] == pytest.approx(straight["losses"], rel=1e-6, abs=0)
    assert len(set(straight["losses"])) == 5

    # Ctrl+C in the middle of step 4 (after its backward passes): state is saved as of step 3's end
    real_clip = torch.nn.utils.clip_grad_norm_
    calls = {"n": 0}

    def interrupt_at_step_4(*a: object, **k: object) -> torch.Tensor:
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt
        return real_clip(*a, **k)  # type: ignore[arg-type]

    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", interrupt_at_step_4)
    with pytest.raises(FinetuneError) as err:
        _run(tiny_gemma, lima_file, tmp_path / "c", dev_file, *cfg, max_steps=5)
    assert err.value.exit_code == 130 and f"--resume {tmp_path / 'c'}" in str(err.value)
    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", real_clip)
    after = run(RunArgs(resume=tmp_path / "c", max_steps=5), say=lambda _: None)
    assert after["start_step"] == 3
    assert [r["loss"] for r in read_metrics(tmp_path / "c")] == pytest.approx(straight["losses"], rel=1e-6, abs=0)


def test_micro_batching_does_not_change_the_step(tiny_chatml: Path, lima_file: Path, dev_file: Path, tmp_path: Path) -> None:
    cfg = ["batch_size=6", "max_length=64", "residual_dropout=0", "lr=1e-3"]
    one = _run(tiny_chatml, lima_file, tmp_path / "one", dev_file, *cfg, "micro_batch_tokens=4096", max_steps=2)
    many = _run(tiny_chatml, lima_file, tmp_path / "many", dev_file, *cfg, "micro_batch_tokens=64", max_steps=2)
    recompute = _run(tiny_chatml, lima_file, tmp_path / "gc", dev_file, *cfg, "micro_batch_tokens=4096",
                     "gradient_checkpointing=true", max_steps=2)
    assert many["losses"] == pytest.approx(one["losses"], rel=1e-5)
    assert recompute["losses"] == pytest.approx(one["losses"], rel=1e-5)
    assert read_metrics(tmp_path / "many")[0]["padding"] < read_metrics(tmp_path / "one")[0]["padding"]


def test_dry_run_prints_the_plan_and_writes_nothing(tiny_gemma: Path, lima_file: Path, tmp_path: Path) -> None:
    lines: list[str] = []
    res = run(RunArgs(base=str(tiny_gemma), data=str(lima_file), out=tmp_path / "out", dry_run=True), say=lines.append)
    text = "\n".join(lines)
    assert "Mix: 5 single-turn examples + 1 multi-turn dialogues; dialogues in" in text
    assert "Steps: 15 (15 epochs x 1 steps of 64 examples)" in text
    assert "Estimated time on cpu" in text and "Estimated peak memory" in text and "Template: gemma" in text
    assert res["dry_run"]["steps"] == 15 and not (tmp_path / "out").exists()
    lines.clear()
    run(RunArgs(base=str(tiny_gemma), data=str(lima_file), dialogues=False, dry_run=True), say=lines.append)
    assert "Mix: 5 single-turn examples + 0 multi-turn dialogues; dialogues out" in "\n".join(lines)


def test_bad_input_fails_before_loading_anything(tiny_llama: Path, lima_file: Path, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    import finetune.base

    def forbidden(*a: object, **k: object) -> None:
        raise AssertionError("the base was loaded before the input was checked")

    monkeypatch.setattr(finetune.base, "local_folder", forbidden)
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "x").write_text("x")
    bad = write_jsonl(tmp_path / "bad.jsonl", [{"conversations": ["q", "a"]}, {"conversations": ["q"]}])
    cases = [
        (RunArgs(base=str(tiny_llama), data=str(lima_file), out=taken), "already exists and is not empty"),
        (RunArgs(base=str(tiny_llama), data=str(bad), out=tmp_path / "o"), "has 1 bad row(s) (lines 2;"),
        (RunArgs(base=str(tmp_path / "nope"), data=str(lima_file), out=tmp_path / "o"), "Unknown base"),
        (RunArgs(base="models/m.gguf", data=str(lima_file), out=tmp_path / "o"), "does not exist"),
        (RunArgs(base=str(lima_file), data=str(lima_file), out=tmp_path / "o"), "is not a GGUF file"),
        (RunArgs(base=str(tmp_path), data=str(lima_file), out=tmp_path / "o"), "has no config.json"),
        (RunArgs(base=str(tiny_llama), data=str(lima_file), overrides=["epochs=-1"]), "epochs must be at least 1"),
        (RunArgs(resume=tmp_path), "holds no resumable state"),
        (RunArgs(base=str(tiny_llama), data=str(lima_file), dev=tmp_path / "none.json"), "dev prompt file"),
    ]
    for args, fragment in cases:
        with pytest.raises(FinetuneError) as err:
            run(args, say=lambda _: None)
        assert fragment in str(err.value) and "\n" not in str(err.value)
    assert not (tmp_path / "o").exists()


def test_too_little_memory_is_refused_before_the_weights_load(tiny_llama: Path, lima_file: Path, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    import finetune.base
    import finetune.estimate

    def forbidden(*a: object, **k: object) -> None:
        raise AssertionError("weights loaded")

    monkeypatch.setattr(finetune.estimate, "available_memory", lambda device: 1000)
    monkeypatch.setattr(finetune.base, "load_model", forbidden)
    with pytest.raises(FinetuneError, match=r"needs about .* for weights, gradients and AdamW state but cpu has 0 MiB free"):
        run(RunArgs(base=str(tiny_llama), data=str(lima_file), out=tmp_path / "o"), say=lambda _: None)


def test_a_hub_base_offline_is_one_sentence() -> None:
    from finetune.base import describe, local_folder

    spec = describe("HuggingFaceTB/SmolLM2-135M")
    assert spec.kind == "hub"
    with pytest.raises(FinetuneError, match="is not a local path and the Hub cannot be reached"):
        local_folder(spec, None)


def test_data_where_nothing_fits_is_one_sentence_before_the_weights_load(
        tiny_llama: Path, lima_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import finetune.base

    def forbidden(*a: object, **k: object) -> None:
        raise AssertionError("weights loaded")

    monkeypatch.setattr(finetune.base, "load_model", forbidden)
    with pytest.raises(FinetuneError, match="No example fits max_length=16 with its end of turn") as err:
        run(RunArgs(base=str(tiny_llama), data=str(lima_file), out=tmp_path / "o", overrides=["max_length=16"]),
            say=lambda _: None)
    assert "overlong=truncate" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(FinetuneError, match="No example keeps an assistant token within max_length=16"):
        run(RunArgs(base=str(tiny_llama), data=str(lima_file), out=tmp_path / "o",
                    overrides=["max_length=16", "overlong=truncate"]), say=lambda _: None)
    assert not (tmp_path / "o").exists()


def test_a_run_measures_stopping_every_epoch_and_names_its_best_checkpoint(
        tiny_gemma: Path, lima_file: Path, dev_file: Path, tmp_path: Path) -> None:
    from .conftest import read_epochs

    out = tmp_path / "run"
    lines: list[str] = []
    rows = [{"conversations": [f"Question {i}?", f"Answer {i}."], "source": "test"} for i in range(8)]
    data = write_jsonl(tmp_path / "eight.jsonl", [*rows, {"conversations": CONVERSATIONS[4], "source": "multi_turn"}])
    res = run(RunArgs(base=str(tiny_gemma), data=str(data), out=out, dev=dev_file,
                      overrides=[*FAST, "epochs=3", "batch_size=3", "lr=1e-3", "save_epochs=2-3", "val_examples=2"]),
              say=lines.append)
    text = "\n".join(lines)
    epochs = read_epochs(out)
    assert [r["epoch"] for r in epochs] == [0, 1, 2, 3]
    for r in epochs:
        assert {"val_eot_p_end", "val_eot_top1_end", "val_eot_p_inside", "val_loss", "val_eot_ends"} <= set(r)
        assert r["val_eot_ends"] == 2  # one reply end in each of the two held-out single-turn rows
    assert [r.get("checkpoint") for r in epochs] == [None, None, str(out / "epoch-02"), str(out / "epoch-03")]
    assert "dev_eot_stop_share" in epochs[2] and "dev_eot_stop_share" not in epochs[1]
    meta = json.loads((out / "run.json").read_text())
    assert meta["best"] == res["best"] and meta["best"]["checkpoint"] in (str(out / "epoch-02"), str(out / "epoch-03"))
    assert "EOT is the top-1 token" in meta["best"]["rule"] and meta["eot_init"]["mode"] == "auto"
    assert f"Best checkpoint: {meta['best']['checkpoint']}" in text and "Before training: held-out p(EOT)" in text
    assert "Epoch 3: held-out p(EOT) at reply ends" in text and "End of turn (eot_init=auto)" in text
    held = [json.loads(x) for x in (out / "val.jsonl").read_text().splitlines()]
    assert [h["line"] for h in held] == meta["val_lines"] and len(held) == 2
    assert all(h["messages"][-1]["role"] == "assistant" for h in held)
    trained = {int(x) for x in range(1, 10)} - set(meta["val_lines"])
    assert len(trained) == 7 and res["stats"]["examples"] == 7
    provenance = json.loads((out / "epoch-03" / "provenance.json").read_text())
    assert provenance["validation"]["lines"] == meta["val_lines"] and provenance["fit"]["overlong"] == "drop"
    assert provenance["fit"]["keep_eot"] == 9 and "val_eot_p_end" in provenance["metrics"]
    from PIL import Image

    with Image.open(out / "loss.png") as png:
        assert png.size[1] >= 700  # two panels: the loss and the stop diagnostics


def test_batched_dev_generation_matches_one_prompt_at_a_time(tiny_gemma: Path) -> None:
    """Left padding must not change a greedy reply."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    import finetune.evaluate as ev
    from finetune.template import apply_to_tokenizer, choose_template

    tok = AutoTokenizer.from_pretrained(tiny_gemma)
    template = choose_template(tok)
    apply_to_tokenizer(tok, template)
    model = AutoModelForCausalLM.from_pretrained(tiny_gemma)
    eot = int(tok.convert_tokens_to_ids(template.eot))
    prompts = [{"id": str(i), "prompt": p, "system": ""} for i, p in
               enumerate(["Hi", "What is two plus two? Tell me.", "Name a colour, a fruit and a city please."])]
    config = FinetuneConfig(dev_max_new_tokens=12, dev_temperature=0, dev_repetition_penalty=1.0)
    together = ev.generate(model, tok, template, prompts, config, torch.device("cpu"), eot, 0)
    alone = [ev.generate(model, tok, template, [p], config, torch.device("cpu"), eot, 0)[0] for p in prompts]
    assert [r["reply"] for r in together] == [r["reply"] for r in alone]
    assert [r["tokens"] for r in together] == [r["tokens"] for r in alone]
