"""The whole conversion: SRC -> unquantized GGUF -> quantized GGUF -> verify -> the store or --out.

Everything is built in a private work folder beside the destination and moved into place only
when it is complete (and verified): Ctrl+C or an error leaves nothing behind.
"""

from __future__ import annotations

import datetime as _dt
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from convert import verify as verify_mod
from convert.errors import ConvertError
from convert.quantize import UNQUANTIZED, check_quant, quantize
from models.names import validate_name
from models.paths import ensure_dir, models_dir
from models.store import Store

if TYPE_CHECKING:
    from convert.source import Checkpoint

Log = Callable[[str], None]


@dataclass
class ConvertOptions:
    src: str
    quant: str = "q4_k_m"
    outtype: str | None = None  # None: the checkpoint's own precision
    name: str | None = None
    out: Path | None = None
    verify: bool = True
    template: Path | None = None
    system: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    modelfile: bool = False
    overwrite: bool = False
    progress: bool | None = None


@dataclass
class ConvertResult:
    path: Path
    name: str | None
    quant: str
    verify: dict[str, Any] | None
    warnings: list[str]
    modelfile: Path | None = None


_GENERIC = re.compile(r"^((epoch|checkpoint|step)[-_]?\d+|final|last|best)$", re.IGNORECASE)


def default_name(src: str, quant: str) -> str:
    """``my-run/epoch-15`` -> ``my-run-epoch-15-q4_k_m``; ``org/Model-1B`` -> ``model-1b-q4_k_m``."""
    path = Path(src.rstrip("/"))
    stem = path.stem if src.endswith(".gguf") else path.name
    if _GENERIC.match(stem) and path.parent.name:
        stem = f"{path.parent.name}-{stem}"
    stem = re.sub(r"[^a-z0-9._-]+", "-", stem.lower()).strip("-._") or "model"
    stem = re.sub(r"-(f16|bf16|f32)$", "", stem)
    return f"{stem}-{quant}"


def _read_template(path: Path | None) -> str | None:
    if path is None:
        return None
    try:
        text = Path(path).expanduser().read_text(encoding="utf-8")
    except OSError as exc:
        raise ConvertError(f"Cannot read the --template file {path} ({exc.strerror}); pass a Jinja chat template file.") from exc
    if "{%" not in text and "{{" not in text:
        raise ConvertError(f"{path} does not look like a Jinja chat template (no {{% or {{{{); pass the template file.")
    return text


def convert(opts: ConvertOptions, log: Log = print) -> ConvertResult:
    from convert.native import quiet_loggers
    from convert.source import is_gguf, open_checkpoint

    quiet_loggers()
    quant = check_quant(opts.quant)
    name = None if opts.out else validate_name(opts.name or default_name(opts.src, quant))
    if name and Store().has(name) and not opts.overwrite:
        raise ConvertError(f"A model named {name!r} already exists; pick another --name, or pass --force to replace it.")
    if opts.out and Path(opts.out).expanduser().exists() and not opts.overwrite:
        raise ConvertError(f"{opts.out} exists; pass --force to replace it or choose another --out.")
    # a checkpoint is opened and checked (config, tokenizer files, safetensors headers) before
    # anything is created: a hostile folder leaves no work folder and no store entry
    ckpt = None if is_gguf(opts.src) else open_checkpoint(opts.src)
    dest_dir = ensure_dir(Path(opts.out).expanduser().resolve().parent if opts.out else models_dir())
    work = Path(tempfile.mkdtemp(prefix=".convert-", dir=dest_dir))
    try:
        if ckpt is None:
            final, info = _from_gguf(opts, quant, work, log)
        else:
            final, info = _from_checkpoint(opts, ckpt, quant, work, log)
        return _finish(opts, name, quant, final, info, log)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _from_checkpoint(opts: ConvertOptions, ckpt: Checkpoint, quant: str, work: Path,
                     log: Log) -> tuple[Path, dict[str, Any]]:
    from convert import metadata as meta
    from convert.arch import architecture_for
    from convert.arch.gemma3 import Gemma3
    from convert.safetensors_lazy import LazyTensors, source_precision
    from convert.vocab import load_vocab
    from convert.write import write_gguf

    arch = architecture_for(ckpt)
    template = _read_template(opts.template)
    tensors = LazyTensors(ckpt.shards)
    if isinstance(arch, Gemma3):  # llama.cpp's gemma3 drops the embedding rows past the tokenizer
        vocab = load_vocab(ckpt.folder, None, template_override=template)
        arch.n_vocab_real = min(arch.vocab_size, len(vocab.tokens))
    else:
        vocab = load_vocab(ckpt.folder, arch.vocab_size, template_override=template)
    if not vocab.chat_template:
        raise ConvertError(
            f"{ckpt.display_name} has no chat template (tokenizer_config.json or chat_template.jinja), so chat "
            "could not format turns or stop; pass --template FILE with a Jinja chat template."
        )
    if "eos" not in vocab.special_ids:
        raise ConvertError(f"{ckpt.display_name}'s tokenizer declares no EOS token; set eos_token in tokenizer_config.json.")
    outtype = quant if quant in UNQUANTIZED else (opts.outtype or source_precision(tensors))
    planned = arch.plan(tensors)
    import numpy as np

    n_params = sum(int(np.prod(p.shape, dtype=np.int64)) for p in planned)
    if opts.verify:
        _check_verify_memory(ckpt.display_name, n_params, outtype)
    md = meta.build(ckpt, opts.name, n_params, opts.params)
    provenance = dict(ckpt.provenance)
    log(f"Converting {ckpt.display_name} ({ckpt.architecture}, {md.size_label} parameters, {vocab.model} tokenizer"
        f"{', pre ' + vocab.pre if vocab.pre else ''}) to {outtype}")
    unq = work / f"model-{outtype}.gguf"
    write_gguf(unq, arch, tensors, vocab, md, provenance, outtype, planned=planned, progress=opts.progress)
    tensors.close()
    final, warnings = _quantize(unq, quant, work, log)
    report = None
    if opts.verify:
        log("Verifying (tokenization, logits against transformers, perplexity)...")
        specials = [t for k in ("bos", "eos", "eot") if (t := vocab.token(k))]
        report = _verify(log, checkpoint=ckpt.folder, unquantized=unq, quantized=final if final != unq else None,
                         quant=quant if final != unq else None, outtype=outtype, special_tokens=specials,
                         chat_template=vocab.chat_template)
    info = {
        "provenance": {**provenance, "convert": _convert_record(opts, ckpt.display_name, outtype, quant)},
        "verify": report,
        "warnings": warnings,
        "defaults": meta.sampling_defaults(md),
        "template_origin": "override" if template else "gguf",
        "license": md.license,
        "context": arch.hp.get("max_position_embeddings"),
    }
    return final, info


def _from_gguf(opts: ConvertOptions, quant: str, work: Path, log: Log) -> tuple[Path, dict[str, Any]]:
    from convert import requant

    src = Path(opts.src).expanduser()
    src_info, precision = requant.check_source(src)
    template = _read_template(opts.template)
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
    final, warnings = _quantize(base, quant, work, log)
    report = None
    if opts.verify and final != base:
        log("Verifying (perplexity against the unquantized GGUF; no checkpoint to compare tokenization with)...")
        report = _verify(log, checkpoint=None, unquantized=base, quantized=final, quant=quant, outtype=precision,
                         special_tokens=[])
    info = {
        "provenance": {**requant.provenance_of(src_info),
                       "convert": _convert_record(opts, src.name, precision, quant)},
        "verify": report,
        "warnings": warnings,
        "defaults": dict(opts.params),
        "template_origin": "override" if template else "gguf",
        "license": src_info.metadata.get("general.license"),
        "context": src_info.context_length,
    }
    return final, info


def _check_verify_memory(name: str, n_params: int, outtype: str) -> None:
    """Verify holds the model in transformers (float32) beside the unquantized GGUF: say so up front."""
    import psutil

    need = n_params * (4 * 1.25 + {"f32": 4, "f16": 2, "bf16": 2}[outtype])
    free = psutil.virtual_memory().available
    if need > free:
        raise ConvertError(
            f"Verifying {name} needs about {need / 1e9:.1f} GB of memory (transformers in float32 plus the GGUF) "
            f"but {free / 1e9:.1f} GB is free; free memory, or pass --no-verify to convert without the checks."
        )


def _quantize(unq: Path, quant: str, work: Path, log: Log) -> tuple[Path, list[str]]:
    if quant in UNQUANTIZED:
        return unq, []
    log(f"Quantizing to {quant} with llama.cpp...")
    out = work / f"model-{quant}.gguf"
    from convert.native import quiet

    with quiet():
        report = quantize(unq, out, quant)
    warning = report.warning()
    if warning:
        log(f"Warning: {warning}")
    return out, [warning] if warning else []


def _verify(log: Log, **kwargs: Any) -> dict[str, Any]:
    from convert.native import quiet

    with quiet():
        report = verify_mod.run(**kwargs)
    _report(report, log)
    return report


def _report(report: dict[str, Any], log: Log) -> None:
    for line in verify_mod.lines(report):
        log("  " + line)
    verify_mod.raise_if_failed(report)


def _convert_record(opts: ConvertOptions, source: str, outtype: str, quant: str) -> dict[str, Any]:
    return {
        "source": source,
        "outtype": outtype,
        "quant": quant,
        "verified": opts.verify,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }


def _finish(opts: ConvertOptions, name: str | None, quant: str, final: Path, info: dict[str, Any], log: Log) -> ConvertResult:
    from convert import modelfile
    from models.gguf_file import read_gguf

    defaults = dict(info["defaults"])
    if opts.system:
        defaults["system"] = opts.system
    if "max_tokens" in opts.params:  # not a GGUF key: the manifest keeps it
        defaults["max_tokens"] = opts.params["max_tokens"]
    if name is not None:
        target = final.with_name(f"{name}.gguf")
        final.rename(target)
        update = {"provenance": info["provenance"], "verify": info["verify"], "defaults": defaults,
                  "chat_template": info["template_origin"]}
        if info.get("license"):
            update["license"] = info["license"]
        stored = Store().add(name, target, move=True, overwrite=opts.overwrite, update=update)
        path, folder = stored.gguf_path, stored.folder
        log(f"Stored as {name!r} ({_size(path)}, {quant}); `assistant chat --model {name}` runs it.")
    else:
        assert opts.out is not None
        path = Path(opts.out).expanduser().resolve()
        if path.exists() and not opts.overwrite:
            raise ConvertError(f"{path} exists; pass --force to replace it or choose another --out.")
        os.replace(final, path)
        folder = path.parent
        log(f"Wrote {path} ({_size(path)}, {quant}).")
    mf = None
    if opts.modelfile:
        from models.eot import end_of_generation_tokens

        gi = read_gguf(path)
        stops = [text for _, text in end_of_generation_tokens(gi)]
        sys_prompt = defaults.pop("system", None)
        mf = modelfile.write(folder, path.name, stops=stops, system=sys_prompt, defaults=defaults,
                             context=info.get("context"))
        log(f"Wrote {mf} (`ollama create NAME -f {mf}`).")
    return ConvertResult(path, name, quant, info["verify"], info["warnings"], mf)


def _size(path: Path) -> str:
    n = path.stat().st_size
    return f"{n / 1e9:.2f} GB" if n >= 1e9 else f"{n / 1e6:.1f} MB"
