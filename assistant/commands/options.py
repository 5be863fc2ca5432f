"""Flags shared by ``ask``, ``chat``, ``serve`` and ``eval``, and the one place that turns click's
keyword arguments into the typed :class:`~assistant.session.config.ChatOptions` passed below the
command layer."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from assistant.session.config import ChatOptions

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
        click.option("--lora", default=None, metavar="ADAPTER[:SCALE]",
                     help="Apply a GGUF LoRA adapter over the model, at SCALE [1.0]."),
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


def chat_options(kw: dict[str, Any]) -> ChatOptions:
    """The typed options of a command that took ``model_options`` (and maybe ``sampling_options``)."""
    return ChatOptions(**{name: kw[name] for name in ChatOptions.field_names() if name in kw})
