"""``assistant chat --plain``: the line-based chat on prompt-toolkit.

    loop.py      Repl: read a line, stream the reply, Ctrl+C stops the reply; run_repl starts it
    commands.py  the slash commands' help, parsing and completion
    slash.py     the slash commands' handlers (``/name ARG`` -> ``cmd_name(arg)``)
"""
