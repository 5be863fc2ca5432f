"""One module per subcommand (``<name>_cmd.py``), registered in assistant/cli.py. Each imports only
click (and light modules) at import time, turns click's arguments into a typed options object once
(options.py: the chat flags shared by ask, chat, serve and eval), and calls the package that does the
work; errors a person can cause are AssistantError sentences, printed by cli.py with a non-zero exit.
"""
