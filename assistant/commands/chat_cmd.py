from __future__ import annotations

from typing import Any

import click

from assistant.options import model_options, sampling_options


@click.command()
@model_options
@sampling_options
def chat(**kw: Any) -> None:
    """Chat with a model in the terminal."""
    from assistant.simple_chat import run_simple_chat

    run_simple_chat(kw)
