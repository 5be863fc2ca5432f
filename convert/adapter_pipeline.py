"""SRC is a LoRA adapter: merge it into its base and convert that (the default), or write it as a GGUF
LoRA adapter over a base GGUF in the store (``--adapter``). Everything is checked before anything is
written, built in a work folder, verified against peft's model, and only then stored.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from convert.adapter_source import AdapterSource, check_against_base, eot_token_id, open_adapter
from convert.errors import ConvertError
from convert.options import ConvertOptions, ConvertResult, Log, default_name, read_template
from convert.steps import (
    check_destination,
    convert_record,
    finish,
    quantize_step,
    verify_step,
    work_folder,
    write_unquantized,
)
from models.names import validate_name

if TYPE_CHECKING:
    from convert.adapter_base import BaseRef
    from convert.safetensors_lazy import LazyTensors

MERGED_CHECKS = "Verifying (tokenization, logits against peft's model, the adapter's effect, the chat's end of turn, perplexity)..."
ADAPTER_CHECKS = "Verifying the adapter (logits against peft's model, its effect, the chat's end of turn, perplexity)..."


def convert_adapter(opts: ConvertOptions, quant: str, log: Log) -> ConvertResult:
    from convert.adapter_base import hf_folder, locate_base
    from convert.arch import architecture_for
    from convert.safetensors_lazy import LazyTensors
    from convert.source import open_checkpoint

    src = open_adapter(opts.src)
    if opts.adapter and (refusal := src.export_refusal()):
        raise ConvertError(refusal)
    name = None if opts.out else validate_name(opts.name or default_name(opts.src, "lora" if opts.adapter else quant))
    check_destination(opts, name)
    base = locate_base(src, opts.base)
    base_folder = hf_folder(base, log)
    base_ckpt = open_checkpoint(str(base_folder))
    arch = architecture_for(base_ckpt)
    tensors = LazyTensors(base_ckpt.shards)
    check_against_base(src, arch, tensors, base.display)
    read_template(opts.template)  # a bad --template file is refused before the work folder exists
    work = work_folder(opts)
    try:
        if opts.adapter:
            return _as_adapter(opts, quant, src, base, base_folder, name, work, log)
        return _merged(opts, quant, src, base, base_folder, tensors, name, work, log)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _record(src: AdapterSource, base: BaseRef, export: str) -> dict[str, Any]:
    return {"source": str(src.folder), "method": src.provenance.get("method", "lora"), "rank": src.rank,
            "alpha": src.alpha, "rslora": src.rslora, "dora": bool(src.config.get("use_dora")),
            "modules": len(src.modules), "base": base.display, "base_from": base.how, "export": export}


def adapter_template(src: AdapterSource) -> str | None:
    """The chat template saved with the adapter (None when it has no tokenizer of its own)."""
    if not src.has_tokenizer:
        return None
    from convert import checks
    from convert.specials import chat_template

    path = src.folder / "tokenizer_config.json"
    tc = checks.read_json(path, "tokenizer config") if path.is_file() else {}
    return chat_template(src.folder, tc if isinstance(tc, dict) else {})


def _merged(opts: ConvertOptions, quant: str, src: AdapterSource, base: BaseRef, base_folder: Path,
            tensors: LazyTensors, name: str | None, work: Path, log: Log) -> ConvertResult:
    import numpy as np

    from convert.merge import load_peft, merge
    from convert.native import quiet
    from convert.safetensors_lazy import source_precision
    from convert.source import open_checkpoint
    from convert.verify import adapter as adapter_checks

    stored = source_precision(tensors)
    n_params = sum(int(np.prod(r.shape, dtype=np.int64)) for r in tensors)
    log(f"Merging the adapter {src.display_name} (LoRA r={src.rank}, {len(src.modules)} modules) into {base.display} "
        f"({stored}) with peft...")
    with quiet():
        merged = merge(src, base_folder, work / "merged" / src.folder.name, stored, n_params)
    ckpt = open_checkpoint(str(merged))
    unq = write_unquantized(opts, ckpt, quant, work, log, extra_provenance={"adapter": _record(src, base, "merged")})
    final, warnings = quantize_step(unq.path, quant, work, log)
    report = None
    if opts.verify:
        log(MERGED_CHECKS)
        template = read_template(opts.template) or adapter_template(src)
        report = verify_step(
            log, checkpoint=ckpt.folder, unquantized=unq.path, quantized=final if final != unq.path else None,
            quant=quant if final != unq.path else None, outtype=unq.outtype, special_tokens=unq.special_tokens,
            chat_template=unq.vocab.chat_template, reference=lambda: load_peft(src, base_folder),
            against=f"{unq.outtype} GGUF vs peft (base float32 + adapter)",
            extra=adapter_checks.checks(unq.path, None, final, template, eot_token_id(src)))
    unq.info.update(verify=report, warnings=warnings)
    return finish(opts, name, quant, final, unq.info, log)


def _as_adapter(opts: ConvertOptions, quant: str, src: AdapterSource, base: BaseRef, base_folder: Path,
                name: str | None, work: Path, log: Log) -> ConvertResult:
    from convert.adapter_base import checkpoint_view
    from convert.adapter_bases import ChatBase, chat_base
    from convert.arch import architecture_for
    from convert.lora_gguf import write_lora_gguf
    from convert.merge import load_peft
    from convert.safetensors_lazy import LazyTensors
    from convert.source import open_checkpoint
    from convert.verify import adapter as adapter_checks
    from models.gguf_file import read_gguf
    from models.store import Store

    view = open_checkpoint(str(checkpoint_view(base_folder, src, work / "base" / base_folder.name)))
    template = read_template(opts.template) or adapter_template(src)
    (work / "b").mkdir()
    base_opts = dataclasses.replace(opts, name=None, params={}, system=None)
    chosen: ChatBase = chat_base(base_opts, quant, src, base, view, template, work / "b", log)
    record = {**_record(src, base, "adapter"), "base_store_name": chosen.name, "base_sha256": chosen.sha256}
    provenance = {**src.provenance, "adapter": record}
    lora_path = work / "adapter.gguf"
    log(f"Writing the GGUF LoRA adapter ({len(src.modules)} modules, r={src.rank}"
        f"{', rsLoRA' if src.rslora else ''}) over {chosen.name}...")
    written = write_lora_gguf(lora_path, src, architecture_for(view), LazyTensors(view.shards), outtype=opts.outtype,
                              name=name or src.display_name, base_sha256=chosen.sha256, provenance=provenance)
    report = None
    if opts.verify:
        assert chosen.unquantized is not None
        log(ADAPTER_CHECKS)
        chat_info = read_gguf(chosen.path)
        q = chat_info.quant.lower()
        report = verify_step(
            log, checkpoint=view.folder, unquantized=chosen.unquantized.path,
            quantized=chosen.path if chosen.path != chosen.unquantized.path and q not in ("f16", "bf16", "f32") else None,
            quant=q, outtype=chosen.unquantized.outtype, special_tokens=[], chat_template=chat_info.chat_template,
            tokenization=False, reference=lambda: load_peft(src, base_folder), lora=lora_path,
            against=f"{chosen.unquantized.outtype} GGUF + adapter vs peft (base float32 + adapter)",
            extra=adapter_checks.checks(chosen.unquantized.path, lora_path, chosen.path, template, eot_token_id(src)))
    stored_base = chosen.store(log)
    base_manifest = Store().get(stored_base).manifest if Store().has(stored_base) else None
    info: dict[str, Any] = {
        "provenance": {**provenance, "convert": convert_record(opts, src.display_name, written.outtype, quant)},
        "verify": report, "warnings": [], "template_origin": "gguf",
        "defaults": base_manifest.defaults.as_dict() if base_manifest else {},
        "license": base_manifest.license if base_manifest else None,
        "context": base_manifest.context_length if base_manifest else None, "base_path": str(chosen.final_path()),
    }
    extra: dict[str, Any] = {"adapter": written.record(), "base": {"name": stored_base, "sha256": chosen.sha256},
                             "quant": written.outtype.upper()}
    if base_manifest is not None:
        extra.update(n_params=base_manifest.n_params, context_length=base_manifest.context_length,
                     eot_tokens=base_manifest.eot_tokens, chat_template=base_manifest.chat_template)
    return finish(opts, name, f"LoRA {written.outtype}", lora_path, info, log, extra=extra, modelfile_from=stored_base)
