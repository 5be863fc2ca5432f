"""The offline chat assistant: CLI, chat engine, history, TUI and plain REPL."""

__version__ = "0.1.0"
