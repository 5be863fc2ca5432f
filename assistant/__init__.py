"""The offline chat assistant: the ``assistant`` command and everything a person talks to.

    cli.py       the click group; each subcommand lives in commands/ and is imported when it runs
    commands/    one module per subcommand: click arguments -> typed options -> the package below
    session/     a conversation as every chat surface drives it (options, start, resume, ChatSession)
    engine/      the ChatEngine and ServingEngine contracts and their llama.cpp implementation
    history/     saved conversations (SQLite): store, schema, export
    tui/         the Textual app (``assistant chat``); repl/: the plain REPL; ask/: one-shot ``ask``
    serve/       the OpenAI- and Ollama-compatible server; eval/: LIMA's evaluation instruments

assistant imports models, convert and finetune; nothing imports assistant (docs/development.md).
"""

__version__ = "0.1.0"
