from __future__ import annotations

import json
import sys
from typing import Any

import click

from assistant.commands.options import model_options, sampling_options, tool_options


@click.command()
@click.argument("prompt", nargs=-1)
@model_options
@sampling_options
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object at the end (text, finish_reason, stats, model).")
@click.option("--no-stream", is_flag=True, help="Print the answer once it is complete.")
@click.option("-c", "--continue", "continue_", is_flag=True, help="Continue the last saved conversation (from ask, chat or the app).")
@tool_options
@click.option("--yes", is_flag=True, help="Allow every tool call of this run without asking (for scripts; there is no one to ask).")
def ask(prompt: tuple[str, ...], as_json: bool, no_stream: bool, continue_: bool, **kw: Any) -> None:
    """Ask one question; the answer streams to stdout. Text piped on stdin is added to the prompt."""
    from assistant.ask.answer import build_prompt
    from assistant.ask.saved import run_ask_saved
    from assistant.commands.options import chat_options, tools_of

    text = build_prompt(" ".join(prompt), None if sys.stdin.isatty() else sys.stdin)
    result = run_ask_saved(text, chat_options(kw), continue_=continue_, stream=not (no_stream or as_json), out=sys.stdout,
                           tools=tools_of(kw))
    if as_json:
        click.echo(json.dumps(result, ensure_ascii=False))
    elif no_stream:
        click.echo(result["text"])
