"""``models show``: what the manifest and the GGUF header say about one model, like ``ollama show``."""

from __future__ import annotations

from typing import Any

from assistant.model_table import human_params, human_size
from models.eot import end_of_generation_tokens
from models.gguf_file import read_gguf
from models.resolve import default_model_name, resolve

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
        "sha256": manifest.sha256 if manifest else None,
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
    }


def _section(title: str, rows: list[tuple[str, Any]]) -> list[str]:
    rows = [(k, v) for k, v in rows if v not in (None, "", [], {})]
    if not rows:
        return []
    width = max(len(k) for k, _ in rows)
    return ["", f"  {title}"] + [f"    {k.ljust(width)}  {v}" for k, v in rows]


def render(d: dict[str, Any]) -> str:
    m = d["model"]
    lines = [f"{d['name']}" + ("  (default)" if d["default"] else "")]
    lines += _section("Model", [
        ("architecture", m["architecture"]), ("name", m["name"]), ("parameters", human_params(m["parameters"])),
        ("quantization", m["quantization"]), ("context length", m["context_length"]),
        ("embedding length", m["embedding_length"]), ("layers", m["layers"]), ("vocabulary", m["vocab_size"]),
    ])
    lines += _section("File", [
        ("source", d["source"]), ("path", d["path"]), ("linked to", d["linked_to"]),
        ("size", human_size(d["size_bytes"])), ("sha256", d["sha256"]),
    ])
    lines += _section("Tokens", [(k, v) for k, v in d["special_tokens"].items()]
                      + [("stops on", " ".join(d["end_of_turn"]))])
    defaults = dict(d["defaults"])
    system = defaults.pop("system", None)
    lines += _section("Parameters", [(k, v) for k, v in defaults.items()]
                      + [(f"{k} (gguf)", v) for k, v in d["gguf_sampling"].items()])
    if system:
        lines += ["", "  System", *[f"    {line}" for line in system.splitlines()]]
    prov = d["provenance"]
    lines += _section("Provenance", [(k, v if not isinstance(v, dict) else ", ".join(f"{a}={b}" for a, b in v.items()))
                                     for k, v in prov.items()])
    lines += _section("License", [("license", d["license"])])
    verify = d.get("verify")
    if verify:
        from convert.verify import lines as verify_lines

        verdict = "passed" if verify.get("passed", True) else "FAILED"
        lines += ["", f"  Verify ({verdict})", *[f"    {line}" for line in verify_lines(verify)]]
    lines += ["", f"  Template ({d['template_origin']})"]
    if d["template"]:
        lines += [f"    {line}" for line in d["template"].splitlines()]
    else:
        lines += ["    (none in the GGUF: the fallback User:/Assistant: format is used)"]
    return "\n".join(lines)
