"""What SRC names: a Hugging Face checkpoint folder, a Hub repo id, or a GGUF to re-quantize."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from convert import checks
from convert.errors import ConvertError
from models.names import looks_like_hub_id

HUB_PATTERNS = ["*.json", "*.safetensors", "tokenizer.model", "*.jinja", "*.txt"]
PROVENANCE_FILE = "provenance.json"  # written by `assistant finetune` beside its checkpoint
RESOLVED_CONFIG = "finetune_config.yaml"


@dataclass
class Checkpoint:
    folder: Path
    config: dict[str, Any]
    architecture: str
    shards: list[Path]
    hub_id: str | None = None
    provenance: dict[str, Any] = field(default_factory=dict)
    generation_config: dict[str, Any] = field(default_factory=dict)

    @property
    def text_config(self) -> dict[str, Any]:
        """The language-model part of the config (multimodal configs nest it)."""
        inner = self.config.get("text_config")
        return {**self.config, **inner} if isinstance(inner, dict) else self.config

    @property
    def display_name(self) -> str:
        return self.hub_id or self.folder.name


def is_gguf(src: str) -> bool:
    p = Path(src).expanduser()
    if p.is_file():
        with open(p, "rb") as fh:
            return fh.read(4) == b"GGUF"
    return src.lower().endswith(".gguf")


def _read_json(path: Path, what: str) -> dict[str, Any]:
    data = checks.read_json(path, what)  # size-capped before it is read
    if not isinstance(data, dict):
        raise ConvertError(f"{path} is not a JSON object; fix the {what} or save the checkpoint again.")
    return data


def download(repo_id: str) -> Path:
    """Fetch the files convert needs from the Hub (online only)."""
    try:
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import GatedRepoError, LocalEntryNotFoundError, RepositoryNotFoundError
    except ImportError as exc:  # pragma: no cover - huggingface-hub is a core dependency
        raise ConvertError("huggingface-hub is not installed; run `pip install huggingface-hub`.") from exc
    try:
        return Path(snapshot_download(repo_id, allow_patterns=HUB_PATTERNS))
    except GatedRepoError as exc:
        raise ConvertError(
            f"{repo_id} is gated on the Hugging Face Hub; accept its terms and log in with `hf auth login`."
        ) from exc
    except RepositoryNotFoundError as exc:
        raise ConvertError(f"No Hugging Face repository {repo_id!r} (or it is private); check the id.") from exc
    except LocalEntryNotFoundError as exc:
        raise ConvertError(
            f"Cannot download {repo_id}: this machine is offline (or HF_HUB_OFFLINE is set); "
            "download the checkpoint elsewhere and pass its folder."
        ) from exc
    except OSError as exc:
        raise ConvertError(f"Cannot download {repo_id} ({exc}); check the network or pass a local folder.") from exc


def open_checkpoint(src: str) -> Checkpoint:
    """Resolve ``src`` (folder or Hub id) and check it holds what a conversion needs."""
    path = Path(src).expanduser()
    hub_id = None
    if not path.exists():
        if looks_like_hub_id(src):
            hub_id = src
            path = download(src)
        else:
            raise ConvertError(f"{src} does not exist; pass a checkpoint folder, a Hub id (org/name) or a .gguf file.")
    if path.is_file():
        if path.name == "config.json":
            path = path.parent
        else:
            raise ConvertError(f"{path} is a file; pass the checkpoint folder (with config.json) or a .gguf file.")
    config_path = path / "config.json"
    if not config_path.is_file():
        raise ConvertError(
            f"{path} has no config.json, so it is not a Hugging Face checkpoint; "
            "pass the folder that `save_pretrained` wrote."
        )
    config = _read_json(config_path, "config")
    archs = config.get("architectures") or []
    if not archs or not isinstance(archs[0], str):
        raise ConvertError(f"{config_path} lists no architectures; add e.g. \"architectures\": [\"LlamaForCausalLM\"].")
    if not (path / "tokenizer.json").is_file() and not (path / "tokenizer.model").is_file():
        raise ConvertError(
            f"{path} has no tokenizer (tokenizer.json or tokenizer.model); save the tokenizer beside the model "
            "with `tokenizer.save_pretrained(folder)`."
        )
    shards = _shards(path)
    text_config = config.get("text_config")
    hp = {**config, **text_config} if isinstance(text_config, dict) else config
    # dimensions, tokenizer file sizes and safetensors headers: refused here, before a weight is read
    checks.check_checkpoint(path, config_path, hp, shards)
    gen = _read_json(path / "generation_config.json", "generation config") if (path / "generation_config.json").is_file() else {}
    prov = _read_json(path / PROVENANCE_FILE, "provenance") if (path / PROVENANCE_FILE).is_file() else {}
    if prov and (path / RESOLVED_CONFIG).is_file():
        prov.setdefault("resolved_config", _resolved_config(path / RESOLVED_CONFIG))
    return Checkpoint(path, config, archs[0], shards, hub_id, prov, gen)


def _resolved_config(path: Path) -> Any:
    checks.check_file_size(path)
    text = path.read_text(encoding="utf-8", errors="replace")
    try:
        import yaml

        return yaml.safe_load(text)
    except Exception:  # no PyYAML, or not YAML after all: keep the text
        return text


def _shards(folder: Path) -> list[Path]:
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        weight_map = _read_json(index, "shard index").get("weight_map") or {}
        if not isinstance(weight_map, dict):
            raise ConvertError(f"{index} has no weight_map object; download the checkpoint again.")
        shards = sorted({checks.check_shard_name(folder, n) for n in weight_map.values()})
        missing = [p for p in shards if not p.is_file()]
        if missing:
            raise ConvertError(f"{folder} lacks the shard {missing[0].name} named in its index; download the checkpoint again.")
        return shards
    shards = sorted(folder.glob("*.safetensors"))
    if not shards:
        if any(folder.glob("*.bin")) or any(folder.glob("*.pt")):
            raise ConvertError(
                f"{folder} holds PyTorch .bin weights, not safetensors; re-save it with "
                "`model.save_pretrained(folder, safe_serialization=True)`."
            )
        raise ConvertError(f"{folder} has no .safetensors weights; save the model with `save_pretrained`.")
    return shards
