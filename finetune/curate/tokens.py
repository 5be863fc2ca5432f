"""Lengths in a base model's template tokens and the fit at ``max_length``: the base resolves as
``assistant finetune --base`` resolves it (a store name through :mod:`models.resolve`, a GGUF
dequantized once into the shared cache, a checkpoint folder or a Hub id), and each row goes through
:func:`finetune.fit.fit_examples` with ``overlong=drop``, the rule finetune applies."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from finetune.curate.pool import Row
from finetune.errors import FinetuneError
from models.progress import progress


@dataclass
class Base:
    name: str
    tokenizer: Any
    template: Any  # finetune.template.ChatTemplate
    eot_id: int


@dataclass
class Fit:
    tokens: int  # the whole conversation in template tokens
    fits: bool  # kept by overlong=drop (a dialogue may be cut at a turn boundary)
    cut: bool  # a dialogue cut at a turn boundary
    reason: str | None  # why it is dropped


def load_base(base: str, base_location: str | None = None, cache_dir: Path | None = None,
              say: Callable[[str], None] = print) -> Base:
    from finetune import base as base_mod
    from finetune.template import apply_to_tokenizer, choose_template

    spec = base_mod.describe(base, base_location)
    folder = base_mod.local_folder(spec, cache_dir, say)
    tokenizer = base_mod.load_tokenizer(folder)
    template = choose_template(tokenizer, "auto")
    apply_to_tokenizer(tokenizer, template)
    return Base(base, tokenizer, template, int(tokenizer.convert_tokens_to_ids(template.eot)))


def fit_rows(base: Base, rows: list[Row], max_length: int) -> dict[int, Fit]:
    """line -> Fit for every good row, by finetune's own fit rule."""
    from finetune.fit import fit_examples
    from finetune.template import encode

    out: dict[int, Fit] = {}
    for row in progress([r for r in rows if r.ok], f"fit at {max_length} tokens"):
        assert row.example is not None
        tokens = len(encode(base.tokenizer, base.template, row.example, 1 << 30).input_ids)
        try:
            _, _, report = fit_examples(base.tokenizer, base.template, [row.example], max_length, "drop", base.eot_id)
        except FinetuneError:
            out[row.line] = Fit(tokens, False, False, f"would lose its end of turn at max_length={max_length} "
                                                      f"({tokens} tokens)")
            continue
        out[row.line] = Fit(tokens, True, bool(report.cut_dialogues), None)
    return out


def resolve_base(value: str) -> tuple[str | None, Path]:
    """(base_location, cache dir) as ``assistant finetune`` resolves a store name."""
    from finetune.base import locate_base
    from models.paths import ensure_dir, shared_cache_dir

    return locate_base(value), ensure_dir(shared_cache_dir() / "finetune")
