"""The local model store: a folder per model (the GGUF or a link to it, plus ``manifest.json``)."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from models.atomic import write_json
from models.errors import AssistantError, ModelNotFound
from models.gguf_file import GGUFInfo, read_gguf
from models.hashing import sha256_file
from models.manifest import MANIFEST_NAME, Manifest, SamplingDefaults
from models.names import validate_name
from models.paths import config_dir, ensure_dir, models_dir

CONFIG_FILE = "config.json"


def manifest_from_gguf(name: str, gguf_path: Path, info: GGUFInfo | None = None, *, sha256: str | None = None) -> Manifest:
    """Fill a manifest from what the GGUF itself declares."""
    info = info or read_gguf(gguf_path)
    md = info.metadata
    defaults = SamplingDefaults(
        temperature=_num(md.get("general.sampling.temp")),
        top_p=_num(md.get("general.sampling.top_p")),
        top_k=_int(md.get("general.sampling.top_k")),
        min_p=_num(md.get("general.sampling.min_p")),
        repeat_penalty=_num(md.get("general.sampling.penalty_repeat")),
    )
    from models.eot import end_of_generation_tokens

    adapter = None
    if md.get("general.type") == "adapter":  # a LoRA adapter: no vocabulary, no template of its own
        alpha = md.get("adapter.lora.alpha")
        adapter = {"type": str(md.get("adapter.type", "lora")), "alpha": _num(alpha), "n_params": info.n_params}
    return Manifest(
        name=name,
        file=gguf_path.name,
        sha256=sha256 or sha256_file(gguf_path),
        size_bytes=info.file_size,
        arch=info.arch,
        n_params=info.n_params,
        quant=info.quant,
        context_length=info.context_length,
        chat_template="gguf" if info.chat_template else "fallback",
        eot_tokens=[text for _, text in end_of_generation_tokens(info)],
        defaults=defaults,
        license=md.get("general.license"),
        adapter=adapter,
    )


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, (int, float)) else None


def _int(v: Any) -> int | None:
    return int(v) if isinstance(v, (int, float)) else None


@dataclass
class StoredModel:
    name: str
    folder: Path
    manifest: Manifest

    @property
    def gguf_path(self) -> Path:
        return self.folder / self.manifest.file


class Store:
    def __init__(self, root: Path | None = None) -> None:
        self.root = root or models_dir()

    def folder(self, name: str) -> Path:
        return self.root / validate_name(name)

    def list(self) -> list[StoredModel]:
        if not self.root.is_dir():
            return []
        out = []
        for folder in sorted(self.root.iterdir()):
            if folder.name.startswith(".") or not (folder / MANIFEST_NAME).is_file():
                continue
            try:
                out.append(StoredModel(folder.name, folder, Manifest.load(folder)))
            except AssistantError:
                continue
        return out

    def has(self, name: str) -> bool:
        return (self.folder(name) / MANIFEST_NAME).is_file()

    def get(self, name: str) -> StoredModel:
        folder = self.folder(name)
        if not (folder / MANIFEST_NAME).is_file():
            raise ModelNotFound(f"No model named {name!r} in the store; `assistant models list` shows what there is.")
        return StoredModel(name, folder, Manifest.load(folder))

    def add(
        self,
        name: str,
        gguf: Path,
        *,
        link: bool = False,
        move: bool = False,
        overwrite: bool = False,
        update: dict[str, Any] | None = None,
        sha256: str | None = None,
    ) -> StoredModel:
        """Put ``gguf`` in the store under ``name`` (copied, moved, or linked), with a fresh manifest.

        The folder appears complete or not at all: it is assembled under a temp name, then renamed.
        """
        validate_name(name)
        info = read_gguf(gguf)
        final = self.folder(name)
        if final.exists() and not overwrite:
            raise AssistantError(f"A model named {name!r} already exists; pick another --name or remove it first.")
        ensure_dir(self.root)
        staging = self.root / f".{name}.staging"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        try:
            target = staging / gguf.name
            if link:
                target.symlink_to(gguf.resolve())
            elif move:
                shutil.move(str(gguf), target)
            else:
                shutil.copyfile(gguf, target)
            manifest = manifest_from_gguf(name, target, info, sha256=sha256)  # sha256: already known (pull)
            if update:
                merged = manifest.to_dict()
                _deep_update(merged, update)
                manifest = Manifest.from_dict(merged)
            manifest.save(staging)
            if final.exists():
                shutil.rmtree(final)
            staging.rename(final)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return StoredModel(name, final, manifest)

    def update_manifest(self, name: str, changes: dict[str, Any]) -> Manifest:
        model = self.get(name)
        data = model.manifest.to_dict()
        _deep_update(data, changes)
        manifest = Manifest.from_dict(data)
        manifest.save(model.folder)
        return manifest

    def remove(self, name: str) -> None:
        folder = self.get(name).folder
        trash = self.root / f".{name}.removing"
        folder.rename(trash)
        shutil.rmtree(trash, ignore_errors=True)
        if read_config().get("default_model") == name:
            write_config({**read_config(), "default_model": None})


def _deep_update(base: dict[str, Any], changes: dict[str, Any]) -> None:
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _deep_update(base[key], value)
        else:
            base[key] = value


def read_config() -> dict[str, Any]:
    path = config_dir() / CONFIG_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, NotADirectoryError):
        return {}
    except OSError as exc:
        raise AssistantError(f"Cannot read {path} ({exc.strerror}); fix its permissions or delete it.") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise AssistantError(f"{path} is not valid JSON ({exc}); fix or delete it.") from exc
    return data if isinstance(data, dict) else {}


def write_config(data: dict[str, Any]) -> None:
    folder = ensure_dir(config_dir())
    write_json(folder / CONFIG_FILE, data)
