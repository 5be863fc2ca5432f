"""One module per subcommand. Each imports only click (and light modules) at import time."""
