"""A conversation as every chat surface (app, REPL, ``ask``) drives it.

    config.py   ChatOptions (the typed flags of a chat command) and the rule merging them with a model's defaults
    start.py    starting the real engine for a command (llama.cpp's log to its file, warnings to the person)
    resume.py   the one rule for continuing a saved conversation: which one, which model, which settings
    chat.py     ChatSession: one thread in the history tree, an engine, sampling params and a system prompt
    tool_turns.py  a turn with tools: each reply parsed, calls approved and run, results saved, the chain guard
"""
