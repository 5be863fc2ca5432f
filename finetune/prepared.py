"""What a run hands its training loop: the arguments as given (:class:`RunArgs`), the prepared run
(:class:`Prepared`: config, data, tokenizer, template, the fitted examples and the held-out split),
and the step count they make. :mod:`finetune.run` builds them; :mod:`finetune.train` reads them."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from finetune.config import FinetuneConfig


@dataclass
class RunArgs:
    base: str | None = None  # as typed: a store name, a .gguf, a folder or a Hub id
    base_location: str | None = None  # what a store name resolved to (the front end resolves names)
    data: str | None = None
    out: Path | None = None
    recipe: str = "lima"
    config_file: Path | None = None
    overrides: list[str] = field(default_factory=list)
    dialogues: bool | None = None  # None: the config's value (on)
    dev: Path | None = None
    resume: Path | None = None
    max_steps: int | None = None
    dry_run: bool = False
    cache_dir: Path | None = None  # where a dequantized GGUF is kept


@dataclass
class Prepared:
    args: RunArgs
    config: FinetuneConfig
    out: Path
    data: Any  # finetune.data.Dataset
    spec: Any  # finetune.base.BaseSpec
    folder: Path
    tokenizer: Any
    template: Any  # finetune.template.ChatTemplate
    model_config: Any
    n_params: int
    encoded: list[Any]
    prompts: list[dict[str, str]]
    stats: dict[str, Any]
    val: list[Any]  # finetune.template.Encoded: the held-out split, never trained on
    val_rows: list[Any]  # finetune.data.Example: the same rows, as written to val.jsonl
    fit: Any  # finetune.fit.FitReport
    notes: list[str]  # warnings for the person (lost EOTs, a capped split)
    adapter: Any = None  # finetune.lora.AdapterPlan for method=lora/qlora, checked before any weight loads


def total_steps(p: Prepared) -> int:
    assert p.config.batch_size is not None
    return math.ceil(len(p.encoded) / p.config.batch_size) * p.config.epochs
