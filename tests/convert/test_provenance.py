"""A checkpoint from `assistant finetune` carries provenance.json and its resolved config: both go
into the GGUF metadata and the store manifest."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from convert.pipeline import ConvertOptions, convert
from models.gguf_file import read_gguf
from models.store import Store

PROVENANCE = {
    "base": {"name": "HuggingFaceTB/SmolLM2-135M", "kind": "hub", "location": "HuggingFaceTB/SmolLM2-135M",
             "sha256": None},
    "dataset": {"source": "GAIR/lima", "sha256": "ab" * 32, "rows": 1030},
    "recipe": "lima", "epoch": 15, "epochs": 15, "eot_token": "<|im_end|>",
    "metrics": {"train_loss_last_epoch": 1.23}, "created": "2026-11-23T18:00:00+00:00",
}


def test_finetune_provenance_reaches_gguf_and_manifest(tiny_checkpoint: Callable[..., Path],
                                                       copy_checkpoint: Callable[[Path], Path]) -> None:
    src = copy_checkpoint(tiny_checkpoint("llama", "smollm"))
    (src / "provenance.json").write_text(json.dumps(PROVENANCE))
    (src / "finetune_config.yaml").write_text("recipe: lima\nepochs: 15\nlearning_rate: 1.0e-05\n")
    convert(ConvertOptions(src=str(src), quant="q8_0", name="lima-tiny", verify=False, system="Be kind.",
                           params={"temperature": 0.7}), log=lambda _: None)

    manifest = Store().get("lima-tiny").manifest
    prov = manifest.provenance
    assert prov["dataset"] == PROVENANCE["dataset"] and prov["recipe"] == "lima" and prov["epochs"] == 15
    assert prov["resolved_config"] == {"recipe": "lima", "epochs": 15, "learning_rate": 1e-05}
    assert prov["convert"]["quant"] == "q8_0" and prov["convert"]["verified"] is False
    assert manifest.verify is None
    assert manifest.defaults.system == "Be kind." and manifest.defaults.temperature == 0.7

    md = read_gguf(Store().get("lima-tiny").gguf_path).metadata
    assert md["general.base_model.0.name"] == "HuggingFaceTB/SmolLM2-135M"
    assert md["general.dataset.0.name"] == "GAIR/lima"
    assert json.loads(md["assistant.provenance"])["dataset"]["sha256"] == "ab" * 32
    assert abs(md["general.sampling.temp"] - 0.7) < 1e-6
