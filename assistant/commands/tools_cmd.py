from __future__ import annotations

from pathlib import Path
from typing import Any

import click

_MCP_HELP = "The MCP servers' config (default: mcp.json in the config dir, when it exists)."
_DIR_HELP = "A folder read_file and list_folder may read (repeatable); without one they are not offered."


def _mcp_option(fn: Any) -> Any:
    return click.option("--mcp-config", "mcp_config", type=click.Path(dir_okay=False, path_type=Path),
                        default=None, help=_MCP_HELP)(fn)


def _dir_option(fn: Any) -> Any:
    return click.option("--allow-dir", "allow_dirs", multiple=True, metavar="DIR",
                        type=click.Path(exists=True, file_okay=False, path_type=Path), help=_DIR_HELP)(fn)


@click.group()
def tools() -> None:
    """The tools a model may call: built-ins and MCP servers (docs/tools.md)."""


@tools.command("list")
@_mcp_option
@_dir_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON array: name, source, description, read_only, parameters.")
def list_tools(mcp_config: Path | None, allow_dirs: tuple[Path, ...], as_json: bool) -> None:
    """Every tool with its source (builtin or the server's name) and its JSON schema. Starts the MCP
    servers to ask them; a server that cannot start is reported and the exit code is 1."""
    import json

    from assistant.tools.registry import ToolSet

    with ToolSet.load(allow_dirs=allow_dirs, mcp_config=mcp_config) as toolset:
        found = toolset.list()
        problems = list(toolset.problems)
    if as_json:
        click.echo(json.dumps([{"name": t.name, "source": t.source, "description": t.description,
                                "read_only": t.read_only, "parameters": t.parameters} for t in found],
                              indent=2, ensure_ascii=False))
    else:
        for i, t in enumerate(found):
            if i:
                click.echo()
            click.echo(f"{click.style(t.name, bold=True)}  ({t.source}{', read-only' if t.read_only else ''})")
            if t.description:
                click.echo(f"  {' '.join(t.description.split())}")
            click.echo(f"  schema: {json.dumps(t.parameters, ensure_ascii=False)}")
    for problem in problems:
        click.echo(f"Error: {problem}", err=True)
    if problems:
        raise SystemExit(1)


@tools.command("call")
@click.argument("name")
@click.option("--args", "args_json", default="{}", show_default=True, metavar="JSON",
              help="The arguments as one JSON object.")
@_mcp_option
@_dir_option
def call(name: str, args_json: str, mcp_config: Path | None, allow_dirs: tuple[Path, ...]) -> None:
    """Run one call as the app would, without the model (for trying a server). Typing it is the
    approval. Prints the result; an error is one sentence on stderr and exit code 1."""
    from assistant.tools.calls import ToolCall, ToolError, new_call_id
    from assistant.tools.messages import arguments_object
    from assistant.tools.registry import ToolSet

    try:
        arguments = arguments_object(args_json, name)
    except ToolError:
        raise ToolError(f"--args must be one JSON object, such as '{{\"path\": \"notes.txt\"}}' (got {args_json[:60]!r}).") from None
    with ToolSet.load(allow_dirs=allow_dirs, mcp_config=mcp_config) as toolset:
        if toolset.get(name) is None:
            known = ", ".join(t.name for t in toolset.list()) or "none"
            hint = f" ({toolset.problems[0]})" if toolset.problems else ""
            raise ToolError(f"There is no tool named {name!r}; the tools are: {known}{hint}.")
        result = toolset.call(ToolCall(new_call_id(), name, arguments), approvals=None)
    if result.is_error:
        raise ToolError(result.content)
    click.echo(result.content)
