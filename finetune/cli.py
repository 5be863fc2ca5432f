"""Command-line options shared by ``assistant finetune`` and ``python -m finetune`` (the form
``torchrun --nproc_per_node N -m finetune ...`` runs). Imports only click at import time."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

EPILOG = """\b
Examples:
  assistant finetune --base gemma3-270m --data lima/train.jsonl --dry-run
  assistant finetune --base gemma3-270m --data lima/train.jsonl --out runs/gemma-lima
  assistant finetune --base ./my-checkpoint --data chats.jsonl epochs=3 lr=2e-5
  assistant finetune --base ./llama-3.2-3b --data lima/train.jsonl --method qlora lora_r=32
  assistant finetune --resume runs/gemma-lima
  torchrun --nproc_per_node 4 -m finetune --base ./model --data GAIR/lima --out runs/x
"""


def finetune_options(f: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option("--base", help="Base model: a store name (gemma3-270m), a .gguf file, an HF checkpoint folder, or a Hub id (online)."),
        click.option("--data", help="Training data: a .json/.jsonl file (LIMA, OpenAI messages, ShareGPT or alpaca rows) or a Hub dataset id."),
        click.option("--recipe", default="lima", show_default=True, help="The recipe whose values are the defaults."),
        click.option("--method", type=click.Choice(["full", "lora", "qlora"]), default=None,
                     help="What trains: every weight, LoRA adapters on a frozen base, or LoRA on a 4-bit base "
                          "(the config key method). [default: full]"),
        click.option("--dialogues/--no-dialogues", default=None,
                     help="Train on the multi-turn dialogues too (LIMA's 1,030-example model) or not (its 1,000). [default: on]"),
        click.option("--out", type=click.Path(path_type=Path), help="Run folder (must not exist). [default: ./BASE-RECIPE]"),
        click.option("--config", "config_file", type=click.Path(path_type=Path), help="A YAML or TOML file of config keys."),
        click.option("--dev", type=click.Path(path_type=Path), help="Dev prompts (JSON/JSONL) generated at each checkpoint. [default: 20 built-in]"),
        click.option("--resume", type=click.Path(path_type=Path), help="Continue the unfinished run in this folder exactly."),
        click.option("--max-steps", type=int, help="Stop after this many optimizer steps in all (the schedule still spans the whole run)."),
        click.option("--dry-run", is_flag=True, help="Print the mix, steps, estimated time and peak memory, then exit."),
        click.option("--help-config", is_flag=True, help="List every config key with its default, then exit."),
        click.argument("overrides", nargs=-1, metavar="[KEY=VALUE]..."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def run_args(kwargs: dict[str, Any], base_location: str | None = None, cache_dir: Path | None = None) -> Any:
    from finetune.prepared import RunArgs

    return RunArgs(
        base=kwargs.get("base"), base_location=base_location, data=kwargs.get("data"), out=kwargs.get("out"),
        recipe=kwargs.get("recipe") or "lima", config_file=kwargs.get("config_file"),
        overrides=([f"method={kwargs['method']}"] if kwargs.get("method") else []) + list(kwargs.get("overrides") or []),
        dialogues=kwargs.get("dialogues"), dev=kwargs.get("dev"),
        resume=kwargs.get("resume"), max_steps=kwargs.get("max_steps"), dry_run=bool(kwargs.get("dry_run")),
        cache_dir=cache_dir,
    )


def to_argv(args: Any) -> list[str]:
    """The ``python -m finetune`` arguments for a RunArgs (a store name travels as its GGUF path)."""
    argv: list[str] = []
    base = args.base_location or args.base
    for flag, value in (("--base", base), ("--data", args.data), ("--out", args.out), ("--recipe", args.recipe),
                        ("--config", args.config_file), ("--dev", args.dev), ("--resume", args.resume),
                        ("--max-steps", args.max_steps)):
        if value is not None:
            argv += [flag, str(value)]
    if args.dialogues is not None:
        argv.append("--dialogues" if args.dialogues else "--no-dialogues")
    if args.dry_run:
        argv.append("--dry-run")
    return argv + list(args.overrides)


def print_config_keys() -> None:
    from finetune.config import describe_keys

    click.echo(describe_keys())


@click.command("finetune", epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@finetune_options
@click.option("--cache-dir", type=click.Path(path_type=Path), help="Where a dequantized GGUF base is kept.")
def main(cache_dir: Path | None, **kwargs: Any) -> None:
    """Fine-tune a base model with the LIMA recipe (torchrun-friendly form of `assistant finetune`)."""
    from finetune.errors import FinetuneError
    from finetune.run import run

    if kwargs.pop("help_config"):
        print_config_keys()
        return
    try:
        run(run_args(kwargs, cache_dir=cache_dir), say=click.echo)
    except FinetuneError as exc:
        for line in exc.details:
            click.echo(line, err=True)
        click.echo(f"Error: {exc}", err=True)
        sys.exit(exc.exit_code)
