"""The whole conversion: SRC -> unquantized GGUF -> quantized GGUF -> verify -> the store or --out.

Everything is built in a private work folder beside the destination and moved into place only
when it is complete (and verified): Ctrl+C or an error leaves nothing behind. A folder with
``adapter_config.json`` is a LoRA adapter: ``adapter_pipeline.py`` takes it from there.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from convert.errors import ConvertError
from convert.options import ConvertOptions, ConvertResult, Log, default_name, read_template
from convert.quantize import UNQUANTIZED, check_quant
from convert.steps import (
    check_destination,
    convert_record,
    finish,
    from_checkpoint,
    quantize_step,
    verify_step,
    work_folder,
)
from models.names import validate_name

__all__ = ["ConvertOptions", "ConvertResult", "convert", "default_name"]


def convert(opts: ConvertOptions, log: Log = print) -> ConvertResult:
    from convert.adapter_source import is_adapter_dir
    from convert.native import quiet_loggers
    from convert.source import is_gguf, open_checkpoint

    quiet_loggers()
    quant = check_quant(opts.quant)
    if is_adapter_dir(opts.src):
        from convert.adapter_pipeline import convert_adapter

        return convert_adapter(opts, quant, log)
    if opts.adapter or opts.base:
        flag = "--adapter" if opts.adapter else "--base"
        raise ConvertError(f"{flag} is for a LoRA adapter folder (with adapter_config.json), and {opts.src} is not one; "
                           f"drop {flag} to convert it as a model.")
    name = None if opts.out else validate_name(opts.name or default_name(opts.src, quant))
    check_destination(opts, name)
    # a checkpoint is opened and checked (config, tokenizer files, safetensors headers) before
    # anything is created: a hostile folder leaves no work folder and no store entry
    ckpt = None if is_gguf(opts.src) else open_checkpoint(opts.src)
    work = work_folder(opts)
    try:
        if ckpt is None:
            final, info = _from_gguf(opts, quant, work, log)
        else:
            final, info = from_checkpoint(opts, ckpt, quant, work, log)
        return finish(opts, name, quant, final, info, log)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _from_gguf(opts: ConvertOptions, quant: str, work: Path, log: Log) -> tuple[Path, dict[str, Any]]:
    from convert import requant

    src = Path(opts.src).expanduser()
    src_info, precision = requant.check_source(src)
    template = read_template(opts.template)
    if not template and not src_info.chat_template:
        raise ConvertError(f"{src.name} has no chat template; pass --template FILE with a Jinja chat template.")
    if quant in UNQUANTIZED and quant != precision:
        raise ConvertError(f"{src.name} is {precision}; converting it to {quant} needs the original checkpoint.")
    base = src
    if template or opts.params or opts.name:
        log("Writing the new metadata...")
        base = requant.with_metadata(src, work / f"model-{precision}.gguf", template=template, params=opts.params,
                                     name=opts.name)
    elif quant in UNQUANTIZED:
        base = Path(shutil.copyfile(src, work / src.name))
    log(f"Re-quantizing {src.name} ({precision}) to {quant}")
    final, warnings = quantize_step(base, quant, work, log)
    report = None
    if opts.verify and final != base:
        log("Verifying (perplexity against the unquantized GGUF; no checkpoint to compare tokenization with)...")
        report = verify_step(log, checkpoint=None, unquantized=base, quantized=final, quant=quant, outtype=precision,
                         special_tokens=[])
    info = {
        "provenance": {**requant.provenance_of(src_info),
                       "convert": convert_record(opts, src.name, precision, quant)},
        "verify": report,
        "warnings": warnings,
        "defaults": dict(opts.params),
        "template_origin": "override" if template else "gguf",
        "license": src_info.metadata.get("general.license"),
        "context": src_info.context_length,
    }
    return final, info
