"""The ``assistant`` command. Subcommands load lazily so ``assistant --help`` stays fast, and this
is the one place that maps errors to a one-line message and an exit code."""

from __future__ import annotations

import importlib
import os
import sys
import traceback
from typing import Any

import click

from assistant import __version__

# name -> "module:attribute". Each module imports only click at import time.
COMMANDS: dict[str, tuple[str, str]] = {
    "ask": ("assistant.commands.ask_cmd:ask", "Ask one question; the answer streams to stdout."),
    "chat": ("assistant.commands.chat_cmd:chat", "Chat in the terminal (the app, or --plain)."),
    "models": ("assistant.commands.models_cmd:models", "List, show, import, pull and remove models."),
    "doctor": ("assistant.commands.doctor_cmd:doctor", "Check Python, llama.cpp, the hardware and the data dir."),
    "convert": ("assistant.commands.convert_cmd:convert", "Convert an HF checkpoint (or re-quantize a GGUF) to a verified GGUF in the store."),
    "data": ("assistant.commands.data_cmd:data", "Curate training data: inspect a pool, select a LIMA-sized set (dedupe, fit, rank)."),
    "finetune": ("assistant.commands.finetune_cmd:finetune", "Fine-tune a base model with the LIMA recipe (torch)."),
    "history": ("assistant.commands.history_cmd:history", "List, show, search, export and remove saved conversations."),
    "eval": ("assistant.commands.eval_cmd:eval_", "Evaluate models: generations, stats, blind comparison, rated dialogues, LIMA in miniature."),
    "serve": ("assistant.commands.serve_cmd:serve", "Serve the models over HTTP: OpenAI API (/v1) and Ollama API (/api)."),
    "tools": ("assistant.commands.tools_cmd:tools", "List the tools a model may call (built-ins, MCP servers) and try one."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module_name, attr = COMMANDS[cmd_name][0].split(":")
        command: click.Command = getattr(importlib.import_module(module_name), attr)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][1]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="assistant")
def cli() -> None:
    """A local, offline chat assistant that makes its own models.

    \b
    assistant ask "How do I reverse a list in Python?"
    git diff | assistant ask "Review this change"
    assistant chat                      # the chat app on the default model
    assistant models list               # what --model accepts
    """


def main(argv: list[str] | None = None) -> Any:
    from models.errors import AssistantError

    debug = os.environ.get("ASSISTANT_DEBUG") == "1"
    try:
        return cli.main(args=argv, prog_name="assistant", standalone_mode=False)
    except AssistantError as exc:
        if debug:
            traceback.print_exc()
        for line in exc.details:  # e.g. every bad row of a data file (FinetuneError)
            click.echo(line, err=True)
        click.echo(f"Error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except BrokenPipeError:
        sys.exit(0)


if __name__ == "__main__":
    main()
