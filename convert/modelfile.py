"""An Ollama Modelfile beside the GGUF, so ``ollama create NAME -f Modelfile`` takes the same
template, stop tokens, system prompt and sampling defaults. An adapter model is its base's GGUF
(``FROM``) plus the GGUF LoRA adapter (``ADAPTER``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from models.atomic import atomic_open

# manifest defaults name -> Ollama PARAMETER name
_PARAMS = {"temperature": "temperature", "top_p": "top_p", "top_k": "top_k", "min_p": "min_p",
           "repeat_penalty": "repeat_penalty", "max_tokens": "num_predict"}


def _quote(text: str) -> str:
    return '"""' + text.replace('"""', '\\"\\"\\"') + '"""'


def render(source: str, *, stops: list[str], system: str | None, defaults: dict[str, Any], context: int | None,
           adapter: str | None = None) -> str:
    """Ollama reads the Jinja chat template from the GGUF itself, so no TEMPLATE line is written.

    ``source`` and ``adapter`` are written as given (``./model.gguf`` beside the Modelfile, or a full path)."""
    lines = [f"FROM {source}"]
    if adapter:
        lines.append(f"ADAPTER {adapter}")
    lines.append("")
    if system:
        lines.append(f"SYSTEM {_quote(system)}")
    for key, value in defaults.items():
        if key in _PARAMS and value is not None:
            lines.append(f"PARAMETER {_PARAMS[key]} {value}")
    if context:
        lines.append(f"PARAMETER num_ctx {min(int(context), 8192)}")
    for stop in stops:
        value = _quote(stop) if any(c in stop for c in ' "') else stop
        lines.append(f"PARAMETER stop {value}")
    return "\n".join(lines).rstrip() + "\n"


def write(folder: Path, source: str, **kwargs: Any) -> Path:
    target = folder / "Modelfile"
    with atomic_open(target) as fh:
        fh.write(render(source, **kwargs))
    return target
