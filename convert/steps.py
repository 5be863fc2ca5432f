"""The steps every conversion path shares: a checkpoint to its unquantized GGUF, llama.cpp's
quantizer, verify with its printed report, and the move into the store or to ``--out``.

``pipeline.py`` runs them for a checkpoint or a GGUF; ``adapter_pipeline.py`` for a LoRA adapter
(merged into its base, or written as a GGUF adapter over it).
"""

from __future__ import annotations

import datetime as _dt
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from convert import verify as verify_mod
from convert.errors import ConvertError
from convert.options import ConvertOptions, ConvertResult, Log, read_template
from convert.quantize import UNQUANTIZED, quantize
from models.paths import ensure_dir, models_dir
from models.store import Store

if TYPE_CHECKING:
    from convert.arch import Architecture
    from convert.source import Checkpoint
    from convert.vocab_types import Vocab


@dataclass
class Unquantized:
    """A checkpoint written as an f32/f16/bf16 GGUF, and what the later steps need to know of it."""

    path: Path
    outtype: str
    arch: Architecture
    vocab: Vocab
    info: dict[str, Any]  # provenance, defaults, template origin, licence, context (the manifest's update)

    @property
    def special_tokens(self) -> list[str]:
        return [t for k in ("bos", "eos", "eot") if (t := self.vocab.token(k))]


def write_unquantized(opts: ConvertOptions, ckpt: Checkpoint, quant: str, work: Path, log: Log, *,
                      name: str | None = None, extra_provenance: dict[str, Any] | None = None) -> Unquantized:
    """Checks, tokenizer, metadata and the unquantized GGUF (``work/model-OUTTYPE.gguf``)."""
    import numpy as np

    from convert import metadata as meta
    from convert.arch import architecture_for
    from convert.arch.gemma3 import Gemma3
    from convert.safetensors_lazy import LazyTensors, source_precision
    from convert.vocab import load_vocab
    from convert.write import write_gguf

    arch = architecture_for(ckpt)
    template = read_template(opts.template)
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
    n_params = sum(int(np.prod(p.shape, dtype=np.int64)) for p in planned)
    if opts.verify:
        check_verify_memory(ckpt.display_name, n_params, outtype)
    md = meta.build(ckpt, name if name is not None else opts.name, n_params, opts.params)
    provenance = {**ckpt.provenance, **(extra_provenance or {})}
    log(f"Converting {ckpt.display_name} ({ckpt.architecture}, {md.size_label} parameters, {vocab.model} tokenizer"
        f"{', pre ' + vocab.pre if vocab.pre else ''}) to {outtype}")
    unq = work / f"model-{outtype}.gguf"
    write_gguf(unq, arch, tensors, vocab, md, provenance, outtype, planned=planned, progress=opts.progress)
    tensors.close()
    info: dict[str, Any] = {
        "provenance": {**provenance, "convert": convert_record(opts, ckpt.display_name, outtype, quant)},
        "verify": None,
        "warnings": [],
        "defaults": meta.sampling_defaults(md),
        "template_origin": "override" if template else "gguf",
        "license": md.license,
        "context": arch.hp.get("max_position_embeddings"),
    }
    return Unquantized(unq, outtype, arch, vocab, info)


def from_checkpoint(opts: ConvertOptions, ckpt: Checkpoint, quant: str, work: Path, log: Log, *,
                    extra_provenance: dict[str, Any] | None = None, announce: str | None = None,
                    **verify_kwargs: Any) -> tuple[Path, dict[str, Any]]:
    """Unquantized GGUF, quantize, verify (``verify_kwargs`` go to ``verify.run``)."""
    unq = write_unquantized(opts, ckpt, quant, work, log, extra_provenance=extra_provenance)
    final, warnings = quantize_step(unq.path, quant, work, log)
    report = None
    if opts.verify:
        log(announce or "Verifying (tokenization, logits against transformers, perplexity)...")
        report = verify_step(log, checkpoint=ckpt.folder, unquantized=unq.path,
                             quantized=final if final != unq.path else None, quant=quant if final != unq.path else None,
                             outtype=unq.outtype, special_tokens=unq.special_tokens,
                             chat_template=unq.vocab.chat_template, **verify_kwargs)
    unq.info.update(verify=report, warnings=warnings)
    return final, unq.info


def check_verify_memory(name: str, n_params: int, outtype: str) -> None:
    """Verify holds the model in transformers (float32) beside the unquantized GGUF: say so up front."""
    import psutil

    need = n_params * (4 * 1.25 + {"f32": 4, "f16": 2, "bf16": 2}[outtype])
    free = psutil.virtual_memory().available
    if need > free:
        raise ConvertError(
            f"Verifying {name} needs about {need / 1e9:.1f} GB of memory (transformers in float32 plus the GGUF) "
            f"but {free / 1e9:.1f} GB is free; free memory, or pass --no-verify to convert without the checks."
        )


def quantize_step(unq: Path, quant: str, work: Path, log: Log) -> tuple[Path, list[str]]:
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


def verify_step(log: Log, **kwargs: Any) -> dict[str, Any]:
    from convert.native import quiet

    with quiet():
        report = verify_mod.run(**kwargs)
    for line in verify_mod.lines(report):
        log("  " + line)
    verify_mod.raise_if_failed(report)
    return report


def convert_record(opts: ConvertOptions, source: str, outtype: str, quant: str) -> dict[str, Any]:
    return {
        "source": source,
        "outtype": outtype,
        "quant": quant,
        "verified": opts.verify,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }


def manifest_update(info: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    update = {"provenance": info["provenance"], "verify": info["verify"], "defaults": defaults,
              "chat_template": info["template_origin"]}
    if info.get("license"):
        update["license"] = info["license"]
    return update


def finish(opts: ConvertOptions, name: str | None, quant: str, final: Path, info: dict[str, Any], log: Log,
           *, extra: dict[str, Any] | None = None, modelfile_from: str | None = None) -> ConvertResult:
    """Into the store as ``name`` (or to ``--out``), with the manifest ``info`` describes; the Modelfile.

    ``extra``: more manifest fields (an adapter's ``base`` and ``adapter``); ``modelfile_from``: the
    Modelfile's FROM when ``final`` is an adapter over it.
    """
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
        update = {**manifest_update(info, defaults), **(extra or {})}
        stored = Store().add(name, target, move=True, overwrite=opts.overwrite, update=update)
        path, folder = stored.gguf_path, stored.folder
        runs = f"`assistant chat --model {name}` runs it" + (f" over {modelfile_from}" if modelfile_from else "")
        log(f"Stored as {name!r} ({size_text(path)}, {quant}); {runs}.")
    else:
        assert opts.out is not None
        path = Path(opts.out).expanduser().resolve()
        if path.exists() and not opts.overwrite:
            raise ConvertError(f"{path} exists; pass --force to replace it or choose another --out.")
        os.replace(final, path)
        folder = path.parent
        log(f"Wrote {path} ({size_text(path)}, {quant}).")
    mf = None
    if opts.modelfile:
        from models.eot import end_of_generation_tokens

        gi = read_gguf(path) if modelfile_from is None else read_gguf(info["base_path"])
        stops = [text for _, text in end_of_generation_tokens(gi)]
        sys_prompt = defaults.pop("system", None)
        source = f"./{path.name}" if modelfile_from is None else str(info["base_path"])
        mf = modelfile.write(folder, source, stops=stops, system=sys_prompt, defaults=defaults,
                             context=info.get("context"), adapter=f"./{path.name}" if modelfile_from else None)
        log(f"Wrote {mf} (`ollama create NAME -f {mf}`).")
    return ConvertResult(path, name, quant, info["verify"], info["warnings"], mf, base_name=modelfile_from)


def check_destination(opts: ConvertOptions, name: str | None) -> None:
    if name and Store().has(name) and not opts.overwrite:
        raise ConvertError(f"A model named {name!r} already exists; pick another --name, or pass --force to replace it.")
    if opts.out and Path(opts.out).expanduser().exists() and not opts.overwrite:
        raise ConvertError(f"{opts.out} exists; pass --force to replace it or choose another --out.")


def work_folder(opts: ConvertOptions) -> Path:
    """A private folder beside the destination (the store, or --out's folder)."""
    dest_dir = ensure_dir(Path(opts.out).expanduser().resolve().parent if opts.out else models_dir())
    return Path(tempfile.mkdtemp(prefix=".convert-", dir=dest_dir))


def size_text(path: Path) -> str:
    n = path.stat().st_size
    return f"{n / 1e9:.2f} GB" if n >= 1e9 else f"{n / 1e6:.1f} MB"
