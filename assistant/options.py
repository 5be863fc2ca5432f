"""Flags shared by ``ask``, ``chat`` and friends, and the one rule for merging them with defaults:
the CLI flag wins, then the model's manifest defaults, then ours."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

F = Callable[..., Any]


def model_options(f: F) -> F:
    options = [
        click.option("-m", "--model", default=None, help="Model name (`assistant models list`) or path to a .gguf file."),
        click.option("--ctx-size", type=click.IntRange(min=1), default=None, help="Context size in tokens [default: min(trained, 8192)]."),
        click.option("--threads", type=click.IntRange(min=1), default=None, help="CPU threads [default: physical cores]."),
        click.option("--gpu-layers", type=int, default=None, help="Layers to offload (-1 all) [default: all when the build has Metal/CUDA]."),
        click.option("--chat-template", "chat_template_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
                     help="A Jinja chat template file to use instead of the model's."),
        click.option("--force", is_flag=True, help="Load even when the memory estimate says the model will not fit."),
        click.option("--verbose", is_flag=True, help="Show llama.cpp's own log on the terminal (the app, which would be drawn over, names its log file on exit)."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def sampling_options(f: F) -> F:
    options = [
        click.option("-s", "--system", default=None, help="System prompt."),
        click.option("--temperature", type=click.FloatRange(min=0), default=None, help="Sampling temperature [0.8]; 0 is greedy."),
        click.option("--top-p", type=click.FloatRange(0, 1), default=None, help="Nucleus sampling [0.95]."),
        click.option("--top-k", type=click.IntRange(min=0), default=None, help="Top-k sampling [40]; 0 disables."),
        click.option("--min-p", type=click.FloatRange(0, 1), default=None, help="Min-p sampling [0.05]."),
        click.option("--repeat-penalty", type=click.FloatRange(min=0), default=None, help="Repetition penalty [1.0]."),
        click.option("-n", "--max-tokens", type=click.IntRange(min=1), default=None, help="Most tokens to generate [until end of turn]."),
        click.option("--seed", type=int, default=None, help="Random seed, for repeatable replies."),
        click.option("--ignore-eos", is_flag=True, help="Do not stop at end of turn (for fixed-length benchmarks)."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


@dataclass
class SessionConfig:
    model: Any  # ResolvedModel
    load: Any  # LoadOptions
    params: Any  # GenerationParams
    system: str | None


def read_template_file(path: Path | None) -> str | None:
    from models.errors import AssistantError

    if path is None:
        return None
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise AssistantError(f"Cannot read the chat template {path} ({exc}); pass a readable Jinja file.") from exc
    if not text.strip():
        raise AssistantError(f"The chat template {path} is empty; pass a Jinja chat template.")
    return text


def session_config(kw: dict[str, Any]) -> SessionConfig:
    """Build load options and sampling params from the flags, the model's manifest defaults, and ours."""
    from assistant.engine.base import GenerationParams, LoadOptions
    from models.resolve import resolve

    resolved = resolve(kw.get("model"))
    defaults = resolved.manifest.defaults.as_dict() if resolved.manifest else {}
    system = kw.get("system") if kw.get("system") is not None else defaults.pop("system", None)
    defaults.pop("system", None)
    params = GenerationParams().with_overrides(**defaults)
    params = params.with_overrides(**{k: kw.get(k) for k in GenerationParams.SAMPLING_KEYS if k in kw})
    params.ignore_eos = bool(kw.get("ignore_eos"))
    load = LoadOptions(
        n_ctx=kw.get("ctx_size"),
        n_threads=kw.get("threads"),
        n_gpu_layers=kw.get("gpu_layers"),
        chat_template=read_template_file(kw.get("chat_template_file")),
        force=bool(kw.get("force")),
        verbose=bool(kw.get("verbose")),
    )
    return SessionConfig(resolved, load, params, system)
