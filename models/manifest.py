"""``manifest.json``: what the store knows about one model (DESIGN.md, the Manifest contract)."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from models.atomic import write_json
from models.errors import AssistantError

MANIFEST_NAME = "manifest.json"
TEMPLATE_ORIGINS = ("gguf", "fallback", "override")


@dataclass
class SamplingDefaults:
    system: str | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    min_p: float | None = None
    repeat_penalty: float | None = None
    max_tokens: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}


@dataclass
class Manifest:
    name: str
    file: str
    sha256: str = ""
    size_bytes: int = 0
    arch: str = "unknown"
    n_params: int = 0
    quant: str = "unknown"
    context_length: int = 0
    chat_template: str = "gguf"  # origin: gguf / fallback / override
    eot_tokens: list[str] = field(default_factory=list)
    defaults: SamplingDefaults = field(default_factory=SamplingDefaults)
    license: str | None = None
    provenance: dict[str, Any] = field(default_factory=dict)
    verify: dict[str, Any] | None = None
    # a LoRA adapter model: ``adapter`` = {type, alpha, rank, scale, targets, n_params}, and ``base`` =
    # {name, sha256} of the store model it runs over (the GGUF whose sha256 it was made and verified on)
    adapter: dict[str, Any] | None = None
    base: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # unknown fields, preserved on rewrite

    @property
    def is_adapter(self) -> bool:
        return self.adapter is not None

    def to_dict(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in ("extra", "defaults")}
        data["defaults"] = self.defaults.as_dict()
        for key in ("adapter", "base"):  # only an adapter model has them
            if data[key] is None:
                del data[key]
        data.update(self.extra)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Manifest:
        known = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        kwargs = {k: v for k, v in data.items() if k in known and k != "defaults"}
        defaults_raw = data.get("defaults") or {}
        sd_fields = {f.name for f in dataclasses.fields(SamplingDefaults)}
        kwargs["defaults"] = SamplingDefaults(**{k: v for k, v in defaults_raw.items() if k in sd_fields})
        extra = {k: v for k, v in data.items() if k not in known}
        if "name" not in kwargs or "file" not in kwargs:
            raise AssistantError("A manifest.json lacks its name or file field; remove the model and import it again.")
        return cls(**kwargs, extra=extra)

    def save(self, folder: Path) -> Path:
        target = folder / MANIFEST_NAME
        write_json(target, self.to_dict())
        return target

    @classmethod
    def load(cls, folder: Path) -> Manifest:
        path = folder / MANIFEST_NAME
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise AssistantError(f"{path} is missing; remove the folder {folder} or import the model again.") from exc
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise AssistantError(f"{path} is not valid JSON ({exc}); fix it or import the model again.") from exc
        if not isinstance(data, dict):
            raise AssistantError(f"{path} is not a JSON object; fix it or import the model again.")
        return cls.from_dict(data)
