"""An adapter's base model, found offline: ``--base``, else our run's ``provenance.json``, else the
``base_model_name_or_path`` of ``adapter_config.json`` where that is a local folder or a Hub id in
the Hugging Face cache (never a download). A base may be an HF folder, a store or bundled model, or a
.gguf file; a GGUF is dequantized once into an HF folder (the shared cache) for torch's side.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from convert import checks
from convert.adapter_source import AdapterSource
from convert.errors import ConvertError
from models.hashing import sha256_file

TOKENIZER_FILES = (*checks.TOKENIZER_FILES,)
WEIGHT_SIDE_FILES = ("config.json", "generation_config.json", "model.safetensors.index.json")


@dataclass
class BaseRef:
    display: str  # what to call it in sentences
    how: str  # where it came from: --base, provenance.json, adapter_config.json
    hf_folder: Path | None = None  # an HF checkpoint folder (a GGUF's is made by ``hf_folder``)
    gguf: Path | None = None  # the base as a GGUF file (a store, bundled or path model)
    store_name: str | None = None  # the store model it is, if any
    bundled_name: str | None = None
    sha256: str | None = None  # of ``gguf`` (known from the store, or computed)

    def gguf_sha256(self) -> str:
        assert self.gguf is not None
        if self.sha256 is None:
            self.sha256 = sha256_file(self.gguf)
        return self.sha256


def locate_base(src: AdapterSource, given: str | None) -> BaseRef:
    if given:
        ref = _resolve(given, "--base")
        if ref is None:
            raise ConvertError(f"--base {given} is not a checkpoint folder, a .gguf file, a model in the store nor a Hub id "
                               "in the Hugging Face cache; pass the base's folder.")
        return ref
    prov = src.provenance.get("base")
    if isinstance(prov, dict):
        ref = _from_provenance(prov)
        if ref is not None:
            return ref
    named = src.config.get("base_model_name_or_path")
    if isinstance(named, str) and named:
        ref = _resolve(named, "adapter_config.json")
        if ref is not None:
            return ref
        raise ConvertError(f"The base of {src.display_name}, {named} (adapter_config.json), is not a folder here nor in the "
                           "Hugging Face cache, and convert does not download it; pass the base with --base FOLDER_OR_NAME.")
    raise ConvertError(f"{src.display_name} does not say which base it was trained on; pass it with --base FOLDER_OR_NAME.")


def _from_provenance(prov: dict[str, Any]) -> BaseRef | None:
    """Our finetune's record: {name (as typed: a store name, a path, a Hub id), kind: gguf|hf|hub, location,
    sha256 (of a GGUF)}; a GGUF must still have the sha256 the run trained on."""
    want = prov.get("sha256")
    changed = None
    for value in (prov.get("name"), prov.get("location")):
        if not isinstance(value, str) or not value or (ref := _resolve(value, "provenance.json")) is None:
            continue
        if ref.gguf is not None and isinstance(want, str) and want and ref.gguf_sha256() != want:
            changed = ref
            continue
        return ref
    if changed is not None:
        raise ConvertError(f"The base {changed.display} has sha256 {changed.gguf_sha256()[:12]}..., but the run was "
                           f"trained on {str(want)[:12]}... (provenance.json); pass the base it was trained on with --base.")
    return None


def _resolve(value: str, how: str) -> BaseRef | None:
    from models import bundled
    from models.names import looks_like_hub_id
    from models.store import Store

    path = Path(value).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ConvertError(f"The base folder {path} ({how}) has no config.json; pass a Hugging Face checkpoint folder.")
        return BaseRef(str(path), how, hf_folder=path.resolve())
    store = Store()
    if path.is_file():
        with open(path, "rb") as fh:
            if fh.read(4) != b"GGUF":
                raise ConvertError(f"The base {path} ({how}) is neither a checkpoint folder nor a GGUF file.")
        for model in store.list():  # a store model's file, named by its path
            if model.gguf_path.resolve() == path.resolve() and not model.manifest.is_adapter:
                return BaseRef(model.name, how, gguf=model.gguf_path, store_name=model.name,
                               sha256=model.manifest.sha256 or None)
        return BaseRef(path.name, how, gguf=path.resolve())
    try:
        if store.has(value):
            model = store.get(value)
            if model.manifest.is_adapter:
                raise ConvertError(f"The base {value} ({how}) is itself an adapter; pass the model it runs over.")
            return BaseRef(value, how, gguf=model.gguf_path, store_name=value, sha256=model.manifest.sha256 or None)
    except ConvertError:
        raise
    except Exception:  # not a valid store name: it may still be a Hub id
        pass
    if value in bundled.BUNDLED:
        return BaseRef(value, how, gguf=bundled.BUNDLED[value].locate(), bundled_name=value)
    if looks_like_hub_id(value):
        folder = _hub_cache(value)
        if folder is not None:
            return BaseRef(value, how, hf_folder=folder)
    return None


def _hub_cache(repo_id: str) -> Path | None:
    """The Hub repository's snapshot in the local HF cache, or None (never a download)."""
    try:
        from huggingface_hub import snapshot_download

        from convert.source import HUB_PATTERNS

        folder = Path(snapshot_download(repo_id, allow_patterns=HUB_PATTERNS, local_files_only=True))
    except Exception:  # not cached (LocalEntryNotFoundError), or no huggingface-hub
        return None
    return folder if (folder / "config.json").is_file() else None


def hf_folder(ref: BaseRef, log: Any) -> Path:
    """The base as an HF checkpoint folder: a GGUF is dequantized once (float32) into the shared cache."""
    if ref.hf_folder is None:
        assert ref.gguf is not None
        from convert.hf_from_gguf import cached

        log(f"Dequantizing the base {ref.display} for transformers (once; kept in the shared cache)...")
        from convert.native import quiet

        try:
            with quiet():
                ref.hf_folder = cached(ref.gguf)
        except (ValueError, RuntimeError, OSError, KeyError) as exc:
            raise ConvertError(f"transformers cannot load the base {ref.display} ({str(exc)[:120]}); pass its Hugging Face "
                               "checkpoint folder with --base.") from exc
    return ref.hf_folder


def checkpoint_view(base: Path, src: AdapterSource, target: Path) -> Path:
    """A checkpoint folder of links: the base's config and weights with the adapter's tokenizer (its chat
    template and end of turn), or the base's own when the adapter folder has none."""
    target.mkdir(parents=True)
    tok_from = src.folder if src.has_tokenizer else base
    for name in WEIGHT_SIDE_FILES:
        if (base / name).is_file():
            os.symlink((base / name).resolve(), target / name)
    for shard in base.glob("*.safetensors"):
        os.symlink(shard.resolve(), target / shard.name)
    for name in TOKENIZER_FILES:
        if (tok_from / name).is_file():
            os.symlink((tok_from / name).resolve(), target / name)
    return target


def fingerprint(folder: Path, template: str | None) -> str:
    """What the base GGUF is made of, cheaply: config, tokenizer files, shard headers and sizes, the template."""
    from convert.safetensors_lazy import read_header

    digest = hashlib.sha256()
    for name in ("config.json", *TOKENIZER_FILES):
        if (folder / name).is_file():
            digest.update(name.encode() + b"\0" + (folder / name).read_bytes())
    for shard in sorted(folder.glob("*.safetensors")):
        digest.update(shard.name.encode() + str(shard.stat().st_size).encode())
        for ref in read_header(shard):
            digest.update(f"{ref.name}:{ref.dtype}:{ref.shape}:{ref.start}".encode())
    digest.update((template or "").encode())
    return digest.hexdigest()
