"""A hostile MCP server: exits at start with a complaint on stderr."""

import sys

if __name__ == "__main__":
    print("fatal: no configuration found", file=sys.stderr)
    sys.exit(3)
