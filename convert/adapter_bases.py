"""The base GGUF a ``--adapter`` export runs over, in the store, and named by the adapter's sha256.

- An HF base is converted as any checkpoint (with the adapter's tokenizer: its template and end of
  turn), quantized to ``--quant`` and verified, unless the store already holds that conversion (same
  fingerprint, same quant).
- A GGUF base (a store or bundled model, or a file) is used as it is; when it lacks the adapter's chat
  template or end-of-turn id, a copy with them is stored (once: found again by fingerprint).

Either way verify also needs the base unquantized, for the logits against peft's model.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from convert.adapter_base import BaseRef, fingerprint
from convert.adapter_source import AdapterSource, eot_token_id
from convert.options import ConvertOptions, Log, default_name, read_template
from convert.steps import (
    Unquantized,
    convert_record,
    manifest_update,
    quantize_step,
    verify_step,
    write_unquantized,
)
from models.hashing import sha256_file
from models.store import Store, StoredModel

if TYPE_CHECKING:
    from convert.source import Checkpoint


@dataclass
class ChatBase:
    path: Path  # the GGUF chat runs the adapter over (in the work folder until stored)
    name: str  # its store (or bundled) name
    sha256: str
    unquantized: Unquantized | None  # the base unquantized, for verify
    new: bool = False  # ``store`` adds it
    link: bool = False  # a GGUF file base: linked into the store, not copied
    info: dict[str, Any] = dataclasses.field(default_factory=dict)  # the new store model's manifest update
    stored_at: Path | None = None

    def store(self, log: Log) -> str:
        if self.new:
            if not self.link:  # the work file takes the model's name, as every stored conversion does
                self.path = self.path.rename(self.path.with_name(f"{self.name}.gguf"))
            stored = Store().add(self.name, self.path, move=not self.link, link=self.link, sha256=self.sha256,
                                 update=self.info)
            self.stored_at = stored.gguf_path
            log(f"Stored the base as {self.name!r} ({stored.manifest.quant}).")
        return self.name

    def final_path(self) -> Path:
        return self.stored_at or self.path


def find_base(fp: str, quant: str | None) -> StoredModel | None:
    for model in Store().list():
        conv = model.manifest.provenance.get("convert") or {}
        if (not model.manifest.is_adapter and conv.get("fingerprint") == fp
                and (quant is None or conv.get("quant") == quant)):
            return model
    return None


def free_name(candidate: str) -> str:
    store, name, i = Store(), candidate, 2
    while store.has(name):
        name, i = f"{candidate}-{i}", i + 1
    return name


def chat_base(opts: ConvertOptions, quant: str, src: AdapterSource, base: BaseRef, view: Checkpoint,
              template: str | None, work: Path, log: Log) -> ChatBase:
    if base.gguf is None:
        return _from_hf(opts, quant, base, view, work, log)
    return _from_gguf(opts, quant, src, base, view, template, work, log)


def _from_hf(opts: ConvertOptions, quant: str, base: BaseRef, view: Checkpoint, work: Path, log: Log) -> ChatBase:
    fp = fingerprint(view.folder, read_template(opts.template))
    existing = find_base(fp, quant)
    unq = (write_unquantized(opts, view, quant, work, log, name=Path(base.display).name)
           if opts.verify or not existing else None)
    if existing is not None:
        log(f"The base is in the store already, as {existing.name!r}.")
        return ChatBase(existing.gguf_path, existing.name, existing.manifest.sha256, unq)
    assert unq is not None
    final, warnings = quantize_step(unq.path, quant, work, log)
    report = None
    if opts.verify:
        log("Verifying the base (tokenization, logits against transformers, perplexity)...")
        report = verify_step(log, checkpoint=view.folder, unquantized=unq.path,
                             quantized=final if final != unq.path else None, quant=quant if final != unq.path else None,
                             outtype=unq.outtype, special_tokens=unq.special_tokens, chat_template=unq.vocab.chat_template)
    info = dict(unq.info, verify=report, warnings=warnings)
    info["provenance"] = {**info["provenance"], "convert": {**info["provenance"]["convert"], "fingerprint": fp}}
    return ChatBase(final, free_name(default_name(base.display, quant)), sha256_file(final), unq, new=True,
                    info=manifest_update(info, dict(info["defaults"])))


def _from_gguf(opts: ConvertOptions, quant: str, src: AdapterSource, base: BaseRef, view: Checkpoint,
               template: str | None, work: Path, log: Log) -> ChatBase:
    from convert.requant import with_metadata
    from models.eot import end_of_generation_tokens
    from models.gguf_file import read_gguf

    assert base.gguf is not None
    sha = base.gguf_sha256()
    unq = write_unquantized(opts, view, quant, work, log, name=Path(base.display).name) if opts.verify else None
    info = read_gguf(base.gguf)
    eot = eot_token_id(src)
    new_template = template if template and (info.chat_template or "") != template else None
    new_eot = eot if eot is not None and eot not in dict(end_of_generation_tokens(info)) else None
    if new_template is None and new_eot is None:
        if base.store_name or base.bundled_name:
            return ChatBase(base.gguf, str(base.store_name or base.bundled_name), sha, unq)
        return ChatBase(base.gguf, free_name(default_name(base.gguf.name, "base")), sha, unq, new=True, link=True,
                        info={"provenance": {"source": "import", "original_path": str(base.gguf)}})
    fp = hashlib.sha256(f"{sha}\0{new_template or ''}\0{new_eot}".encode()).hexdigest()
    existing = find_base(fp, None)
    if existing is not None:
        log(f"The base with the adapter's chat template is in the store already, as {existing.name!r}.")
        return ChatBase(existing.gguf_path, existing.name, existing.manifest.sha256, unq)
    what = " and ".join(w for w, v in (("chat template", new_template), ("end-of-turn id", new_eot)) if v is not None)
    log(f"The base {base.display} lacks the adapter's {what}: storing a copy with it.")
    copy = with_metadata(base.gguf, work / base.gguf.name, template=new_template, params={}, name=None, eot_id=new_eot)
    record = convert_record(opts, base.display, info.quant.lower(), info.quant.lower())
    update: dict[str, Any] = {"provenance": {"source": base.display, "base_sha256": sha, "convert": {**record, "fingerprint": fp}},
              "chat_template": "override" if new_template else "gguf"}
    return ChatBase(copy, free_name(default_name(src.display_name.replace("/", "-"), "base")), sha256_file(copy), unq,
                    new=True, info=update)
