"""``assistant finetune``: the LIMA recipe on a base model from the store, a file, a folder or the Hub.

Resolves store names (``gemma3-270m``) to their GGUF with :func:`finetune.base.locate_base`, then hands over to
:mod:`finetune` (imported inside the function: torch stays out of ``assistant --help``).
``--nproc N`` relaunches the same run under torchrun with N processes.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from finetune.cli import EPILOG, finetune_options


@click.command("finetune", epilog=EPILOG)
@finetune_options
@click.option("--nproc", type=int, default=1, show_default=True,
              help="Processes (GPUs) to train with; more than 1 relaunches under torchrun (DDP, or FSDP2 for large models).")
def finetune(nproc: int, **kwargs: Any) -> None:
    """Fine-tune a base model with the LIMA recipe into an HF checkpoint for `assistant convert`.

    Loss falls only on assistant replies and their end-of-turn token; the chat template used in
    training is saved with the tokenizer so the converted model stops where it learned to.
    Any config key can follow as KEY=VALUE (see --help-config).
    """
    from finetune.base import locate_base
    from finetune.cli import print_config_keys, run_args, to_argv
    from models.errors import AssistantError
    from models.paths import ensure_dir, shared_cache_dir

    if kwargs.pop("help_config"):
        print_config_keys()
        return
    cache = ensure_dir(shared_cache_dir() / "finetune")
    args = run_args(kwargs, base_location=locate_base(kwargs.get("base")), cache_dir=cache)
    if nproc > 1:
        import subprocess

        cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(nproc), "-m", "finetune",
               *to_argv(args), "--cache-dir", str(cache)]
        code = subprocess.call(cmd)
        if code:
            raise AssistantError(f"The {nproc}-process training run failed (exit code {code}); its messages are above.", exit_code=code)
        return
    from finetune.run import run

    run(args, say=click.echo)  # a FinetuneError is an AssistantError: the CLI prints its details and sentence
