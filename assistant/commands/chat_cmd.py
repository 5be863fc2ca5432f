from __future__ import annotations

from typing import Any

import click

from assistant.commands.options import model_options, sampling_options, tool_options


@click.command()
@click.argument("conversation", type=int, required=False)
@click.option("-c", "--continue", "continue_", is_flag=True, help="Open the last conversation.")
@click.option("--plain", is_flag=True, help="A line-based REPL instead of the app (prompt-toolkit; works over ssh and in pipes).")
@model_options
@sampling_options
@tool_options
def chat(conversation: int | None, continue_: bool, plain: bool, **kw: Any) -> None:
    """Chat with a model in the terminal: the app, with the conversation list, branches and search.

    CONVERSATION opens that conversation (its ID, as the app's list and `assistant history` show).
    """
    from assistant.commands.options import chat_options, tools_of

    opts = chat_options(kw)
    tools = tools_of(kw, all_when_none=True)  # tools are off until --tool, /tools or the app's picker turns them on
    tools_on = bool(kw.get("tool_names"))
    if plain:
        from assistant.repl.loop import run_repl

        run_repl(opts, conversation_id=conversation, continue_=continue_, tools=tools, tools_on=tools_on)
        return
    from assistant.tui.launch import run_app

    run_app(opts, conversation_id=conversation, continue_=continue_, tools=tools, tools_on=tools_on)
