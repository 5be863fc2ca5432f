"""SRC is an existing GGUF: re-quantize it (optionally with a new template or defaults)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import gguf

from convert.errors import ConvertError
from models.gguf_file import GGUFInfo, read_gguf

UNQUANTIZED_FTYPES = {0: "f32", 1: "f16", 32: "bf16"}
_SAMPLING_KEYS = {
    "temperature": ("general.sampling.temp", gguf.GGUFValueType.FLOAT32),
    "top_p": ("general.sampling.top_p", gguf.GGUFValueType.FLOAT32),
    "top_k": ("general.sampling.top_k", gguf.GGUFValueType.INT32),
    "min_p": ("general.sampling.min_p", gguf.GGUFValueType.FLOAT32),
    "repeat_penalty": ("general.sampling.penalty_repeat", gguf.GGUFValueType.FLOAT32),
}


def check_source(path: Path) -> tuple[GGUFInfo, str]:
    info = read_gguf(path)
    ftype = info.metadata.get("general.file_type")
    if ftype is None:
        floats = {t.ggml_type for t in info.tensors if len(t.shape) >= 2}
        ftype = {0: 0, 1: 1, 30: 32}.get(next(iter(floats)), -1) if len(floats) == 1 else -1
    if int(ftype) not in UNQUANTIZED_FTYPES:
        raise ConvertError(
            f"{path.name} is already quantized ({info.quant}); re-quantize from an f16, bf16 or f32 GGUF "
            "(quantizing twice loses quality)."
        )
    return info, UNQUANTIZED_FTYPES[int(ftype)]


def with_metadata(src: Path, dst: Path, *, template: str | None, params: dict[str, Any], name: str | None,
                  eot_id: int | None = None) -> Path:
    """A copy of ``src`` with a new chat template / sampling defaults / name / end-of-turn id (gguf-py's copier)."""
    from gguf.scripts.gguf_new_metadata import MetadataDetails, copy_with_new_metadata

    reader = gguf.GGUFReader(src, "r")
    arch = reader.get_field(gguf.Keys.General.ARCHITECTURE)
    if arch is None:
        raise ConvertError(f"{src} has no general.architecture; it is not a model GGUF.")
    new: dict[str, Any] = {}
    if template:
        new[gguf.Keys.Tokenizer.CHAT_TEMPLATE] = MetadataDetails(gguf.GGUFValueType.STRING, template)
    if eot_id is not None:
        new[gguf.Keys.Tokenizer.EOT_ID] = MetadataDetails(gguf.GGUFValueType.UINT32, eot_id)
    if name:
        new[gguf.Keys.General.NAME] = MetadataDetails(gguf.GGUFValueType.STRING, name)
    for key, value in params.items():
        if key in _SAMPLING_KEYS:
            gkey, vtype = _SAMPLING_KEYS[key]
            new[gkey] = MetadataDetails(vtype, value)
    writer = gguf.GGUFWriter(dst, arch=str(arch.contents()), endianess=reader.endianess)
    alignment = reader.get_field(gguf.Keys.General.ALIGNMENT)
    if alignment is not None:
        writer.data_alignment = int(alignment.contents())
    copy_with_new_metadata(reader, writer, new, [])  # metadata, then every tensor, then close
    return dst


def provenance_of(info: GGUFInfo) -> dict[str, Any]:
    raw = info.metadata.get("assistant.provenance")
    try:
        return json.loads(raw) if isinstance(raw, str) else {}
    except json.JSONDecodeError:
        return {}
