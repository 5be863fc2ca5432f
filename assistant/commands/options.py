"""Flags shared by ``ask``, ``chat``, ``serve`` and ``eval``, and the one place that turns click's
keyword arguments into the typed :class:`~assistant.session.config.ChatOptions` passed below the
command layer."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from assistant.session.config import ChatOptions

if TYPE_CHECKING:
    from assistant.session.tool_turns import ToolOptions

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


def tool_options(f: F) -> F:
    """Tools for a chat command (docs/tools.md): which are offered, the folders the file tools may read,
    the MCP servers' config; ``ask`` also takes ``--yes``."""
    options = [
        click.option("--tool", "tool_names", multiple=True, metavar="NAME",
                     help="Offer this tool to the model (repeatable); `assistant tools list` shows them."),
        click.option("--allow-dir", "allow_dirs", multiple=True, metavar="DIR",
                     type=click.Path(exists=True, file_okay=False, path_type=Path),
                     help="A folder read_file and list_folder may read (repeatable)."),
        click.option("--mcp-config", "mcp_config", type=click.Path(dir_okay=False, path_type=Path), default=None,
                     help="The MCP servers' config [mcp.json in the config dir]."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def tools_of(kw: dict[str, Any], *, all_when_none: bool = False) -> ToolOptions | None:
    """The command's ToolOptions, or None when no tool was asked for (``--tool``) and
    ``all_when_none`` is false (``ask`` runs tools only with ``--tool``)."""
    from assistant.session.tool_turns import ToolOptions

    names = tuple(kw.get("tool_names") or ())
    if not names and not all_when_none:
        return None
    return ToolOptions.with_config(names=names or None, allow_dirs=tuple(kw.get("allow_dirs") or ()),
                                   mcp_config=kw.get("mcp_config"), yes=bool(kw.get("yes")))


def chat_options(kw: dict[str, Any]) -> ChatOptions:
    """The typed options of a command that took ``model_options`` (and maybe ``sampling_options``)."""
    return ChatOptions(**{name: kw[name] for name in ChatOptions.field_names() if name in kw})
