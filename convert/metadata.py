"""GGUF ``general.*`` metadata: name, basename, size label, licence, base model (gguf-py's
``Metadata`` reads the model card and generation config), sampling defaults, and provenance."""

from __future__ import annotations

import json
from typing import Any

import gguf

from convert.errors import ConvertError
from convert.source import Checkpoint

# --param KEY -> (gguf Metadata attribute, type, store manifest key)
SAMPLING: dict[str, tuple[str, type, str]] = {
    "temperature": ("sampling_temp", float, "temperature"),
    "temp": ("sampling_temp", float, "temperature"),
    "top_p": ("sampling_top_p", float, "top_p"),
    "top_k": ("sampling_top_k", int, "top_k"),
    "min_p": ("sampling_min_p", float, "min_p"),
    "repeat_penalty": ("sampling_penalty_repeat", float, "repeat_penalty"),
    "max_tokens": ("", int, "max_tokens"),
}
PROVENANCE_KEY = "assistant.provenance"


def parse_params(pairs: tuple[str, ...] | list[str]) -> dict[str, float | int]:
    """``temperature=0.7`` ... -> {manifest key: value}; one sentence per mistake."""
    out: dict[str, float | int] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        key = key.strip().lower().replace("-", "_")
        if not sep or key not in SAMPLING:
            raise ConvertError(f"--param {pair!r} is not KEY=VALUE with KEY one of {', '.join(sorted(SAMPLING))}.")
        _, kind, manifest_key = SAMPLING[key]
        try:
            value = kind(raw)
        except ValueError as exc:
            raise ConvertError(f"--param {pair!r}: {raw!r} is not a{'n integer' if kind is int else ' number'}.") from exc
        if value < 0:
            raise ConvertError(f"--param {pair!r}: the value must not be negative.")
        out[manifest_key] = value
    return out


def build(ckpt: Checkpoint, name: str | None, total_params: int, params: dict[str, float | int]) -> gguf.Metadata:
    md = gguf.Metadata.load(None, ckpt.folder, name or ckpt.display_name, total_params)
    gen = ckpt.generation_config
    if md.sampling_penalty_repeat is None and isinstance(gen.get("repetition_penalty"), (int, float)):
        md.sampling_penalty_repeat = float(gen["repetition_penalty"])
    for manifest_key, value in params.items():
        attr = next(a for k, (a, _, m) in SAMPLING.items() if m == manifest_key)
        if attr:
            setattr(md, attr, value)
    prov = ckpt.provenance
    if prov:
        base = prov.get("base") or prov.get("base_model")
        if isinstance(base, dict):  # finetune writes {name, kind, location, sha256}
            base = base.get("name")
        if isinstance(base, str) and not md.base_models:
            md.base_models = [{"name": base, "repo_url": f"https://huggingface.co/{base}" if "/" in base else None}]
        dataset = prov.get("dataset")
        if isinstance(dataset, dict) and dataset.get("source") and not md.datasets:
            md.datasets = [{"name": str(dataset["source"])}]
    if md.size_label is None and total_params:
        md.size_label = gguf.size_label(total_params, 0, 0, 0)
    if md.basename is None:
        md.basename = (name or ckpt.display_name).split("/")[-1]
    md.quantized_by = md.quantized_by or "assistant convert"
    return md


def sampling_defaults(md: gguf.Metadata) -> dict[str, float | int]:
    """What the GGUF declares, in the store manifest's ``defaults`` names."""
    pairs = {
        "temperature": md.sampling_temp,
        "top_p": md.sampling_top_p,
        "top_k": md.sampling_top_k,
        "min_p": md.sampling_min_p,
        "repeat_penalty": md.sampling_penalty_repeat,
    }
    return {k: v for k, v in pairs.items() if v is not None}


def write(w: gguf.GGUFWriter, md: gguf.Metadata, provenance: dict[str, Any]) -> None:
    md.set_gguf_meta_model(w)
    if provenance:
        w.add_string(PROVENANCE_KEY, json.dumps(provenance, sort_keys=True, default=str))
