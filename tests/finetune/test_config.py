from __future__ import annotations

from pathlib import Path

import pytest

from finetune.config import FinetuneConfig, build_config
from finetune.errors import FinetuneError


def test_lima_defaults_are_the_papers_values() -> None:
    c = build_config("lima")
    assert (c.epochs, c.lr, c.lr_end, c.warmup_steps) == (15, 1e-5, 1e-6, 0)
    assert (c.adam_beta1, c.adam_beta2, c.weight_decay, c.max_length) == (0.9, 0.95, 0.1, 2048)
    small, large = c.resolve(270_000_000, "cpu", 262_144), c.resolve(65_000_000_000, "cuda", 32_000)
    assert (small.loss_chunk, large.loss_chunk) == (256, 2097)
    assert (small.batch_size, small.residual_dropout, small.micro_batch_tokens) == (64, 0.2, 2048)
    assert (large.batch_size, large.residual_dropout, large.micro_batch_tokens) == (32, 0.3, 16384)
    assert c.save_epochs == [5, 6, 7, 8, 9, 10] and c.dialogues


def test_file_then_overrides_with_types(tmp_path: Path) -> None:
    toml = tmp_path / "r.toml"
    toml.write_text('epochs = 3\nlr = 2e-5\nsave_epochs = [1, 3]\n')
    c = build_config("lima", toml, ["lr=3e-5", "batch_size=8", "dialogues=false", "save_epochs=2-4,7", "residual_dropout=none"])
    assert (c.epochs, c.lr, c.batch_size, c.dialogues, c.save_epochs, c.residual_dropout) == (3, 3e-5, 8, False, [2, 3, 4, 7], None)
    yaml_file = tmp_path / "r.yaml"
    yaml_file.write_text("epochs: 2\ngradient_checkpointing: true\n")
    assert build_config(config_file=yaml_file).gradient_checkpointing is True


def test_saved_config_loads_back(tmp_path: Path) -> None:
    c = build_config("lima", None, ["epochs=4", "batch_size=16"]).resolve(1000)
    c.save(tmp_path / "finetune_config.yaml")
    assert FinetuneConfig.load(tmp_path / "finetune_config.yaml") == c


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        (["epochs=0"], "epochs must be at least 1"),
        (["nope=1"], "Unknown config key(s) nope"),
        (["lr"], "is not key=value"),
        (["batch_size=many"], "batch_size cannot be 'many'"),
        (["lr_end=1e-3"], "lr_end between 0 and lr"),
        (["template=llama3"], "template must be auto, chatml or gemma"),
    ],
)
def test_bad_values_are_one_sentence(overrides: list[str], fragment: str) -> None:
    with pytest.raises(FinetuneError) as err:
        build_config("lima", None, overrides)
    assert fragment in str(err.value) and "\n" not in str(err.value)


def test_unknown_recipe_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FinetuneError, match="Unknown recipe 'alpaca'"):
        build_config("alpaca")
    with pytest.raises(FinetuneError, match="does not exist"):
        build_config("lima", tmp_path / "missing.yaml")
    bad = tmp_path / "bad.toml"
    bad.write_text("epochs = = 3")
    with pytest.raises(FinetuneError, match="is not valid toml"):
        build_config("lima", bad)
